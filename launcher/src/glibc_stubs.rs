//! Two glibc entry points the static launcher defines itself, so the linker never takes
//! glibc's versions — and what they drag in — from `libc.a` (about 24 KB; README
//! "Launcher size").
//!
//! - `__assert_fail`, referenced by glibc's start-up code: glibc's version formats with the
//!   wide-character printf engine and translates through the message catalogue machinery. This
//!   one writes the same line (untranslated) with `write(2)` and aborts, as glibc's does.
//! - `__dcgettext`, through which `strerror_r` (every `io::Error` message) translates: the
//!   launcher never calls `setlocale`, so it runs in the C locale, where glibc's version
//!   returns the message untranslated without reading any catalogue. This one does exactly
//!   that, without linking the catalogue loader, its iconv conversions and `dlopen`.
//!
//! If a later glibc or std needs another symbol of those objects, the link fails with a
//! duplicate-symbol error naming it: nothing changes silently.

use libc::{c_char, c_int, c_uint};
use std::ffi::CStr;

/// Writes every byte of `bytes` to standard error, ignoring failures (we are about to abort).
fn stderr(bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: `rest` is a valid, initialised buffer of `rest.len()` bytes.
        let n = unsafe { libc::write(2, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return;
        }
        rest = rest.get(n as usize..).unwrap_or_default();
    }
}

/// `s` as bytes, or `?` for a null pointer.
///
/// # Safety
/// `s` is null or points to a NUL-terminated string that outlives the result.
unsafe fn text<'a>(s: *const c_char) -> &'a [u8] {
    if s.is_null() {
        b"?"
    } else {
        // SAFETY: non-null and NUL-terminated, per the caller.
        unsafe { CStr::from_ptr(s) }.to_bytes()
    }
}

/// `line` in decimal, right-aligned in `buf`; returns the digits.
fn decimal(mut line: c_uint, buf: &mut [u8; 10]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (line % 10) as u8;
        line /= 10;
        if line == 0 {
            return &buf[at..];
        }
    }
}

/// A failed C `assert`: `flavor-launcher: FILE:LINE: FUNCTION: Assertion `EXPR' failed.` on
/// standard error, then `abort()` — no allocation, no formatting machinery.
///
/// # Safety
/// Each pointer is null or a NUL-terminated string, as the `assert` macro passes them.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __assert_fail(
    assertion: *const c_char,
    file: *const c_char,
    line: c_uint,
    function: *const c_char,
) -> ! {
    let mut digits = [0u8; 10];
    // SAFETY: the `assert` macro passes string literals (or null).
    let (assertion, file, function) = unsafe { (text(assertion), text(file), text(function)) };
    for part in [
        b"flavor-launcher: ".as_slice(),
        file,
        b":",
        decimal(line, &mut digits),
        b": ",
        function,
        b": Assertion `",
        assertion,
        b"' failed.\n",
    ] {
        stderr(part);
    }
    // SAFETY: abort has no preconditions.
    unsafe { libc::abort() }
}

/// glibc's message translation, in the C locale: the message itself.
///
/// # Safety
/// None beyond the C contract: `msgid` is returned, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __dcgettext(
    _domain: *const c_char,
    msgid: *const c_char,
    _category: c_int,
) -> *mut c_char {
    msgid.cast_mut()
}
