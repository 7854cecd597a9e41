//! Looking at the filesystem without disturbing it: space a tree takes on disk, reading a
//! marker without updating its access time, and when a file was last touched.

use crate::report::unix_seconds;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes a tree takes on disk (allocated blocks), not following symbolic links and counting
/// hard-linked files once.
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            continue;
        }
        total = total.saturating_add(m.blocks().saturating_mul(512));
        if m.is_dir()
            && let Ok(rd) = fs::read_dir(&p)
        {
            todo.extend(rd.flatten().map(|e| e.path()));
        }
    }
    total
}

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
