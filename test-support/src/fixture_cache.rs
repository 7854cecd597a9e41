//! Where fixtures made at test time live, and how they are made once: `target/flavor-fixtures/`
//! (or `$FLAVOR_FIXTURES_DIR`), one subdirectory per kind, each built under an exclusive file
//! lock so that concurrent tests (and concurrent `cargo test` runs) wait for one builder, and
//! published by renaming a finished temporary directory or file into place.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The root of the test-time fixture cache: `$FLAVOR_FIXTURES_DIR`, else
/// `<cargo target dir>/flavor-fixtures`.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLAVOR_FIXTURES_DIR") {
        return PathBuf::from(dir);
    }
    crate::target_dir().join("flavor-fixtures")
}

/// `fixtures_dir()/<kind>`, created.
pub fn kind_dir(kind: &str) -> PathBuf {
    let dir = fixtures_dir().join(kind);
    fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create the fixture directory {}: {e}", dir.display()));
    dir
}

/// Run `build` while holding an exclusive lock on `<dir>/.<name>.lock`. `build` should first
/// check whether another process finished the work while this one waited.
pub fn locked<T>(dir: &Path, name: &str, build: impl FnOnce() -> T) -> T {
    let path = dir.join(format!(".{name}.lock"));
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open the lock file {}: {e}", path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("cannot lock {}: {e}", path.display()));
    let out = build();
    drop(lock);
    out
}

/// A fresh temporary directory beside `dir`'s entries (same file system, so a rename
/// publishes it).
pub fn staging(dir: &Path) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(dir)
        .unwrap_or_else(|e| panic!("cannot make a staging directory in {}: {e}", dir.display()))
}

/// The lowercase hex sha256 of a file's contents.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The lowercase hex sha256 of some bytes.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Run a command to completion; on failure (or if it cannot start) the error says what ran
/// and what it printed.
pub fn run_checked(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
