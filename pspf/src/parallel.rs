//! Decoding a seekable zstd slot (see [`crate::seekable`]) on several threads at once.
//!
//! One thread reads the stored bytes in order — through the slot's [`StoredReader`], so they
//! are hashed and checked exactly as a streaming read would — and hands each frame to a pool
//! of decoding threads. Each frame is decoded in one call into a buffer of the size the table
//! gives (never more: a frame that decodes to anything else fails), and the caller reads the
//! buffers back in order through a `Read` ([`Frames`]), whatever order they finished in. The
//! end of the stream is only reported after the reading thread has hashed the last stored
//! byte and the digests matched; a failure before that is reported as the integrity error
//! when the stored bytes do not match.
//!
//! The caller may also take the decoded bytes as [`Piece`]s of the frame buffers instead of
//! copying them out ([`Stream::piece`]): writer threads then write files straight from the
//! frames.
//!
//! Memory is bounded: a frame is at most [`crate::seekable::MAX_FRAME_BYTES`], at most
//! [`MAX_DECODERS`] frames are handed out and not yet read, and decoded frames live in a
//! [`Pool`] of [`FRAME_BUFFERS`] buffers, reused (a fresh one costs page faults):
//! a decoder waits for a buffer while pieces of the others are still being written, so a
//! first run stays under 16 MiB whatever the number of CPUs. The threads share one lock and
//! one condition variable: a slot has a few dozen frames, so that is no bottleneck, and it
//! keeps the launcher small.

use crate::error::{Error, Result};
use crate::ops::Codec;
use crate::pieces::{Piece, Pool, Shared, Stream};
use crate::seekable::{MAX_FRAME_BYTES, SeekTable};
use crate::stream::{SlotReader, StoredReader};
use crate::writers::CHUNK;
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// The decoded bytes of one frame, or why there are none.
type Decoded = io::Result<Arc<Shared>>;

/// Decoding threads at most, and frames decoded ahead of the reader: two decoders outpace
/// the file system's writes already, and each frame ahead costs 2 MiB.
const MAX_DECODERS: usize = 2;

/// Decoded frames alive at most: those decoded ahead ([`MAX_DECODERS`]), the one being read,
/// and one whose pieces writers still hold (a fifth bought no speed and cost 2 MiB of memory).
const FRAME_BUFFERS: usize = MAX_DECODERS + 2;

/// Frames smaller than this are not shared, their bytes are copied: a writers' batch holds at
/// most [`CHUNK`] bytes, so it then pins at most two frames, and the reader never waits for a
/// buffer that its own unqueued batch holds (flavor writes 2 MiB frames; other writers may
/// not).
const SHARED_FRAME_MIN: usize = CHUNK;

/// Stack of a decoding thread: the decoder's state lives on the heap.
const STACK: usize = 256 * 1024;

/// What the threads share.
#[derive(Default)]
struct State {
    /// Frames read and waiting for a decoder: number, stored bytes, decoded size.
    jobs: VecDeque<(usize, Vec<u8>, u32)>,
    /// Frames decoded and waiting for the reader, by number.
    decoded: BTreeMap<usize, Decoded>,
    /// Frames handed to the decoders so far.
    dispatched: usize,
    /// The next frame the reader wants.
    next: usize,
    /// The stored bytes have all been read: the verdict on their digest.
    end: Option<io::Result<()>>,
    /// The reader wants no more frames (it failed, and waits for the verdict).
    abandon: bool,
    /// The reader is gone: everyone stops.
    gone: bool,
    spare_stored: Vec<Vec<u8>>,
}

struct Threads {
    state: Mutex<State>,
    changed: Condvar,
    /// Frames handed out and not yet read, at most.
    in_flight: usize,
    /// Where decoded frames live.
    pool: Arc<Pool>,
}

impl Threads {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Decode the slot whose stored bytes `stored` yields, laid out as `table` says, on `threads`
/// threads (at least one, at most [`MAX_DECODERS`]), and give its decoded bytes in order to `consume`. When `consume`
/// succeeds, the stream has been read to its end and verified.
pub(crate) fn decode_frames<T>(
    stored: StoredReader<'_>,
    table: &SeekTable,
    codec: Codec,
    threads: usize,
    consume: impl FnOnce(&mut Frames<'_>) -> Result<T>,
) -> Result<T> {
    let threads = threads.clamp(1, MAX_DECODERS);
    let shared = Threads {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        in_flight: threads,
        pool: Pool::new(FRAME_BUFFERS),
    };
    std::thread::scope(|scope| {
        let frames = Frames {
            shared: &shared,
            total: Some(table.frames.len()),
            current: None,
            pos: 0,
            done: false,
            codec,
        };
        let builder = || {
            std::thread::Builder::new()
                .name("flavor-zstd".into())
                .stack_size(STACK)
        };
        for _ in 0..threads {
            builder()
                .spawn_scoped(scope, || decode_jobs(&shared))
                .map_err(Error::Io)?;
        }
        builder()
            .spawn_scoped(scope, || dispatch(stored, table, &shared))
            .map_err(Error::Io)?;
        read_all(frames, consume)
    })
}

/// Decode the slot `reader` decodes (any codec, one stream) on a thread of its own, in
/// chunks of up to 2 MiB, and give its decoded bytes in order to `consume`, which takes them
/// as it would a seekable slot's frames. When `consume` succeeds, the stream has been read to
/// its end and verified. The reader's decoded-size bound and digest check apply as they do
/// on the calling thread.
pub(crate) fn decode_stream<T>(
    reader: SlotReader<'_>,
    codec: Codec,
    consume: impl FnOnce(&mut Frames<'_>) -> Result<T>,
) -> Result<T> {
    let shared = Threads {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        in_flight: MAX_DECODERS,
        pool: Pool::new(FRAME_BUFFERS),
    };
    std::thread::scope(|scope| {
        let frames = Frames {
            shared: &shared,
            total: None,
            current: None,
            pos: 0,
            done: false,
            codec,
        };
        std::thread::Builder::new()
            .name("flavor-decode".into())
            .stack_size(STACK)
            .spawn_scoped(scope, || stream_chunks(reader, &shared))
            .map_err(Error::Io)?;
        read_all(frames, consume)
    })
}

/// Hand `frames` to `consume`, read whatever it left (so every stored byte is verified), and
/// report tampering as what it is when something failed on the way.
fn read_all<T>(
    mut frames: Frames<'_>,
    consume: impl FnOnce(&mut Frames<'_>) -> Result<T>,
) -> Result<T> {
    let result = consume(&mut frames).and_then(|value| {
        io::copy(&mut frames, &mut io::sink()).map_err(Error::from_io)?;
        Ok(value)
    });
    match result {
        Err(e) if !e.kind().is_integrity() => match frames.verify_rest() {
            Err(tampered) if tampered.kind().is_integrity() => Err(tampered),
            _ => Err(e),
        },
        other => other,
    }
    // `frames` drops here: every thread sees the reader gone and stops.
}

/// Decode `reader` chunk by chunk into buffers of the pool, at most `in_flight` ahead of the
/// reader, then record the verdict (the reader checks the digest at its end). Once the
/// reader has given up, hash the rest of the stored bytes and record that verdict.
fn stream_chunks(mut reader: SlotReader<'_>, shared: &Threads) {
    loop {
        {
            let mut s = shared.lock();
            while !s.abandon && !s.gone && s.dispatched >= s.next + shared.in_flight {
                s = shared.wait(s);
            }
            if s.gone {
                return;
            }
            if s.abandon {
                break;
            }
        }
        // Waits while the writers still hold every buffer; none come once the reader is gone.
        let Some(buf) = shared.pool.take() else {
            return;
        };
        let mut chunk = Shared::new(buf, Arc::clone(&shared.pool));
        let room = chunk
            .room(MAX_FRAME_BYTES as usize)
            .expect("a whole buffer");
        let read = read_full(&mut reader, room);
        let mut s = shared.lock();
        let i = s.dispatched;
        match read {
            Ok(0) => {
                // The end, after the reader checked the digest.
                s.end = Some(Ok(()));
                shared.changed.notify_all();
                return;
            }
            Ok(n) => {
                chunk.filled(n);
                s.decoded.insert(i, Ok(Arc::new(chunk)));
                s.dispatched += 1;
                shared.changed.notify_all();
            }
            Err(e) => {
                s.decoded.insert(i, Err(e));
                s.dispatched += 1;
                shared.changed.notify_all();
                break;
            }
        }
    }
    let verdict = reader.verify_rest().map_err(Error::into_io);
    shared.lock().end = Some(verdict);
    shared.changed.notify_all();
}

/// Read until `buf` is full or the stream ends; the number of bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Read the stored bytes frame by frame, handing each to the decoders, then hash the rest
/// and record the verdict. Once the reader has given up, hash (and hand out) nothing more
/// than it takes to reach the verdict.
fn dispatch(mut stored: StoredReader<'_>, table: &SeekTable, shared: &Threads) {
    for (i, frame) in table.frames.iter().enumerate() {
        let mut bytes = {
            let mut s = shared.lock();
            while !s.abandon && !s.gone && s.dispatched >= s.next + shared.in_flight {
                s = shared.wait(s);
            }
            if s.gone {
                return;
            }
            if s.abandon {
                break;
            }
            s.spare_stored.pop().unwrap_or_default()
        };
        bytes.resize(frame.compressed as usize, 0);
        let read = stored.read_exact(&mut bytes);
        let mut s = shared.lock();
        if let Err(e) = read {
            s.end = Some(Err(e));
            shared.changed.notify_all();
            return;
        }
        s.jobs.push_back((i, bytes, frame.decoded));
        s.dispatched += 1;
        shared.changed.notify_all();
    }
    // The seek table, and the rest of the stream when the reader gave up: hashed and checked.
    let verdict = stored.drain();
    shared.lock().end = Some(verdict);
    shared.changed.notify_all();
}

/// Decode frames until there are no more to come.
fn decode_jobs(shared: &Threads) {
    let Ok(mut dctx) = zstd::bulk::Decompressor::new() else {
        return;
    };
    loop {
        let (i, stored, decoded) = {
            let mut s = shared.lock();
            loop {
                if s.gone {
                    return;
                }
                if let Some(job) = s.jobs.pop_front() {
                    break job;
                }
                if s.end.is_some() || s.abandon {
                    return;
                }
                s = shared.wait(s);
            }
        };
        // Waits while every buffer is out; none come once the reader is gone.
        let Some(out) = shared.pool.take() else {
            return;
        };
        let out = Shared::new(out, Arc::clone(&shared.pool));
        let result = decode_one(&mut dctx, &stored, decoded, out);
        let mut s = shared.lock();
        s.decoded.insert(i, result);
        s.spare_stored.push(stored);
        shared.changed.notify_all();
    }
}

/// Decode one frame into exactly `decoded` bytes, in `out` (which goes back to its pool if
/// that fails).
fn decode_one(
    dctx: &mut zstd::bulk::Decompressor<'_>,
    stored: &[u8],
    decoded: u32,
    mut shared: Shared,
) -> Decoded {
    let wrong = |what: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame {what} where the seek table says {decoded} bytes"),
        )
    };
    // The room bounds what the decoder writes; a frame that decodes to more fails.
    let Some(out) = shared.room(decoded as usize) else {
        return Err(wrong("is larger than a frame may be".into()));
    };
    match dctx.decompress_to_buffer(stored, out) {
        Ok(n) if n == decoded as usize => {
            shared.filled(n);
            Ok(Arc::new(shared))
        }
        Ok(n) => Err(wrong(format!("decodes to {n} bytes"))),
        Err(e) => Err(wrong(format!("does not decode ({e})"))),
    }
}

/// The decoded bytes of a seekable slot, in order (see [`decode_frames`]).
pub(crate) struct Frames<'a> {
    shared: &'a Threads,
    /// Frames to come, when a seek table says (a one-stream slot ends when its reader does).
    total: Option<usize>,
    /// The frame being read, and how far.
    current: Option<Arc<Shared>>,
    pos: usize,
    done: bool,
    codec: Codec,
}

/// What the reader waits for next.
enum Next {
    Frame(Decoded),
    End(io::Result<()>),
    /// The frames stopped coming (the stored bytes could not be read).
    Stopped,
}

impl Frames<'_> {
    /// Wait for the next frame, or the verdict once every frame has been read.
    fn next(&mut self) -> Next {
        let shared = self.shared;
        // Back to the pool unless pieces of it are still being written.
        self.current = None;
        let mut s = shared.lock();
        loop {
            let wanted = s.next;
            if let Some(frame) = s.decoded.remove(&wanted) {
                s.next += 1;
                shared.changed.notify_all();
                return Next::Frame(frame);
            }
            let all = self.total.is_some_and(|total| s.next >= total);
            if all || (s.next >= s.dispatched && s.end.is_some()) {
                return match s.end.take() {
                    Some(Ok(())) if !all && self.total.is_some() => Next::Stopped,
                    Some(verdict) => Next::End(verdict),
                    None => {
                        s = shared.wait(s);
                        continue;
                    }
                };
            }
            s = shared.wait(s);
        }
    }

    /// Give up decoding, wait for the stored bytes to be hashed, and return the integrity
    /// error if they do not verify.
    fn verify_rest(&mut self) -> Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let shared = self.shared;
        let mut s = shared.lock();
        s.abandon = true;
        shared.changed.notify_all();
        loop {
            if let Some(verdict) = s.end.take() {
                return verdict.map_err(Error::from_io);
            }
            s = shared.wait(s);
        }
    }

    /// A frame failed to decode: report the stored bytes' integrity error if there is one,
    /// else the decoding error.
    fn failed(&mut self, e: io::Error) -> io::Error {
        match self.verify_rest() {
            Err(tampered) => tampered.into_io(),
            // Already one of this crate's errors (from a one-stream reader): as it is.
            Ok(()) if e.get_ref().is_some_and(|inner| inner.is::<Error>()) => e,
            Ok(()) => Error::malformed(format!("{} stream is corrupt: {e}", self.codec)).into_io(),
        }
    }
}

impl Frames<'_> {
    /// The frame being read and how far, moving to the next one when it is used up; `None`
    /// at the end of the stream (or when `want` is 0).
    fn filled(&mut self, want: usize) -> io::Result<Option<(&Arc<Shared>, usize)>> {
        loop {
            let left = self.current.as_ref().map_or(0, |c| c.len() - self.pos);
            if left > 0 {
                let current = self.current.as_ref().expect("a frame with bytes left");
                return Ok(Some((current, self.pos)));
            }
            if self.done || want == 0 {
                return Ok(None);
            }
            match self.next() {
                Next::Frame(Ok(bytes)) => (self.current, self.pos) = (Some(bytes), 0),
                Next::Frame(Err(e)) => return Err(self.failed(e)),
                Next::End(verdict) => {
                    self.done = true;
                    verdict?;
                }
                Next::Stopped => {
                    self.done = true;
                    return Err(io::Error::other("the slot's frames stopped coming"));
                }
            }
        }
    }
}

impl Read for Frames<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some((current, pos)) = self.filled(buf.len())? else {
            return Ok(0);
        };
        let n = buf.len().min(current.len() - pos);
        buf[..n].copy_from_slice(&current[pos..pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Stream for Frames<'_> {
    fn piece(&mut self, max: usize) -> io::Result<Option<Piece>> {
        let Some((current, pos)) = self.filled(max)? else {
            return Ok(Some(Piece::empty()));
        };
        if current.len() < SHARED_FRAME_MIN {
            return Ok(None);
        }
        let n = max.min(current.len() - pos);
        let piece = Piece::new(Arc::clone(current), pos..pos + n);
        self.pos += n;
        Ok(Some(piece))
    }
}

impl Drop for Frames<'_> {
    fn drop(&mut self) {
        self.shared.lock().gone = true;
        self.shared.changed.notify_all();
        self.shared.pool.close();
    }
}
