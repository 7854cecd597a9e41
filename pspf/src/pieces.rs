//! Decoded bytes handed on without copying: pieces of shared frame buffers.
//!
//! A seekable slot ([`crate::seekable`]) is decoded a frame at a time, on several threads,
//! into buffers of up to 2 MiB. Rather than copy a file's bytes out of such a buffer into
//! another one for a writer thread, the extracting thread hands the writer a [`Piece`]: a
//! range of the buffer, which stays alive while any piece of it does. Buffers come from a
//! pool that holds a fixed number of them, so the decoded bytes alive at once stay bounded however far
//! the writers fall behind: a decoder waits for a buffer to come back. Each buffer is one
//! aligned 2 MiB block that Linux is asked to back with a single huge page: one page fault
//! instead of 512 when it is first filled, and fewer TLB misses while the decoder writes it.
//!
//! A [`Stream`] is a `Read` that may also hand out pieces; one that cannot (a gzip or
//! single-frame stream, read through [`Plain`]) says so, and its bytes are copied.

use crate::seekable::MAX_FRAME_BYTES;
use std::io::{self, Read};
use std::ops::{Deref, Range};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// Bytes of a frame buffer: the largest frame a seek table may declare.
const FRAME_BUF: usize = MAX_FRAME_BYTES as usize;
const _: () = assert!(
    FRAME_BUF == 2 * 1024 * 1024,
    "FrameBuf's alignment is its size"
);

/// Room for one decoded frame, aligned to its size (2 MiB, a huge page on x86-64 and arm64).
#[repr(C, align(2097152))]
pub(crate) struct FrameBuf(pub(crate) [u8; FRAME_BUF]);

impl FrameBuf {
    /// A zeroed buffer, backed by a huge page where the kernel agrees.
    fn new() -> Box<FrameBuf> {
        let mut buf = Box::<FrameBuf>::new_uninit();
        let ptr = buf.as_mut_ptr();
        // SAFETY: `ptr` points to a fresh allocation of one `FrameBuf`, aligned for it and not
        // yet touched; zeroing every byte initialises it (an array of `u8`).
        unsafe {
            advise_huge_page(ptr.cast(), size_of::<FrameBuf>());
            ptr.write_bytes(0, 1);
            buf.assume_init()
        }
    }
}

/// Ask for the aligned block at `ptr` to be one huge page when first touched (transparent
/// huge pages in `madvise` mode). Refused or unsupported, the pages stay small: harmless.
#[cfg(target_os = "linux")]
fn advise_huge_page(ptr: *mut libc::c_void, len: usize) {
    // SAFETY: madvise only gives the kernel a hint about memory this process owns.
    unsafe { libc::madvise(ptr, len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_page(_ptr: *mut std::ffi::c_void, _len: usize) {}

/// A fixed number of reusable frame buffers. A fresh buffer costs page faults when it is
/// first written; a reused one does not.
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
    capacity: usize,
}

struct PoolState {
    free: Vec<Box<FrameBuf>>,
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
    pub(crate) fn take(&self) -> Option<Box<FrameBuf>> {
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
                drop(state);
                return Some(FrameBuf::new());
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Give a buffer back.
    pub(crate) fn give(&self, buf: Box<FrameBuf>) {
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

/// A buffer from a [`Pool`] and how much of it is filled, going back to the pool when the
/// last [`Piece`] of it is dropped.
pub(crate) struct Shared {
    /// Always `Some` but while dropping.
    buf: Option<Box<FrameBuf>>,
    len: usize,
    pool: Arc<Pool>,
}

impl Shared {
    /// `buf`, taken from `pool`, to go back there; nothing filled yet.
    pub(crate) fn new(buf: Box<FrameBuf>, pool: Arc<Pool>) -> Shared {
        Shared {
            buf: Some(buf),
            len: 0,
            pool,
        }
    }

    /// Room for `len` bytes (at most 2 MiB) to fill, then [`Shared::filled`].
    pub(crate) fn room(&mut self, len: usize) -> Option<&mut [u8]> {
        self.buf.as_mut()?.0.get_mut(..len)
    }

    /// The first `len` bytes are the content.
    pub(crate) fn filled(&mut self, len: usize) {
        self.len = len.min(FRAME_BUF);
    }
}

impl Deref for Shared {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.buf.as_ref().map_or(&[], |b| &b.0[..self.len])
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.pool.give(buf);
        }
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
            Some(buf) => &buf[self.range.clone()],
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
        let mut shared = Shared::new(pool.take().unwrap(), Arc::clone(&pool));
        shared.room(11).unwrap().copy_from_slice(b"hello world");
        shared.filled(11);
        let shared = Arc::new(shared);
        let a = Piece::new(Arc::clone(&shared), 0..5);
        let b = Piece::new(shared, 6..11);
        assert_eq!((&a[..], &b[..]), (&b"hello"[..], &b"world"[..]));
        drop(a);
        assert_eq!(pool.lock().out, 1, "a piece still holds the buffer");
        drop(b);
        let again = pool.take().unwrap();
        assert_eq!(&again.0[..11], b"hello world", "the same buffer comes back");
        assert_eq!(
            again.0.as_ptr() as usize % FRAME_BUF,
            0,
            "aligned to a huge page"
        );
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
