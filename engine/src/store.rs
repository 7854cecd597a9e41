//! Where results live: the [`Store`] trait (action cache + content-addressed blobs) and
//! [`LocalStore`], its implementation in a local directory.
//!
//! The action cache maps an action key to the digests of its outputs ([`ActionResult`]); the
//! CAS maps a digest to the bytes. Every write is atomic (temporary file + rename in the same
//! directory tree), and CAS names are content digests, so several processes may share one
//! store: racing writers of the same blob write the same bytes.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Digest, Tree};

/// What an output is: a file (one blob) or a directory tree (a [`Tree`] of blobs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// A regular file: its digest names its contents.
    #[default]
    File,
    /// A directory tree: its digest names the root directory blob (the Merkle root).
    Tree,
}

impl OutputKind {
    fn is_file(&self) -> bool {
        *self == OutputKind::File
    }
}

/// One output of an action as the action cache records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Output {
    /// The file's digest, or the tree's (its root directory blob).
    pub digest: Digest,
    /// The file's size, or the total size of the tree's files.
    pub size: u64,
    /// File or tree.
    #[serde(default, skip_serializing_if = "OutputKind::is_file")]
    pub kind: OutputKind,
}

impl Output {
    /// A file output.
    pub fn file(digest: Digest, size: u64) -> Output {
        Output {
            digest,
            size,
            kind: OutputKind::File,
        }
    }

    /// A tree output.
    pub fn tree(digest: Digest, size: u64) -> Output {
        Output {
            digest,
            size,
            kind: OutputKind::Tree,
        }
    }

    /// Every blob this output consists of: the file's, or the tree's directory blobs and
    /// files (`None` if the tree is not complete in `store`).
    pub fn blobs(&self, store: &dyn Store) -> Option<Vec<Digest>> {
        match self.kind {
            OutputKind::File => Some(vec![self.digest]),
            OutputKind::Tree => Tree::blobs(store, &self.digest)
                .ok()
                .map(|b| b.into_iter().map(|(d, _)| d).collect()),
        }
    }
}

/// The outputs an action produced, in output order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    /// Every output.
    pub outputs: Vec<Output>,
}

impl ActionResult {
    /// A result with these outputs.
    pub fn new(outputs: Vec<Output>) -> ActionResult {
        ActionResult { outputs }
    }

    /// Total size of the outputs (a tree counts its files).
    pub fn size(&self) -> u64 {
        self.outputs
            .iter()
            .map(|o| o.size)
            .fold(0u64, u64::saturating_add)
    }
}

/// An action cache plus a content-addressed store of blobs.
pub trait Store: Send + Sync {
    /// The result recorded under `key`, but only if every output blob is present.
    fn get_action(&self, key: &Digest) -> Option<ActionResult>;

    /// Records `result` under `key` (replacing any previous one).
    fn put_action(&self, key: &Digest, result: &ActionResult) -> io::Result<()>;

    /// A local file holding the blob `digest`, if the store has it. Never write to it.
    fn blob_path(&self, digest: &Digest) -> Option<PathBuf>;

    /// Hashes `file` and moves it into the CAS; returns its digest and size. Idempotent:
    /// putting bytes the store already has just removes `file`.
    fn put_blob(&self, file: &Path) -> io::Result<(Digest, u64)>;

    /// [`put_blob`](Self::put_blob) of a file whose digest and size the engine took as it was
    /// written ([`OutputFile`](crate::OutputFile)); a store may trust them instead of reading
    /// the file again. The default hashes it all the same.
    fn put_blob_written(
        &self,
        file: &Path,
        digest: Digest,
        size: u64,
    ) -> io::Result<(Digest, u64)> {
        let _ = (digest, size);
        self.put_blob(file)
    }

    /// A directory for temporary files, on the same filesystem as the CAS (so moving a file
    /// from there into the CAS is a rename).
    fn tmp_dir(&self) -> PathBuf;

    /// True if the store certainly records no action result (a cold cache, where no lookup
    /// can hit). The default, `false`, is always safe.
    fn has_no_results(&self) -> bool {
        false
    }
}

/// How much a [`LocalStore`] holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Action cache entries.
    pub entries: u64,
    /// Blobs in the CAS.
    pub blobs: u64,
    /// Total size of the blobs.
    pub bytes: u64,
}

/// A [`Store`] in a local directory: `cas/<2 hex>/<64 hex>` blobs (read-only files),
/// `ac/<64 hex>` action results (JSON), `tmp/` for files being written.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens the store at `root`, creating its directories if needed.
    pub fn open(root: &Path) -> io::Result<LocalStore> {
        for sub in ["cas", "ac", "tmp"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(LocalStore {
            root: root.to_path_buf(),
        })
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Counts action cache entries and blobs, and adds up blob sizes.
    pub fn stats(&self) -> io::Result<StoreStats> {
        let mut stats = StoreStats::default();
        for entry in fs::read_dir(self.root.join("ac"))? {
            if Digest::from_hex(&entry?.file_name().to_string_lossy()).is_ok() {
                stats.entries += 1;
            }
        }
        for shard in fs::read_dir(self.root.join("cas"))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for blob in fs::read_dir(shard.path())? {
                let blob = blob?;
                let meta = blob.metadata()?;
                if meta.is_file() && Digest::from_hex(&blob.file_name().to_string_lossy()).is_ok() {
                    stats.blobs += 1;
                    stats.bytes = stats.bytes.saturating_add(meta.len());
                }
            }
        }
        Ok(stats)
    }

    fn cas_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        let shard = hex.get(..2).unwrap_or_default();
        self.root.join("cas").join(shard).join(&hex)
    }

    fn ac_path(&self, key: &Digest) -> PathBuf {
        self.root.join("ac").join(key.to_hex())
    }

    /// Moves `file`, whose contents hash to `digest`, into the CAS (or removes it if the CAS
    /// already has those bytes).
    fn move_in(&self, file: &Path, digest: Digest, size: u64) -> io::Result<()> {
        if self.has_blob(&digest, size) {
            fs::remove_file(file)?;
            return Ok(());
        }
        let dest = self.cas_path(&digest);
        if let Some(shard) = dest.parent() {
            fs::create_dir_all(shard)?;
        }
        let mut perms = fs::metadata(file)?.permissions();
        perms.set_readonly(true);
        fs::set_permissions(file, perms)?;
        match fs::rename(file, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
                // Not from our tmp dir: copy next to the CAS first, then rename.
                let tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())?;
                fs::copy(file, tmp.path())?;
                tmp.persist(&dest).map_err(|e| e.error)?;
                fs::remove_file(file)?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// True if the blob is present with the expected size (a cheap check against truncated
    /// or half-written files; contents are trusted, blobs being read-only).
    fn has_blob(&self, digest: &Digest, size: u64) -> bool {
        fs::metadata(self.cas_path(digest)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// True if the output is complete: its blob, or every directory blob and file of its
    /// tree.
    fn has_output(&self, output: &Output) -> bool {
        match output.kind {
            OutputKind::File => self.has_blob(&output.digest, output.size),
            OutputKind::Tree => Tree::blobs(self, &output.digest).is_ok_and(|blobs| {
                blobs.iter().all(|(digest, size)| match size {
                    Some(size) => self.has_blob(digest, *size),
                    // Directory blobs were read (and parsed) to list the rest.
                    None => true,
                })
            }),
        }
    }
}

impl Store for LocalStore {
    fn get_action(&self, key: &Digest) -> Option<ActionResult> {
        let bytes = fs::read(self.ac_path(key)).ok()?;
        let result: ActionResult = serde_json::from_slice(&bytes).ok()?;
        result
            .outputs
            .iter()
            .all(|output| self.has_output(output))
            .then_some(result)
    }

    fn put_action(&self, key: &Digest, result: &ActionResult) -> io::Result<()> {
        let json = serde_json::to_vec(result).map_err(io::Error::other)?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())?;
        tmp.write_all(&json)?;
        tmp.persist(self.ac_path(key)).map_err(|e| e.error)?;
        Ok(())
    }

    fn blob_path(&self, digest: &Digest) -> Option<PathBuf> {
        let path = self.cas_path(digest);
        fs::metadata(&path)
            .is_ok_and(|m| m.is_file())
            .then_some(path)
    }

    fn put_blob(&self, file: &Path) -> io::Result<(Digest, u64)> {
        let (digest, size) = Digest::of_reader(&mut fs::File::open(file)?)?;
        self.move_in(file, digest, size)?;
        Ok((digest, size))
    }

    fn put_blob_written(
        &self,
        file: &Path,
        digest: Digest,
        size: u64,
    ) -> io::Result<(Digest, u64)> {
        self.move_in(file, digest, size)?;
        Ok((digest, size))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn has_no_results(&self) -> bool {
        fs::read_dir(self.root.join("ac")).is_ok_and(|mut entries| entries.next().is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(store: &LocalStore, bytes: &[u8]) -> PathBuf {
        let (_, path) = tempfile::NamedTempFile::new_in(store.tmp_dir())
            .unwrap()
            .keep()
            .unwrap();
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn put_blob_moves_into_cas() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let file = temp_file(&store, b"hello");
        let (digest, size) = store.put_blob(&file).unwrap();
        assert_eq!(digest, Digest::of_bytes(b"hello"));
        assert_eq!(size, 5);
        assert!(!file.exists(), "the temp file was moved");
        let path = store.blob_path(&digest).unwrap();
        assert!(path.starts_with(dir.path().join("cas").join(&digest.to_hex()[..2])));
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert!(fs::metadata(&path).unwrap().permissions().readonly());

        // Idempotent: the same bytes again just remove the new temp file.
        let again = temp_file(&store, b"hello");
        assert_eq!(store.put_blob(&again).unwrap(), (digest, 5));
        assert!(!again.exists());
        assert_eq!(
            store.stats().unwrap(),
            StoreStats {
                entries: 0,
                blobs: 1,
                bytes: 5
            }
        );
    }

    #[test]
    fn put_blob_replaces_a_truncated_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let (digest, _) = store.put_blob(&temp_file(&store, b"complete")).unwrap();
        let path = store.blob_path(&digest).unwrap();
        fs::remove_file(&path).unwrap();
        fs::write(&path, b"comp").unwrap();
        store.put_blob(&temp_file(&store, b"complete")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"complete");
    }

    #[test]
    fn action_results_round_trip_only_with_their_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let key = Digest::of_bytes(b"key");
        assert_eq!(store.get_action(&key), None);

        let a = store.put_blob(&temp_file(&store, b"aaa")).unwrap();
        let b = store.put_blob(&temp_file(&store, b"bb")).unwrap();
        let result = ActionResult::new(vec![Output::file(a.0, a.1), Output::file(b.0, b.1)]);
        assert!(store.has_no_results());
        store.put_action(&key, &result).unwrap();
        assert!(!store.has_no_results());
        assert_eq!(store.get_action(&key), Some(result.clone()));
        assert_eq!(store.stats().unwrap().entries, 1);

        // A truncated blob hides the result.
        let path_b = store.blob_path(&b.0).unwrap();
        fs::remove_file(&path_b).unwrap();
        fs::write(&path_b, b"b").unwrap();
        assert_eq!(store.get_action(&key), None);
        // So does a missing one.
        fs::remove_file(&path_b).unwrap();
        assert_eq!(store.get_action(&key), None);
        assert_eq!(store.blob_path(&b.0), None);

        // A corrupt entry reads as absent.
        fs::write(dir.path().join("ac").join(key.to_hex()), b"{not json").unwrap();
        assert_eq!(store.get_action(&key), None);
    }

    #[test]
    fn put_blob_from_another_directory() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let store = LocalStore::open(&dir.path().join("store")).unwrap();
        let file = elsewhere.path().join("f");
        fs::write(&file, b"outside").unwrap();
        let (digest, _) = store.put_blob(&file).unwrap();
        assert!(!file.exists());
        assert_eq!(
            fs::read(store.blob_path(&digest).unwrap()).unwrap(),
            b"outside"
        );
    }
}
