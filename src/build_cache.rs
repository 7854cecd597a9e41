//! The build cache directory of a workspace and what lives in it: `.flavor/cache` at the
//! workspace root, or `$FLAVOR_BUILD_CACHE`.
//!
//! | entry | owner | what |
//! |---|---|---|
//! | `ac/`, `cas/`, `tmp/` | the engine's [`LocalStore`] | action cache, blobs, files being written |
//! | `in-use.lock` | the CLI | held shared by every flavor process using the cache ([`InUse`]) |
//! | `sources.json` | the engine's [`SourceDigests`] | source digests by file metadata |
//! | `sha256/` | flavor-remote's [`Sha256Index`](flavor_remote::Sha256Index) | remote names of blobs |
//! | `launchers/` | the CLI | the builtin launcher, materialised for package actions |
//! | `last-build.json` | the CLI | the [`LastBuild`] record `flavor cache stats` shows |

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flavor_engine::{LocalStore, Report, SourceDigests};

use crate::messages::LastBuild;
use crate::report::unix_seconds;

/// The store's own directories.
const STORE_ENTRIES: &[&str] = &["ac", "cas", "tmp"];
const SOURCES: &str = "sources.json";
const SHA256_INDEX: &str = "sha256";
const LAUNCHERS: &str = "launchers";
const LAST_BUILD: &str = "last-build.json";
const IN_USE_LOCK: &str = "in-use.lock";
/// The store's directory of files being written.
const TMP: &str = "tmp";

/// A flavor process's use of a build cache: a shared `flock` on `in-use.lock`, released when
/// the value is dropped (or the process ends, however it ends).
#[derive(Debug)]
pub struct InUse {
    _lock: fs::File,
}

/// A build cache directory.
#[derive(Clone, Debug)]
pub struct BuildCache {
    dir: PathBuf,
}

impl BuildCache {
    /// The cache of the workspace rooted at `root`: `$FLAVOR_BUILD_CACHE`, else
    /// `<root>/.flavor/cache`.
    pub fn for_workspace(root: &Path) -> BuildCache {
        BuildCache::from_env().unwrap_or_else(|| BuildCache::default_for(root))
    }

    /// The cache `$FLAVOR_BUILD_CACHE` names, if set.
    pub fn from_env() -> Option<BuildCache> {
        std::env::var_os("FLAVOR_BUILD_CACHE")
            .filter(|v| !v.is_empty())
            .map(|dir| BuildCache {
                dir: PathBuf::from(dir),
            })
    }

    /// `<root>/.flavor/cache`, the cache a workspace has unless told otherwise.
    pub fn default_for(root: &Path) -> BuildCache {
        BuildCache {
            dir: root.join(".flavor").join("cache"),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens (creating it if needed) the engine's store.
    pub fn open_store(&self) -> io::Result<LocalStore> {
        LocalStore::open(&self.dir)
    }

    /// Marks the cache as used by this process for as long as the returned value lives. When
    /// no other flavor process uses it, first removes what runs that were interrupted left in
    /// `tmp/` (a killed build's `run-*` directories): nothing there can still be written to.
    /// Returns how many entries were removed.
    pub fn enter(&self) -> io::Result<(InUse, usize)> {
        fs::create_dir_all(&self.dir)?;
        let lock = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join(IN_USE_LOCK))?;
        let mut removed = 0;
        if lock.try_lock().is_ok() {
            removed = self.clear_tmp();
        }
        // Converts an exclusive lock in place; waits only for a process that is clearing.
        lock.lock_shared()?;
        Ok((InUse { _lock: lock }, removed))
    }

    /// Removes every entry of `tmp/`; best effort. Only under the exclusive lock.
    fn clear_tmp(&self) -> usize {
        let Ok(entries) = fs::read_dir(self.dir.join(TMP)) else {
            return 0;
        };
        entries
            .flatten()
            .filter(|e| remove(&e.path()).is_ok())
            .count()
    }

    /// The store, if anything was ever built here (nothing is created).
    pub fn existing_store(&self) -> io::Result<Option<LocalStore>> {
        if STORE_ENTRIES[..2].iter().all(|e| self.dir.join(e).is_dir()) {
            LocalStore::open(&self.dir).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The source digests saved here.
    pub fn load_sources(&self) -> SourceDigests {
        SourceDigests::load(&self.dir.join(SOURCES))
    }

    /// Where the remote cache keeps the SHA-256 of the store's blobs.
    pub fn sha256_index_dir(&self) -> PathBuf {
        self.dir.join(SHA256_INDEX)
    }

    /// Where the builtin launcher is materialised.
    pub fn launchers_dir(&self) -> PathBuf {
        self.dir.join(LAUNCHERS)
    }

    /// The launcher files here, with their sizes.
    pub fn launchers(&self) -> Vec<(PathBuf, fs::Metadata)> {
        fs::read_dir(self.launchers_dir())
            .map(|read| {
                read.flatten()
                    .filter_map(|e| Some((e.path(), fs::symlink_metadata(e.path()).ok()?)))
                    .filter(|(_, m)| m.is_file())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Removes launchers not `in_use` that are older than a few seconds (one being
    /// materialised right now is young); returns how many and their bytes.
    pub fn remove_launchers_except(
        &self,
        in_use: impl Fn(&Path) -> bool,
        dry_run: bool,
    ) -> io::Result<(u64, u64)> {
        let (mut count, mut bytes) = (0, 0);
        for (path, meta) in self.launchers() {
            let old = meta
                .modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age.as_secs() >= 2);
            if in_use(&path) || !old {
                continue;
            }
            if !dry_run {
                remove(&path)?;
            }
            count += 1;
            bytes += meta.len();
        }
        Ok((count, bytes))
    }

    /// Records the summary of a finished build (best effort: a build never fails because of
    /// it).
    pub fn record_last_build(&self, report: &Report) {
        let record = LastBuild::of(report, unix_seconds(SystemTime::now()));
        let write = || -> io::Result<()> {
            fs::create_dir_all(&self.dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
            tmp.write_all(serde_json::to_string_pretty(&record)?.as_bytes())?;
            tmp.persist(self.dir.join(LAST_BUILD))?;
            Ok(())
        };
        let _ = write();
    }

    /// The record of the last build, if there is a readable one.
    pub fn last_build(&self) -> Option<LastBuild> {
        let bytes = fs::read(self.dir.join(LAST_BUILD)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes the cache of the workspace rooted at `root`: its own `.flavor/cache` whole
    /// (and `.flavor/` if that leaves it empty), but only what flavor writes in a directory
    /// `$FLAVOR_BUILD_CACHE` named (which may hold other things).
    pub fn clear(&self, root: &Path) -> io::Result<()> {
        if !self.dir.is_dir() {
            return Ok(());
        }
        if self.dir == BuildCache::default_for(root).dir {
            remove(&self.dir)?;
            let _ = fs::remove_dir(root.join(".flavor"));
            return Ok(());
        }
        self.remove_flavor_entries()
    }

    /// Removes what flavor writes here, and the directory if that leaves it empty; anything
    /// else in it (a shared `$FLAVOR_BUILD_CACHE`) stays.
    fn remove_flavor_entries(&self) -> io::Result<()> {
        let ours = STORE_ENTRIES.iter().chain(&[
            SOURCES,
            SHA256_INDEX,
            LAUNCHERS,
            LAST_BUILD,
            IN_USE_LOCK,
        ]);
        for entry in ours {
            remove(&self.dir.join(entry))?;
        }
        let _ = fs::remove_dir(&self.dir);
        Ok(())
    }
}

/// Removes a file, link or directory tree (never following a link); gone already is fine.
fn remove(path: &Path) -> io::Result<()> {
    flavor_workenv::files::remove_tree(path).map_err(io::Error::other)
}
