//! Decoded bytes handed on without copying: pieces of shared frame buffers.
//!
//! A seekable slot ([`crate::seekable`]) is decoded a frame at a time, on several threads,
//! into buffers of up to 2 MiB. Rather than copy a file's bytes out of such a buffer into
//! another one for a writer thread, the extracting thread hands the writer a [`Piece`]: a
//! range of the buffer, which stays alive while any piece of it does. Buffers come from a
//! pool that holds a fixed number of them, so the decoded bytes alive at once stay bounded however far
//! the writers fall behind: a decoder waits for a buffer to come back.
//!
//! A [`Stream`] is a `Read` that may also hand out pieces; one that cannot (a gzip or
//! single-frame stream, read through [`Plain`]) says so, and its bytes are copied.

use std::io::{self, Read};
use std::ops::{Deref, Range};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// A fixed number of reusable buffers. A fresh buffer costs a page fault per 4 KiB written
/// into it; a reused one does not.
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
    capacity: usize,
}

struct PoolState {
    free: Vec<Vec<u8>>,
    /// Buffers given out and not yet back.
    out: usize,
    /// No more buffers are wanted: waiting takers give up.
    closed: bool,
}

impl Pool {
    /// A pool of at most `capacity` buffers (at least one).
    pub(crate) fn new(capacity: usize) -> Arc<Pool> {
        Arc::new(Pool {
            state: Mutex::new(PoolState {
                free: Vec::new(),
                out: 0,
                closed: false,
            }),
            returned: Condvar::new(),
            capacity: capacity.max(1),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A buffer, waiting while all of them are out; `None` once the pool is closed.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            if let Some(buf) = state.free.pop() {
                state.out += 1;
                return Some(buf);
            }
            if state.out < self.capacity {
                state.out += 1;
                return Some(Vec::new());
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Give a buffer back.
    pub(crate) fn give(&self, buf: Vec<u8>) {
        let mut state = self.lock();
        state.out = state.out.saturating_sub(1);
        if !state.closed {
            state.free.push(buf);
        }
        drop(state);
        self.returned.notify_one();
    }

    /// Wake every taker and refuse further takes (the reader is gone).
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.free.clear();
        drop(state);
        self.returned.notify_all();
    }
}

/// A buffer from a [`Pool`], going back to it when the last [`Piece`] of it is dropped.
pub(crate) struct Shared {
    bytes: Vec<u8>,
    pool: Arc<Pool>,
}

impl Shared {
    /// `bytes`, taken from `pool`, to go back there.
    pub(crate) fn new(bytes: Vec<u8>, pool: Arc<Pool>) -> Shared {
        Shared { bytes, pool }
    }

    /// The buffer, to fill before it is shared.
    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

impl Deref for Shared {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.bytes));
    }
}

/// A range of a shared buffer; dereferences to its bytes.
#[derive(Clone)]
pub struct Piece {
    buf: Option<Arc<Shared>>,
    range: Range<usize>,
}

impl Piece {
    pub(crate) fn new(buf: Arc<Shared>, range: Range<usize>) -> Piece {
        assert!(range.start <= range.end && range.end <= buf.len());
        Piece {
            buf: Some(buf),
            range,
        }
    }

    /// No bytes: what a stream gives at its end.
    pub(crate) fn empty() -> Piece {
        Piece {
            buf: None,
            range: 0..0,
        }
    }
}

impl Deref for Piece {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.buf {
            Some(buf) => &buf.bytes[self.range.clone()],
            None => &[],
        }
    }
}

/// Decoded bytes in order, read like any `Read`, or taken as pieces where the stream can
/// share them.
pub trait Stream: Read {
    /// The next bytes, at most `max` (at least one when `max` is not 0 and the stream has
    /// not ended), as a piece that needs no copying. `None`: these bytes cannot be shared,
    /// read them instead (nothing was consumed).
    fn piece(&mut self, max: usize) -> io::Result<Option<Piece>>;
}

/// A `Read` as a [`Stream`] that shares nothing.
pub struct Plain<R>(pub R);

impl<R: Read> Read for Plain<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> Stream for Plain<R> {
    fn piece(&mut self, _max: usize) -> io::Result<Option<Piece>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_return_to_the_pool_when_the_last_piece_goes() {
        let pool = Pool::new(1);
        let mut buf = pool.take().unwrap();
        buf.extend_from_slice(b"hello world");
        let shared = Arc::new(Shared::new(buf, Arc::clone(&pool)));
        let a = Piece::new(Arc::clone(&shared), 0..5);
        let b = Piece::new(shared, 6..11);
        assert_eq!((&a[..], &b[..]), (&b"hello"[..], &b"world"[..]));
        drop(a);
        assert_eq!(pool.lock().out, 1, "a piece still holds the buffer");
        drop(b);
        let again = pool.take().unwrap();
        assert!(again.capacity() >= 11, "the same buffer comes back");
    }

    #[test]
    fn a_closed_pool_wakes_its_takers() {
        let pool = Pool::new(1);
        let held = pool.take().unwrap();
        let waiter = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || pool.take())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        pool.close();
        assert!(waiter.join().unwrap().is_none());
        drop(held);
    }
}
