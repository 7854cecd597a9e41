//! The `--json` documents of `flavor workenv list|info|clean|remove`.

use std::path::PathBuf;

use serde::Serialize;

use super::lossy;

/// `flavor workenv list --json`.
#[derive(Debug, Serialize)]
pub struct WorkenvList {
    /// The cache root.
    #[serde(serialize_with = "lossy")]
    pub root: PathBuf,
    /// Every workenv, by name.
    pub workenvs: Vec<WorkenvInfo>,
}

/// One workenv (`workenv list --json`, `workenv info --json`).
#[derive(Debug, Serialize)]
pub struct WorkenvInfo {
    /// Its name (the package file name without `.psp`).
    pub name: String,
    /// `flavor`, `upstream` or `flavor+upstream`.
    pub layout: &'static str,
    /// The package name of the build in use.
    pub package: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// Bytes on disk.
    pub size: u64,
    /// When it was last launched (Unix seconds); `null` if never.
    pub last_use: Option<u64>,
    /// The same, as RFC 3339 UTC.
    pub last_use_at: Option<String>,
    /// True if it can serve a launch as it stands.
    pub valid: bool,
    /// `valid` or `stale`.
    pub status: &'static str,
    /// Why it is stale.
    pub reason: Option<String>,
    /// `<root>/workenv/<name>`.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// `<root>/workenv/.<name>.pspf`.
    #[serde(serialize_with = "lossy")]
    pub bookkeeping: PathBuf,
    /// The package builds it holds (flavor's layout).
    pub versions: Vec<VersionInfo>,
}

/// One package build of a workenv.
#[derive(Debug, Serialize)]
pub struct VersionInfo {
    /// The first 16 hex digits of the SHA-256 of its index.
    pub hash: String,
    /// Its workenv directory.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// Its package name.
    pub package: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// `current`, `inactive`, `incomplete` or `damaged: …`.
    pub state: String,
    /// True while a launched process runs from it (it is never removed then).
    pub in_use: bool,
    /// Bytes on disk.
    pub size: u64,
    /// When it was last launched (Unix seconds); `null` if never.
    pub last_use: Option<u64>,
    /// The same, as RFC 3339 UTC.
    pub last_use_at: Option<String>,
}

/// `flavor workenv clean --json`.
#[derive(Debug, Serialize)]
pub struct WorkenvClean {
    /// The cache root.
    #[serde(serialize_with = "lossy")]
    pub root: PathBuf,
    /// True if nothing was removed, only listed.
    pub dry_run: bool,
    /// Bytes freed (or that would be).
    pub freed: u64,
    /// What was (or would be) removed, and what was skipped.
    pub removed: Vec<CleanedEntry>,
}

/// One removal of `workenv clean`.
#[derive(Debug, Serialize)]
pub struct CleanedEntry {
    /// The workenv.
    pub name: String,
    /// The package build, when only one build is removed.
    pub build: Option<String>,
    /// Why it goes.
    pub reason: String,
    /// Its size.
    pub bytes: u64,
    /// True if it was removed.
    pub removed: bool,
    /// Why it was left alone (a launcher is using it), if it was.
    pub skipped: Option<&'static str>,
}

/// `flavor workenv remove --json`.
#[derive(Debug, Serialize)]
pub struct WorkenvRemoved {
    /// The workenv.
    pub name: String,
    /// Always true (a workenv in use fails the command).
    pub removed: bool,
    /// Bytes freed.
    pub bytes: u64,
    /// The paths removed.
    pub paths: Vec<String>,
}
