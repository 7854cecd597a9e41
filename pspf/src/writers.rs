//! Writing extracted files on other threads while the caller keeps decoding.
//!
//! The extracting thread decodes a slot and gathers each regular file's bytes into a *batch*
//! of up to [`CHUNK`] bytes: several small files, or one piece of a large file. Where the
//! decoded stream can share its bytes ([`crate::pieces`]), a batch holds pieces of the decoded
//! frames and nothing is copied; otherwise the bytes are read into the batch's own buffer.
//! Full batches go through a queue to writer threads, which create the files (`O_CREAT |
//! O_EXCL`, so never through a link), write them and apply mode and modification time.
//! Memory is bounded: at most [`BATCHES`] batches exist, and the extracting thread waits for
//! one to be written when the writers fall behind.
//!
//! A large file is created by the extracting thread, and its pieces are written with
//! positioned writes by whichever writer takes them; its mode and time are applied when the
//! last piece is done. With no writer threads (one CPU, or a caller that asks for none) every
//! batch is written where it is filled, by the same code.
//!
//! The writers only ever create new files at paths the caller has checked; the caller decides
//! when it must wait for them ([`Writers::barrier`]): before it removes anything, and before it
//! looks at a path a queued file may be written to. The first error a writer meets is kept and
//! returned by the next [`Writers::barrier`] or [`Writers::file`]; queued work is then dropped.

use crate::archive::MemberData;
use crate::error::{Error, Result};
use crate::pieces::Piece;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

mod batch;

pub(crate) use batch::Finish;
use batch::{Batch, Bytes, Item, Large, create};

/// Bytes in one batch: several small files, or one piece of a large file.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Batches in existence at most: bounds the decoded bytes waiting to be written.
const BATCHES: usize = 12;

/// Files in one batch at most, so a batch of tiny files still spreads over the writers.
const BATCH_FILES: usize = 24;

/// Stack of a writer thread (it only runs the small loop below and system calls).
const STACK: usize = 128 * 1024;

/// A path in an error message: `path: error`, keeping the error's kind.
pub(crate) fn at_path(path: &Path, e: io::Error) -> Error {
    match Error::from_io(e) {
        Error::Io(e) => Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
        other => other,
    }
}

/// The process's file-mode creation mask, read without changing it (`umask(2)` cannot read
/// it without setting it, which would race with other threads). `None` when unknown.
pub(crate) fn current_umask() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Umask:"))?;
    u32::from_str_radix(line.trim(), 8).ok()
}

/// What the extracting thread and the writers share.
#[derive(Default)]
struct State {
    queue: VecDeque<Batch>,
    /// Buffers for bytes copied into a batch, free to reuse.
    free: Vec<Vec<u8>>,
    /// Batches in existence (queued, being filled or being written).
    batches: usize,
    /// Batches a writer has taken and not finished.
    busy: usize,
    /// The large files those batches write (by address): a file takes one writer at a time,
    /// since writes to one file take its lock (a second writer would only spin on it).
    writing: Vec<usize>,
    error: Option<Error>,
    closing: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch is queued or the writers must stop.
    work: Condvar,
    /// Signalled when a writer finishes a batch (one more may exist, maybe everything is done).
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; a poisoned one still holds consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fail(&self, error: Error) {
        let mut state = self.lock();
        if state.error.is_none() {
            state.error = Some(error);
        }
        // Nothing queued is worth writing any more.
        let dropped = std::mem::take(&mut state.queue);
        drop(state);
        // Outside the lock: dropping the last piece of a large file finishes it, which may
        // fail and come back here.
        drop(dropped);
        self.done.notify_all();
    }

    /// A writer thread: take batches until told to stop.
    fn run(self: Arc<Shared>, umask: Option<u32>) {
        loop {
            let batch = {
                let mut state = self.lock();
                loop {
                    let free = state
                        .queue
                        .iter()
                        .position(|b| b.larges().all(|f| !state.writing.contains(&f)));
                    if let Some(batch) = free.and_then(|i| state.queue.remove(i)) {
                        state.busy += 1;
                        let larges: Vec<usize> = batch.larges().collect();
                        state.writing.extend(larges);
                        break batch;
                    }
                    if state.closing {
                        return;
                    }
                    state = self
                        .work
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            };
            let result = batch.write(umask);
            let larges: Vec<usize> = batch.larges().collect();
            let Batch { buf, items, .. } = batch;
            // Finish large files (their last piece) outside the lock.
            drop(items);
            let mut state = self.lock();
            state.busy -= 1;
            state.batches -= 1;
            if !buf.is_empty() {
                state.free.push(buf);
            }
            state.writing.retain(|f| !larges.contains(f));
            let waiting = !state.queue.is_empty();
            drop(state);
            if waiting && !larges.is_empty() {
                // A batch may have waited for this file.
                self.work.notify_all();
            }
            match result {
                Err(e) => self.fail(e),
                Ok(()) => self.done.notify_all(),
            }
        }
    }
}

/// The writers of one extraction: its threads, started when the first batch is ready.
pub(crate) struct Writers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    wanted: usize,
    batch: Option<Batch>,
    umask: Option<u32>,
}

impl Writers {
    /// Writers using `threads` threads (0: everything is written on the calling thread).
    pub(crate) fn new(threads: usize) -> Writers {
        Writers {
            shared: Arc::default(),
            threads: Vec::new(),
            wanted: threads,
            batch: None,
            umask: current_umask(),
        }
    }

    /// The first error a writer met, if any (the batch being filled is then dropped).
    fn check(&mut self) -> Result<()> {
        let error = self.shared.lock().error.take();
        match error {
            Some(e) => {
                self.batch = None;
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// A batch with room for `len` more bytes (up to a whole buffer) and one more item,
    /// queueing the current one if it has not.
    fn batch_with_room(&mut self, len: usize) -> Result<&mut Batch> {
        let need = len.clamp(1, CHUNK);
        let batch = match self.batch.take() {
            Some(b) if b.room() >= need && b.items.len() < BATCH_FILES => b,
            other => {
                self.batch = other;
                self.flush()?;
                self.new_batch()?
            }
        };
        Ok(self.batch.insert(batch))
    }

    /// A new batch, waiting while all [`BATCHES`] exist.
    fn new_batch(&mut self) -> Result<Batch> {
        let mut state = self.shared.lock();
        loop {
            if let Some(e) = state.error.take() {
                return Err(e);
            }
            if state.batches < BATCHES || self.threads.is_empty() {
                state.batches += 1;
                return Ok(Batch {
                    buf: Vec::new(),
                    own: 0,
                    used: 0,
                    items: Vec::new(),
                });
            }
            state = self
                .shared
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Queue the batch being filled (or write it here, without threads).
    fn flush(&mut self) -> Result<()> {
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        if self.wanted == 0 {
            let result = batch.write(self.umask);
            let Batch { buf, items, .. } = batch;
            drop(items);
            let mut state = self.shared.lock();
            state.batches -= 1;
            if !buf.is_empty() {
                state.free.push(buf);
            }
            drop(state);
            return result.and_then(|()| self.check());
        }
        if self.threads.len() < self.wanted {
            self.start()?;
        }
        let mut state = self.shared.lock();
        if let Some(e) = state.error.take() {
            drop(state);
            drop(batch);
            return Err(e);
        }
        state.queue.push_back(batch);
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    fn start(&mut self) -> Result<()> {
        while self.threads.len() < self.wanted {
            let shared = Arc::clone(&self.shared);
            let umask = self.umask;
            let spawned = std::thread::Builder::new()
                .name("flavor-writer".into())
                .stack_size(STACK)
                .spawn(move || shared.run(umask));
            match spawned {
                Ok(handle) => self.threads.push(handle),
                // No thread to be had: write with what there is (possibly just this one).
                Err(_) if !self.threads.is_empty() => break,
                Err(_) => {
                    self.wanted = 0;
                    break;
                }
            }
        }
        self.wanted = self.wanted.min(self.threads.len());
        Ok(())
    }

    /// Queue the regular file `path` (`len` bytes of `data`); it is created and written by a
    /// writer. A stream that ends early queues nothing more (the caller reports the short
    /// member).
    pub(crate) fn file(
        &mut self,
        path: PathBuf,
        len: u64,
        data: &mut MemberData<'_>,
        finish: Finish,
    ) -> Result<()> {
        match usize::try_from(len) {
            Ok(len) if len <= CHUNK => self.small(path, len, data, finish),
            _ => self.large(path, len, data, finish),
        }
    }

    fn small(
        &mut self,
        path: PathBuf,
        len: usize,
        data: &mut MemberData<'_>,
        finish: Finish,
    ) -> Result<()> {
        self.batch_with_room(len)?;
        let batch = self.batch.as_mut().expect("a batch with room");
        let bytes = match data.piece(len).map_err(Error::from_io)? {
            Some(piece) if piece.len() == len => Bytes::Shared(piece),
            first => {
                // Copied: the stream cannot share, or the file goes on in the next frame.
                let first = first.unwrap_or_else(Piece::empty);
                let room = own_room(&self.shared, batch, len);
                room[..first.len()].copy_from_slice(&first);
                if first.len() + read_full(data, &mut room[first.len()..])? < len {
                    return Ok(());
                }
                batch.own += len;
                Bytes::Own(len)
            }
        };
        batch.used += len;
        batch.items.push(Item::Whole {
            path,
            bytes,
            finish,
        });
        if batch.items.len() >= BATCH_FILES {
            self.flush()?;
        }
        Ok(())
    }

    fn large(
        &mut self,
        path: PathBuf,
        len: u64,
        data: &mut MemberData<'_>,
        finish: Finish,
    ) -> Result<()> {
        let (mode, chmod) = finish.create_mode(self.umask);
        let file = create(&path, mode).map_err(|e| at_path(&path, e))?;
        let large = Arc::new(Large {
            file,
            path,
            finish,
            chmod,
            shared: Arc::clone(&self.shared),
        });
        let mut offset = 0u64;
        while offset < len {
            let want = usize::try_from(len - offset)
                .unwrap_or(usize::MAX)
                .min(CHUNK);
            self.batch_with_room(want)?;
            let batch = self.batch.as_mut().expect("a batch with room");
            let take = want.min(batch.room());
            let bytes = match data.piece(take).map_err(Error::from_io)? {
                Some(piece) => Bytes::Shared(piece),
                None => {
                    let room = own_room(&self.shared, batch, take);
                    let got = read_full(data, room)?;
                    batch.own += got;
                    Bytes::Own(got)
                }
            };
            let got = bytes.len();
            if got == 0 {
                // The stream ended inside the file: the caller reports it.
                return Ok(());
            }
            batch.used += got;
            batch.items.push(Item::Piece {
                file: Arc::clone(&large),
                offset,
                bytes,
            });
            offset += got as u64;
        }
        Ok(())
    }

    /// Wait until every queued file is written; the first error any writer met, if any.
    pub(crate) fn barrier(&mut self) -> Result<()> {
        self.flush()?;
        let mut state = self.shared.lock();
        while state.error.is_none() && (!state.queue.is_empty() || state.busy > 0) {
            state = self
                .shared
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        match state.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Stop the threads, dropping whatever is still queued, and wait for them: when this
    /// returns, nothing of this extraction is being written any more.
    pub(crate) fn stop(&mut self) {
        self.batch = None;
        // Whatever comes after is written on the calling thread.
        self.wanted = 0;
        let dropped = {
            let mut state = self.shared.lock();
            state.closing = true;
            std::mem::take(&mut state.queue)
        };
        drop(dropped);
        self.shared.work.notify_all();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Writers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Room for `len` more bytes in `batch`'s own buffer, which it takes from the free ones (or
/// makes) when it has none yet.
fn own_room<'a>(shared: &Shared, batch: &'a mut Batch, len: usize) -> &'a mut [u8] {
    if batch.buf.is_empty() {
        let free = shared.lock().free.pop();
        batch.buf = free.unwrap_or_else(|| vec![0; CHUNK]);
    }
    &mut batch.buf[batch.own..batch.own + len]
}

/// Read until `buf` is full or the stream ends; the number of bytes read.
fn read_full(data: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match data.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(e)),
        }
    }
    Ok(filled)
}
