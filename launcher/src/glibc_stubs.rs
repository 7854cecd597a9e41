//! Three glibc symbols the static launcher defines itself, so the linker never takes glibc's
//! versions — and what they drag in — from `libc.a` (about 140 KB together; README "Launcher
//! size"). Static glibc links by object file: one referenced symbol brings its whole object and
//! everything that object references, including the `__libc_freeres` hooks it registers.
//!
//! - `__libc_resp`, the thread-local pointer to the thread's resolver (DNS) state:
//!   `pthread_create` points it at the new thread's own state. glibc's definition lives with
//!   the resolver, so every threaded static program linked the resolver, `resolv.conf` parsing,
//!   netlink interface enumeration and the wide printf engine (≈ 115 KB). The launcher never
//!   resolves a name, so nothing ever reads the pointer; here it is a plain thread-local
//!   (`global_asm!`: stable Rust cannot name a thread-local's symbol).
//! - `__assert_fail`, referenced by glibc's start-up code: glibc's version formats with the
//!   wide-character printf engine and translates through the message catalogue machinery. This
//!   one writes the same line (untranslated) with `write(2)` and aborts, as glibc's does.
//! - `__dcgettext`, through which `strerror_r` (every `io::Error` message) translates: the
//!   launcher never calls `setlocale`, so it runs in the C locale, where glibc's version
//!   returns the message untranslated without reading any catalogue. This one does exactly
//!   that, without linking the catalogue loader, its iconv conversions and `dlopen`.
//!
//! All three are weak definitions: were glibc's object linked after all (something needing a
//! name lookup, say), its strong definitions would win — the launcher would grow, and
//! `tests/it/launcher_size.rs` would say so, but it would link and behave as glibc's. Only the
//! static x86-64 build defines them (`crt-static`); other builds use glibc's.

use libc::{c_char, c_uint};
use std::ffi::CStr;

// Weak symbols need assembly (`#[linkage]` is unstable). The functions are entry stubs:
// `__dcgettext` returns its second argument; `__assert_fail` jumps to `assert_fail` below.
std::arch::global_asm!(
    // `__thread struct __res_state *__libc_resp;`: 8 zeroed bytes of thread-local storage.
    ".pushsection .tbss.__libc_resp,\"awT\",@nobits",
    ".weak __libc_resp",
    ".type __libc_resp, @object",
    ".size __libc_resp, 8",
    ".p2align 3",
    "__libc_resp:",
    ".zero 8",
    ".popsection",
    // `char *__dcgettext(const char *domain, const char *msgid, int category)`: `msgid`.
    ".pushsection .text.__dcgettext,\"ax\",@progbits",
    ".weak __dcgettext",
    ".type __dcgettext, @function",
    "__dcgettext:",
    "mov rax, rsi",
    "ret",
    ".size __dcgettext, . - __dcgettext",
    ".popsection",
    ".pushsection .text.__assert_fail,\"ax\",@progbits",
    ".weak __assert_fail",
    ".type __assert_fail, @function",
    "__assert_fail:",
    "jmp {assert_fail}",
    ".size __assert_fail, . - __assert_fail",
    ".popsection",
    assert_fail = sym assert_fail,
);

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

/// `__assert_fail`, a failed C `assert`: `flavor-launcher: FILE:LINE: FUNCTION: Assertion
/// `EXPR' failed.` on standard error, then `abort()` — no allocation, no formatting machinery.
///
/// # Safety
/// Each pointer is null or a NUL-terminated string, as the `assert` macro passes them.
unsafe extern "C" fn assert_fail(
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
