//! `runtime.min_glibc`: refuse, before extracting anything, to run a package whose native code
//! needs a newer glibc than the system has. This launcher is linked statically, so the
//! system's glibc is found on disk: the first `libc.so.6` of the standard library directories,
//! whose banner says `release version 2.NN`.

use crate::error::{Failure, Result, exit};
use std::path::Path;

/// Where distributions put the C library (multiarch first, then the lib64 and plain layouts).
const LIBC: [&str; 6] = [
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/libc.so.6",
    "/usr/lib64/libc.so.6",
    "/lib/libc.so.6",
    "/usr/lib/libc.so.6",
];

/// `2.35` → (2, 35); `2.2.5` → (2, 2).
fn parse(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The version in a glibc banner (`… release version 2.36.`), if `data` holds one.
fn banner_version(data: &[u8]) -> Option<(u32, u32)> {
    const MARK: &[u8] = b"release version ";
    let at = data.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let rest = &data[at..data.len().min(at + 16)];
    let end = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || *b == b'.'))
        .unwrap_or(rest.len());
    parse(
        std::str::from_utf8(&rest[..end])
            .ok()?
            .trim_end_matches('.'),
    )
}

/// The system's glibc version, if it has one.
pub fn system_version() -> Option<(u32, u32)> {
    LIBC.iter()
        .map(Path::new)
        .find_map(|p| banner_version(&std::fs::read(p).ok()?))
}

/// Refuse when the package needs a newer glibc than the system's (or any, on a system
/// without one). An unreadable requirement refuses too: it was signed, so it is not noise.
pub fn check(name: &str, min_glibc: Option<&str>) -> Result<()> {
    let Some(min) = min_glibc else {
        return Ok(());
    };
    let refuse = |why: String| Err(Failure::new(exit::EXEC, format!("{name} {why}")));
    let Some(needed) = parse(min) else {
        return refuse(format!("records an unreadable minimum glibc `{min}`"));
    };
    match system_version() {
        Some(have) if have >= needed => Ok(()),
        Some((major, minor)) => refuse(format!(
            "needs glibc {min} or newer, and this system has glibc {major}.{minor}"
        )),
        None => refuse(format!(
            "needs glibc {min} or newer, and this system has no glibc"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_and_versions_are_read() {
        let banner = b"\0GNU C Library (Debian GLIBC 2.36-9) release version 2.36.\n";
        assert_eq!(banner_version(banner), Some((2, 36)));
        assert_eq!(banner_version(b"nothing here"), None);
        assert_eq!(parse("2.2.5"), Some((2, 2)));
        assert!(check("app", Some("1.0")).is_ok() || system_version().is_none());
        assert!(check("app", Some("2.x")).is_err());
        assert!(check("app", None).is_ok());
    }
}
