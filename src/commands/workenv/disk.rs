//! Looking at the filesystem without disturbing it: reading a marker without updating its
//! access time, and when a file of an upstream launcher's workenv was last touched (flavor's
//! builds record their last use in their lock file instead).

use crate::report::unix_seconds;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

/// Read a small file without updating its access time where the kernel allows it, so that
/// looking at a workenv does not count as using it.
pub(super) fn read_quietly(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(target_os = "linux")]
    const O_NOATIME: i32 = 0o1_000_000;
    #[cfg(not(target_os = "linux"))]
    const O_NOATIME: i32 = 0;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOATIME)
        .open(path)
        .or_else(|_| File::open(path))
        .ok()?;
    let mut bytes = Vec::new();
    file.take(16 * 1024 * 1024).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Newest of access and change time of a file (change time only for directories, whose
/// access time any listing updates).
pub(super) fn touched(path: &Path) -> Option<u64> {
    let m = fs::symlink_metadata(path).ok()?;
    let mtime = m.modified().ok().map(unix_seconds);
    let atime = if m.is_dir() {
        None
    } else {
        m.accessed().ok().map(unix_seconds)
    };
    mtime.max(atime)
}
