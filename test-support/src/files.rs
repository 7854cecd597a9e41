//! File helpers: listing a tree ([`files_under`]), copying and tampering with package files
//! ([`copy_package`], [`flip_byte`], [`find_bytes`]), counting lines ([`count_lines`]).

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Every file (not directory) under `dir`, recursively, without following links.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// XOR one byte of `path` at `offset` with 0x01.
pub fn flip_byte(path: &Path, offset: u64) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open a package to tamper with");
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, offset).expect("read the byte");
    b[0] ^= 0x01;
    file.write_all_at(&b, offset).expect("write the byte");
}

/// Offset of the first occurrence of `needle` in the file.
pub fn find_bytes(path: &Path, needle: &[u8]) -> u64 {
    let hay = fs::read(path).expect("read a package");
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| {
            panic!(
                "{:?} not found in {}",
                String::from_utf8_lossy(needle),
                path.display()
            )
        }) as u64
}

/// Copy a package file (e.g. before tampering with the copy).
pub fn copy_package(from: &Path, to: &Path) -> PathBuf {
    fs::copy(from, to).expect("copy a package");
    to.to_path_buf()
}

/// Number of lines in a file (0 when it does not exist).
pub fn count_lines(path: &Path) -> usize {
    fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}
