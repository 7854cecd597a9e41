//! [`Sha256Index`]: the SHA-256 of blobs of the local store, which names them remotely.
//!
//! The local store names blobs by blake3; a Bazel cache names them by SHA-256. The index maps
//! one to the other, one small file per blob (`<dir>/<2 hex>/<64 hex blake3>` holding the 64
//! hex digits of the SHA-256), written atomically, so several builds may share it. Entries
//! are recorded for blobs downloaded (their SHA-256 is their remote name) and for blobs
//! hashed for an upload; a missing or unreadable entry just means hashing the blob again.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flavor_engine::{Digest, Store};
use sha2::{Digest as _, Sha256};

/// A blake3 → SHA-256 map of blobs, kept in a directory.
#[derive(Clone, Debug)]
pub struct Sha256Index {
    dir: PathBuf,
}

impl Sha256Index {
    /// The index kept in `dir` (created when the first entry is recorded).
    pub fn new(dir: &Path) -> Sha256Index {
        Sha256Index {
            dir: dir.to_path_buf(),
        }
    }

    /// The directory the index lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entry(&self, blob: &Digest) -> PathBuf {
        let hex = blob.to_hex();
        let shard = hex.get(..2).unwrap_or_default().to_string();
        self.dir.join(shard).join(hex)
    }

    /// The recorded SHA-256 of `blob` (64 lowercase hex digits), if any.
    pub fn get(&self, blob: &Digest) -> Option<String> {
        let text = fs::read_to_string(self.entry(blob)).ok()?;
        is_sha256_hex(&text).then_some(text)
    }

    /// Records that `blob`'s SHA-256 is `sha256` (64 lowercase hex digits).
    pub fn record(&self, blob: &Digest, sha256: &str) -> io::Result<()> {
        let path = self.entry(blob);
        let shard = path.parent().unwrap_or(&self.dir);
        fs::create_dir_all(shard)?;
        let mut tmp = tempfile::NamedTempFile::new_in(shard)?;
        tmp.write_all(sha256.as_bytes())?;
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }

    /// The SHA-256 of the blob `blob`, whose bytes are the file `path`: recorded, or hashed
    /// now (and recorded).
    pub fn sha256_of(&self, blob: &Digest, path: &Path) -> io::Result<String> {
        if let Some(sha256) = self.get(blob) {
            return Ok(sha256);
        }
        let sha256 = sha256_of_file(path)?;
        // Best effort: without the entry, the next upload hashes the blob again.
        let _ = self.record(blob, &sha256);
        Ok(sha256)
    }

    /// Removes the entries of blobs `store` no longer has (after its garbage collection);
    /// returns how many went.
    pub fn prune(&self, store: &dyn Store) -> io::Result<u64> {
        let mut removed = 0;
        let shards = match fs::read_dir(&self.dir) {
            Ok(shards) => shards,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for shard in shards {
            let shard = shard?.path();
            if !fs::symlink_metadata(&shard)?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(&shard)? {
                let path = entry?.path();
                let blob = path
                    .file_name()
                    .and_then(|n| Digest::from_hex(&n.to_string_lossy()).ok());
                if blob.is_none_or(|b| store.blob_path(&b).is_none()) {
                    match fs::remove_file(&path) {
                        Ok(()) => removed += 1,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(removed)
    }
}

/// True for 64 lowercase hex digits.
pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The SHA-256 of a file's contents, streamed.
fn sha256_of_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut sha = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => sha.update(buffer.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(sha.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flavor_engine::LocalStore;

    fn put(store: &LocalStore, bytes: &[u8]) -> Digest {
        let tmp = tempfile::NamedTempFile::new_in(store.tmp_dir()).unwrap();
        fs::write(tmp.path(), bytes).unwrap();
        let (_, path) = tmp.keep().unwrap();
        store.put_blob(&path).unwrap().0
    }

    #[test]
    fn hashes_once_records_and_prunes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&dir.path().join("store")).unwrap();
        let index = Sha256Index::new(&dir.path().join("index"));
        let blob = put(&store, b"hello");
        let expected = hex::encode(Sha256::digest(b"hello"));
        assert_eq!(index.get(&blob), None);
        let path = store.blob_path(&blob).unwrap();
        assert_eq!(index.sha256_of(&blob, &path).unwrap(), expected);
        assert_eq!(index.get(&blob), Some(expected.clone()));
        // Recorded: the file is not read again.
        assert_eq!(
            index.sha256_of(&blob, Path::new("/nonexistent")).unwrap(),
            expected
        );

        // A damaged entry reads as absent.
        fs::write(index.entry(&blob), "not a digest").unwrap();
        assert_eq!(index.get(&blob), None);
        index.record(&blob, &expected).unwrap();

        // Entries of blobs the store lost go; others stay.
        let other = put(&store, b"other");
        let path = store.blob_path(&other).unwrap();
        index.sha256_of(&other, &path).unwrap();
        fs::remove_file(path).unwrap();
        assert_eq!(index.prune(&store).unwrap(), 1);
        assert_eq!(index.get(&other), None);
        assert_eq!(index.get(&blob), Some(expected));
    }
}
