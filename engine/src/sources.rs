//! Source file digests, cached by (size, mtime, ctime, inode) so a no-op build reads no file
//! contents — the trick git's index uses.
//!
//! The cache is loaded from and saved to one JSON file. An entry is trusted while the file's
//! size, modification and change times (nanoseconds) and inode are unchanged. As in git, a
//! file modified within the filesystem's timestamp granularity of being hashed could change
//! again without its times moving ("racily clean"), so such entries are kept for this session
//! but not saved: the next session hashes those files again. Within a session, a watcher that
//! sees a file change calls [`SourceDigests::forget`].
//!
//! A file edited while a build uses it must not poison the cache (a key computed from one
//! version, outputs made from another). So a digest is taken only over a file whose metadata
//! is the same before and after reading it, and the build checks every source file an action
//! read again once the action has run ([`SourceDigests::check_unchanged`], as Bazel and git
//! do): same metadata, and for a racily clean file the same contents. A file that changed
//! fails the action instead of storing its result.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::reading::Seen;
use crate::{Digest, EngineError};

/// Format of the saved file; a different one is ignored (everything is hashed again).
const FORMAT: u32 = 2;

/// How many times a file that changes while it is read is read again before giving up.
const READ_ATTEMPTS: usize = 3;

/// Coarsest timestamp granularity we allow for (FAT has 2 s).
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What identifies one version of a file without reading it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    pub(crate) size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Entry {
    stamp: Stamp,
    digest: Digest,
    /// Whether the stamp is old enough that the hashed contents are the ones it names.
    #[serde(skip)]
    settled: bool,
}

#[derive(Serialize, Deserialize)]
struct SavedFile {
    format: u32,
    entries: Vec<(PathBuf, Entry)>,
}

/// One version of a source file as a build used it: its digest and the metadata it had when
/// the digest was taken (see [`SourceDigests::version`]).
#[derive(Clone, Debug)]
pub struct SourceVersion {
    path: PathBuf,
    digest: Digest,
    stamp: Stamp,
    /// Modified so recently that a same-size rewrite could leave the stamp unchanged: its
    /// contents must be compared, not just its metadata.
    racy: bool,
}

impl SourceVersion {
    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The digest of its contents.
    pub fn digest(&self) -> Digest {
        self.digest
    }
}

/// A thread-safe cache of source file digests, persisted in one file.
#[derive(Debug)]
pub struct SourceDigests {
    path: PathBuf,
    entries: Mutex<HashMap<PathBuf, Entry>>,
    files_hashed: AtomicUsize,
}

impl SourceDigests {
    /// Loads the cache saved at `path`; a missing, unreadable or corrupt file gives an empty
    /// cache (it is only a cache).
    pub fn load(path: &Path) -> SourceDigests {
        let entries = fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<SavedFile>(&bytes).ok())
            .filter(|saved| saved.format == FORMAT)
            .map(|saved| {
                saved
                    .entries
                    .into_iter()
                    .map(|(p, mut e)| {
                        e.settled = true;
                        (p, e)
                    })
                    .collect()
            })
            .unwrap_or_default();
        SourceDigests {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
            files_hashed: AtomicUsize::new(0),
        }
    }

    /// The digest of `path`'s contents: the cached one if the file's size, times and inode
    /// are those it was hashed with, else read and hashed now (and cached).
    ///
    /// # Errors
    /// [`EngineError::SourceUnreadable`] if the file cannot be read,
    /// [`EngineError::SourceChanged`] if it kept changing while it was read.
    pub fn digest(&self, path: &Path) -> Result<Digest, EngineError> {
        self.version(path).map(|v| v.digest)
    }

    /// The digest of `path` with the metadata it was taken over, for
    /// [`check_unchanged`](Self::check_unchanged) after the file was used.
    ///
    /// # Errors
    /// As [`digest`](Self::digest).
    pub fn version(&self, path: &Path) -> Result<SourceVersion, EngineError> {
        let meta = fs::metadata(path).map_err(|source| EngineError::SourceUnreadable {
            path: path.to_path_buf(),
            source,
        })?;
        self.version_with(path, stamp(&meta))
    }

    /// [`version`](Self::version) of a file whose metadata was just read (`now`).
    fn version_with(&self, path: &Path, now: Stamp) -> Result<SourceVersion, EngineError> {
        let unreadable = |source: io::Error| EngineError::SourceUnreadable {
            path: path.to_path_buf(),
            source,
        };
        if let Some(entry) = self.lock().get(path)
            && entry.stamp == now
        {
            return Ok(SourceVersion {
                path: path.to_path_buf(),
                digest: entry.digest,
                stamp: now,
                racy: !entry.settled,
            });
        }
        for _ in 0..READ_ATTEMPTS {
            // The metadata of the open file, before and after reading it: the digest is of
            // the version they describe only if they are the same.
            let mut file = File::open(path).map_err(unreadable)?;
            let before = stamp(&file.metadata().map_err(unreadable)?);
            let hashed_at = SystemTime::now();
            let (digest, _) = Digest::of_reader(&mut file).map_err(unreadable)?;
            self.files_hashed.fetch_add(1, Ordering::Relaxed);
            let after = stamp(&file.metadata().map_err(unreadable)?);
            if after != before {
                // Changed while it was read: the digest is of some mix of versions.
                continue;
            }
            let settled = is_settled(before.mtime_ns, hashed_at);
            self.lock().insert(
                path.to_path_buf(),
                Entry {
                    stamp: before,
                    digest,
                    settled,
                },
            );
            return Ok(SourceVersion {
                path: path.to_path_buf(),
                digest,
                stamp: before,
                racy: !settled,
            });
        }
        Err(EngineError::SourceChanged {
            path: path.to_path_buf(),
        })
    }

    /// Records the digest a run took of `path` as it read it (see [`crate::reading`]), as if
    /// [`version`](Self::version) had taken it.
    pub(crate) fn record(&self, path: &Path, seen: &Seen) -> SourceVersion {
        self.files_hashed.fetch_add(1, Ordering::Relaxed);
        let settled = is_settled(seen.stamp.mtime_ns, seen.hashed_at);
        self.lock().insert(
            path.to_path_buf(),
            Entry {
                stamp: seen.stamp,
                digest: seen.digest,
                settled,
            },
        );
        SourceVersion {
            path: path.to_path_buf(),
            digest: seen.digest,
            stamp: seen.stamp,
            racy: !settled,
        }
    }

    /// True if `path`'s digest is known for the file as it is now (no need to read it).
    pub(crate) fn is_known(&self, path: &Path) -> bool {
        fs::metadata(path).is_ok_and(|meta| {
            self.lock()
                .get(path)
                .is_some_and(|e| e.stamp == stamp(&meta))
        })
    }

    /// Digests every file of `paths` not already known, on the current rayon pool's threads,
    /// so that the actions that read them find their digests ready instead of each reading
    /// its files one by one. Errors are not reported here: [`version`](Self::version) reports
    /// them to the action that needs the file. Larger files are started first, so one big
    /// file does not end up alone at the end.
    pub fn prefetch(&self, paths: &[PathBuf]) {
        use rayon::prelude::*;
        let mut sized: Vec<(Stamp, &Path)> = paths
            .par_iter()
            .filter_map(|p| {
                let meta = fs::metadata(p).ok()?;
                let now = stamp(&meta);
                let known = self.lock().get(p.as_path()).is_some_and(|e| e.stamp == now);
                (!known && meta.is_file()).then_some((now, p.as_path()))
            })
            .collect();
        sized.sort_unstable_by_key(|(now, _)| std::cmp::Reverse(now.size));
        sized.par_iter().with_max_len(1).for_each(|&(now, path)| {
            let _ = self.version_with(path, now);
        });
    }

    /// Checks that the file is still the version `version` describes: same size, times and
    /// inode, and — if it was modified just before it was hashed, when a rewrite could leave
    /// all of those unchanged — the same contents. A file that changed is forgotten, so the
    /// next build hashes it again.
    ///
    /// # Errors
    /// [`EngineError::SourceChanged`] if the file changed (or vanished).
    pub fn check_unchanged(&self, version: &SourceVersion) -> Result<(), EngineError> {
        let path = version.path.as_path();
        let same_stamp = |p: &Path| fs::metadata(p).is_ok_and(|m| stamp(&m) == version.stamp);
        let unchanged = same_stamp(path)
            && (!version.racy
                || (Digest::of_file(path).is_ok_and(|d| d == version.digest) && same_stamp(path)));
        if unchanged {
            return Ok(());
        }
        self.forget(path);
        Err(EngineError::SourceChanged {
            path: path.to_path_buf(),
        })
    }

    /// Drops the cached digest of `path`, so the next [`digest`](Self::digest) reads it.
    pub fn forget(&self, path: &Path) {
        self.lock().remove(path);
    }

    /// Writes the cache back to the file it was loaded from (temporary file + rename). Only
    /// settled entries are written; see the module documentation.
    pub fn save(&self) -> io::Result<()> {
        let mut entries: Vec<(PathBuf, Entry)> = self
            .lock()
            .iter()
            .filter(|(p, e)| e.settled && p.to_str().is_some())
            .map(|(p, e)| (p.clone(), *e))
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let json = serde_json::to_vec(&SavedFile {
            format: FORMAT,
            entries,
        })
        .map_err(io::Error::other)?;
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&json)?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }

    /// How many files were actually read and hashed since this cache was loaded.
    pub fn files_hashed(&self) -> usize {
        self.files_hashed.load(Ordering::Relaxed)
    }

    /// The file this cache is loaded from and saved to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Entry>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts
        // and removes), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

pub(crate) fn stamp(meta: &fs::Metadata) -> Stamp {
    let mtime_ns = meta
        .modified()
        .ok()
        .map(|t| match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        })
        .unwrap_or(0);
    let (ctime_ns, inode) = change_time_and_inode(meta);
    Stamp {
        size: meta.len(),
        mtime_ns,
        ctime_ns,
        inode,
    }
}

#[cfg(unix)]
fn change_time_and_inode(meta: &fs::Metadata) -> (i128, u64) {
    use std::os::unix::fs::MetadataExt;
    let ctime_ns = i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec());
    (ctime_ns, meta.ino())
}

#[cfg(not(unix))]
fn change_time_and_inode(_: &fs::Metadata) -> (i128, u64) {
    (0, 0)
}

/// True if a file last modified at `mtime_ns` was certainly not modified again within the
/// same timestamp tick after `hashed_at`.
fn is_settled(mtime_ns: i128, hashed_at: SystemTime) -> bool {
    let Ok(now) = hashed_at.duration_since(UNIX_EPOCH) else {
        return false;
    };
    mtime_ns.saturating_add(RACY_WINDOW.as_nanos() as i128) < now.as_nanos() as i128
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;

    /// Writes `bytes` and dates the file an hour back, so its entry is settled.
    fn write_old(path: &Path, bytes: &[u8]) {
        fs::write(path, bytes).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }

    #[test]
    fn reuses_digest_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.txt");
        write_old(&file, b"one");
        let cache = SourceDigests::load(&dir.path().join("digests.json"));
        assert_eq!(cache.digest(&file).unwrap(), Digest::of_bytes(b"one"));
        assert_eq!(cache.digest(&file).unwrap(), Digest::of_bytes(b"one"));
        assert_eq!(cache.files_hashed(), 1);

        write_old(&file, b"two!");
        assert_eq!(cache.digest(&file).unwrap(), Digest::of_bytes(b"two!"));
        assert_eq!(cache.files_hashed(), 2);

        cache.forget(&file);
        cache.digest(&file).unwrap();
        assert_eq!(cache.files_hashed(), 3);
        assert!(cache.digest(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.txt");
        let fresh = dir.path().join("fresh.txt");
        write_old(&old, b"old");
        fs::write(&fresh, b"fresh").unwrap();
        let db = dir.path().join("state").join("digests.json");

        let cache = SourceDigests::load(&db);
        cache.digest(&old).unwrap();
        cache.digest(&fresh).unwrap();
        assert_eq!(cache.files_hashed(), 2);
        cache.save().unwrap();

        let cache = SourceDigests::load(&db);
        assert_eq!(cache.digest(&old).unwrap(), Digest::of_bytes(b"old"));
        assert_eq!(cache.files_hashed(), 0, "settled entry reused");
        assert_eq!(cache.digest(&fresh).unwrap(), Digest::of_bytes(b"fresh"));
        assert_eq!(cache.files_hashed(), 1, "racily clean entry not saved");
    }

    #[test]
    fn prefetch_digests_every_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..20)
            .map(|i| {
                let path = dir.path().join(format!("f{i}"));
                // Sizes on both sides of the read buffer.
                write_old(&path, &vec![i as u8; i * 40_000]);
                path
            })
            .collect();
        let cache = SourceDigests::load(&dir.path().join("db"));
        cache.prefetch(&files);
        assert_eq!(cache.files_hashed(), files.len());
        for (i, path) in files.iter().enumerate() {
            let expected = Digest::of_bytes(&vec![i as u8; i * 40_000]);
            assert_eq!(cache.digest(path).unwrap(), expected);
        }
        assert_eq!(
            cache.files_hashed(),
            files.len(),
            "all known after the prefetch"
        );
    }

    #[test]
    fn corrupt_or_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("digests.json");
        assert_eq!(SourceDigests::load(&db).lock().len(), 0);
        fs::write(&db, b"\0\0garbage").unwrap();
        let cache = SourceDigests::load(&db);
        assert_eq!(cache.lock().len(), 0);
        cache.save().unwrap();
        assert_eq!(SourceDigests::load(&db).lock().len(), 0);
    }

    #[test]
    fn replaced_file_with_same_size_and_mtime_is_rehashed() {
        // A new inode (file replaced by rename) is noticed even if size and mtime match.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a");
        write_old(&file, b"aaaa");
        let cache = SourceDigests::load(&dir.path().join("db"));
        cache.digest(&file).unwrap();
        let mtime = fs::metadata(&file).unwrap().modified().unwrap();
        let other = dir.path().join("b");
        fs::write(&other, b"bbbb").unwrap();
        File::options()
            .write(true)
            .open(&other)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let keep_inode_busy = File::open(&file).unwrap();
        fs::rename(&other, &file).unwrap();
        drop(keep_inode_busy);
        assert_eq!(cache.digest(&file).unwrap(), Digest::of_bytes(b"bbbb"));
    }
}
