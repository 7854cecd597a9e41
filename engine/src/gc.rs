//! Garbage collection of a [`LocalStore`]: a [`Collector`] marks what some graphs use (a
//! [`LiveSet`]) and sweeps the rest.
//!
//! The sweep keeps every result in the live set, then other results newest first while the
//! blobs kept stay within [`GcOptions::max_size`], and deletes the other action cache
//! entries, the blobs no kept entry names, and temporary files of builds that died (an hour
//! old). Nothing written after the collector was created is deleted, so a build running at
//! the same time keeps its results.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::{
    ActionId, ActionResult, Digest, EngineError, Graph, LiveSet, LocalStore, SourceDigests, Store,
};

/// Temporary files older than this belong to builds that died.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// How much to keep beyond what is in use, and whether to delete anything.
#[derive(Clone, Copy, Debug, Default)]
pub struct GcOptions {
    /// Keep results not in use, newest first, while the kept blobs fit in this many bytes.
    /// 0 keeps only what is in use.
    pub max_size: u64,
    /// Only count what would be deleted.
    pub dry_run: bool,
}

/// What a sweep deleted (or, on a dry run, would delete) and kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// Results in the live set that the store holds.
    pub live_entries: u64,
    /// Action cache entries deleted.
    pub removed_entries: u64,
    /// Blobs deleted.
    pub removed_blobs: u64,
    /// Bytes of the blobs deleted.
    pub freed_bytes: u64,
    /// Temporary files and directories of dead builds deleted.
    pub removed_tmp: u64,
    /// Action cache entries kept.
    pub kept_entries: u64,
    /// Bytes of the blobs kept.
    pub kept_bytes: u64,
}

/// Marks what is in use, then sweeps the rest of a [`LocalStore`]; see the module docs.
#[derive(Debug)]
pub struct Collector<'s> {
    store: &'s LocalStore,
    /// "Now" on the store's filesystem clock when the collector was created.
    started: SystemTime,
    live: LiveSet,
}

impl LocalStore {
    /// A collector for this store. Whatever is written into the store from now on survives
    /// its sweep.
    ///
    /// # Errors
    /// The store's temporary directory is not writable.
    pub fn collector(&self) -> Result<Collector<'_>, EngineError> {
        let tmp = self.tmp_dir();
        let store_error = |source: io::Error| EngineError::Store {
            path: tmp.clone(),
            source,
        };
        // A file written now carries the filesystem's idea of the time.
        let marker = tempfile::NamedTempFile::new_in(&tmp).map_err(store_error)?;
        let started = marker
            .as_file()
            .metadata()
            .and_then(|m| m.modified())
            .map_err(store_error)?;
        Ok(Collector {
            store: self,
            started,
            live: LiveSet::new(),
        })
    }
}

/// An action cache entry on disk.
struct Entry {
    path: PathBuf,
    key: Option<Digest>,
    modified: SystemTime,
    /// The blobs its outputs consist of; `None` when the entry is unreadable (or names a
    /// tree that is not complete).
    outputs: Option<Vec<Digest>>,
}

/// A blob on disk.
struct Blob {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
}

impl Collector<'_> {
    /// Marks what a build of `targets` in `graph` would reuse ([`LiveSet::mark`]).
    pub fn mark(&mut self, graph: &Graph, targets: &[ActionId], sources: &SourceDigests) {
        self.live.mark(graph, targets, self.store, sources);
    }

    /// What is marked so far.
    pub fn live(&self) -> &LiveSet {
        &self.live
    }

    /// Deletes what is neither in use nor kept by `options.max_size`.
    ///
    /// # Errors
    /// The store cannot be read, or something in it cannot be deleted.
    pub fn sweep(self, options: &GcOptions) -> Result<GcReport, EngineError> {
        let root = self.store.root();
        let mut entries = scan_entries(&root.join("ac"), self.store)?;
        let blobs = scan_blobs(&root.join("cas"))?;
        let mut report = GcReport {
            live_entries: self.live.keys().len() as u64,
            ..GcReport::default()
        };

        // Keep what is in use, then the newest others while within the size.
        let mut kept: HashSet<Digest> = self.live.blobs().clone();
        let size = |d: &Digest| blobs.get(d).map_or(0, |b| b.size);
        report.kept_bytes = kept.iter().map(size).sum();
        entries.sort_by_key(|e| std::cmp::Reverse(e.modified));
        let mut doomed = Vec::new();
        let mut full = false;
        for entry in entries {
            let used = entry.key.is_some_and(|k| self.live.keys().contains(&k));
            if !used && entry.modified < self.started {
                // Unreadable entries go; so does everything older than the first that does
                // not fit.
                let extra = match &entry.outputs {
                    Some(outputs) if entry.key.is_some() && !full => {
                        Some(outputs.iter().filter(|d| !kept.contains(d)).map(size).sum())
                    }
                    _ => None,
                };
                let fits =
                    extra.is_some_and(|e| report.kept_bytes.saturating_add(e) <= options.max_size);
                if !fits {
                    full |= extra.is_some();
                    doomed.push(entry.path);
                    continue;
                }
            }
            report.kept_entries += 1;
            for d in entry.outputs.iter().flatten() {
                if kept.insert(*d) {
                    report.kept_bytes += size(d);
                }
            }
        }
        report.removed_entries = doomed.len() as u64;
        for blob in blobs
            .iter()
            .filter_map(|(d, b)| (!kept.contains(d)).then_some(b))
        {
            if blob.modified < self.started {
                doomed.push(blob.path.clone());
                report.removed_blobs += 1;
                report.freed_bytes += blob.size;
            }
        }
        let stale = stale_tmp(&self.store.tmp_dir());
        report.removed_tmp = stale.len() as u64;
        doomed.extend(stale);
        if !options.dry_run {
            for path in &doomed {
                remove(path)?;
            }
        }
        Ok(report)
    }
}

/// The entries of a directory with their metadata (not following links).
fn list(dir: &Path) -> Result<Vec<(PathBuf, fs::Metadata)>, EngineError> {
    let store_error = |source: io::Error| EngineError::Store {
        path: dir.to_path_buf(),
        source,
    };
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(store_error(e)),
    };
    let mut out = Vec::new();
    for entry in read {
        let path = entry.map_err(store_error)?.path();
        // Gone since it was listed (another gc): nothing to do about it.
        if let Ok(meta) = fs::symlink_metadata(&path) {
            out.push((path, meta));
        }
    }
    Ok(out)
}

fn digest_named(path: &Path) -> Option<Digest> {
    Digest::from_hex(&path.file_name()?.to_string_lossy()).ok()
}

fn scan_entries(ac: &Path, store: &LocalStore) -> Result<Vec<Entry>, EngineError> {
    Ok(list(ac)?
        .into_iter()
        .filter(|(_, meta)| meta.is_file())
        .map(|(path, meta)| Entry {
            key: digest_named(&path),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            outputs: fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<ActionResult>(&bytes).ok())
                .and_then(|r| {
                    (r.outputs.iter())
                        .map(|o| o.blobs(store))
                        .collect::<Option<Vec<Vec<Digest>>>>()
                })
                .map(|blobs| blobs.into_iter().flatten().collect()),
            path,
        })
        .collect())
}

fn scan_blobs(cas: &Path) -> Result<HashMap<Digest, Blob>, EngineError> {
    let mut blobs = HashMap::new();
    for (shard, meta) in list(cas)? {
        if !meta.is_dir() {
            continue;
        }
        for (path, meta) in list(&shard)? {
            if let Some(digest) = digest_named(&path).filter(|_| meta.is_file()) {
                let blob = Blob {
                    size: meta.len(),
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    path,
                };
                blobs.insert(digest, blob);
            }
        }
    }
    Ok(blobs)
}

/// What in the temporary directory is old enough to belong to a build that died.
fn stale_tmp(tmp: &Path) -> Vec<PathBuf> {
    list(tmp)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, meta)| {
            meta.modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= STALE_TMP)
        })
        .map(|(path, _)| path)
        .collect()
}

/// Removes a file, a link or a directory tree (never following a link); gone already is fine.
fn remove(path: &Path) -> Result<(), EngineError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(EngineError::Store {
            path: path.to_path_buf(),
            source: e,
        }),
        _ => Ok(()),
    }
}
