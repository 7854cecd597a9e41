//! The zstd encoder: the input cut into [`FRAME_BYTES`] pieces, each compressed into its own
//! frame (with its decoded size in the header) on worker threads, the frames written in
//! order and the seek table after them (see [`crate::seekable`]).
//!
//! A frame depends only on its piece and the level, so the output is the same for any number
//! of workers. With one worker, pieces are compressed on the writing thread. Memory is
//! bounded: at most twice as many pieces as workers are in flight.

use crate::seekable::{FRAME_BYTES, FrameSize, SeekTable};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A finished frame: its sequence number, bytes (or the error) and decoded size.
type Done = (u64, io::Result<Vec<u8>>, u32);

/// Worker threads compressing pieces, and the frames they finished out of order.
struct Pool {
    jobs: Option<SyncSender<(u64, Vec<u8>)>>,
    done: Receiver<Done>,
    handles: Vec<JoinHandle<()>>,
    /// Frames finished ahead of the next one to write.
    ready: BTreeMap<u64, (io::Result<Vec<u8>>, u32)>,
    in_flight: usize,
    limit: usize,
}

impl Pool {
    fn new(workers: usize, level: i32) -> io::Result<Pool> {
        let (jobs, job_rx) = sync_channel::<(u64, Vec<u8>)>(workers);
        let (done_tx, done) = sync_channel::<Done>(2 * workers);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut handles = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (job_rx, done_tx) = (Arc::clone(&job_rx), done_tx.clone());
            let mut compressor = zstd::bulk::Compressor::new(level)?;
            handles.push(std::thread::spawn(move || {
                loop {
                    let job = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((seq, piece))) = job else { break };
                    let frame = compressor.compress(&piece);
                    if done_tx.send((seq, frame, piece.len() as u32)).is_err() {
                        break;
                    }
                }
            }));
        }
        Ok(Pool {
            jobs: Some(jobs),
            done,
            handles,
            ready: BTreeMap::new(),
            in_flight: 0,
            limit: 2 * workers,
        })
    }

    fn receive(&mut self) -> io::Result<()> {
        let (seq, frame, decoded) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("a zstd worker thread stopped"))?;
        self.in_flight -= 1;
        self.ready.insert(seq, (frame, decoded));
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.jobs = None;
        // Workers blocked on a full `done` queue need it drained to see the end.
        while self.done.recv().is_ok() {}
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Writes seekable zstd: independent frames of at most [`FRAME_BYTES`] decoded bytes, then
/// the seek table.
pub struct FramedZstd<W: Write> {
    out: Option<W>,
    piece: Vec<u8>,
    table: SeekTable,
    /// Pieces handed out so far; frames are written in this order.
    sent: u64,
    pool: Option<Pool>,
    /// Compresses on the writing thread when there are no workers.
    inline: Option<zstd::bulk::Compressor<'static>>,
}

impl<W: Write> FramedZstd<W> {
    /// An encoder at zstd `level` with `workers` compressing threads (1: the calling one).
    pub fn new(out: W, level: i32, workers: u32) -> io::Result<FramedZstd<W>> {
        let (pool, inline) = if workers > 1 {
            (Some(Pool::new(workers as usize, level)?), None)
        } else {
            (None, Some(zstd::bulk::Compressor::new(level)?))
        };
        Ok(FramedZstd {
            out: Some(out),
            piece: Vec::with_capacity(FRAME_BYTES),
            table: SeekTable::default(),
            sent: 0,
            pool,
            inline,
        })
    }

    fn out(&mut self) -> io::Result<&mut W> {
        self.out
            .as_mut()
            .ok_or_else(|| io::Error::other("zstd encoder used after finish"))
    }

    fn emit(&mut self, frame: io::Result<Vec<u8>>, decoded: u32) -> io::Result<()> {
        let frame = frame?;
        self.out()?.write_all(&frame)?;
        let compressed = u32::try_from(frame.len()).map_err(io::Error::other)?;
        self.table.frames.push(FrameSize {
            compressed,
            decoded,
        });
        Ok(())
    }

    /// Write every finished frame that is next in order.
    fn emit_ready(&mut self) -> io::Result<()> {
        loop {
            let next = self.table.frames.len() as u64;
            let Some(pool) = self.pool.as_mut() else {
                return Ok(());
            };
            let Some((frame, decoded)) = pool.ready.remove(&next) else {
                return Ok(());
            };
            self.emit(frame, decoded)?;
        }
    }

    /// Hand the current piece to a worker (or compress it here).
    fn submit(&mut self) -> io::Result<()> {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(FRAME_BYTES));
        let decoded = piece.len() as u32;
        if let Some(c) = self.inline.as_mut() {
            let frame = c.compress(&piece);
            return self.emit(frame, decoded);
        }
        let seq = self.sent;
        self.sent += 1;
        let pool = self
            .pool
            .as_mut()
            .expect("a pool without an inline compressor");
        while pool.in_flight >= pool.limit {
            pool.receive()?;
        }
        let jobs = pool.jobs.as_ref().expect("jobs open until finish");
        jobs.send((seq, piece))
            .map_err(|_| io::Error::other("a zstd worker thread stopped"))?;
        pool.in_flight += 1;
        while let Ok((seq, frame, decoded)) = pool.done.try_recv() {
            pool.in_flight -= 1;
            pool.ready.insert(seq, (frame, decoded));
        }
        self.emit_ready()
    }

    /// Compress what is left, write the seek table and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.piece.is_empty() || (self.sent == 0 && self.table.frames.is_empty()) {
            // An empty input still gets one (empty) frame: a stream of frames, never none.
            self.submit()?;
        }
        while let Some(pool) = self.pool.as_mut() {
            if pool.in_flight == 0 {
                break;
            }
            pool.receive()?;
            self.emit_ready()?;
        }
        let table = self.table.to_bytes();
        let mut out = self.out.take().expect("finish runs once");
        out.write_all(&table)?;
        Ok(out)
    }
}

impl<W: Write> Write for FramedZstd<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(FRAME_BYTES - self.piece.len());
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == FRAME_BYTES {
            self.submit()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Frames are cut by size only (so the output does not depend on how it was
        // written); what is complete is already with the inner writer.
        self.out()?.flush()
    }
}
