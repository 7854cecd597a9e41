//! Deleting a workenv or one of its builds safely: what a removal covers, and the launcher
//! locks (flavor's build lock, held by every process running from a build and by a launcher
//! unpacking it; upstream's lock file) that make it wait for another time.

use super::disk::read_quietly;
use super::model::{Link, Version, Workenv};
use anyhow::Context;
use flavor_workenv::usage::try_lock_for_removal;
use flavor_workenv::{WorkenvLayout, files};
use std::path::{Path, PathBuf};

/// Why a removal was left alone.
pub(super) const IN_USE: &str =
    "in use: a program runs from it, or a launcher is unpacking it right now";

/// One thing `clean` or `remove` deletes.
pub(super) struct Removal {
    pub(super) name: String,
    pub(super) hash: Option<String>,
    pub(super) reason: String,
    pub(super) paths: Vec<PathBuf>,
    pub(super) bytes: u64,
}

/// Remove each path (a file, a link itself, or a tree), never following a link inside it.
fn remove_paths(paths: &[PathBuf]) -> anyhow::Result<()> {
    for p in paths {
        files::remove_tree(p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}

/// Whether the process `pid` (decimal text) is alive.
fn alive(pid: &str) -> bool {
    !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|b| b.is_ascii_digit())
        && pid != "0"
        && Path::new("/proc").join(pid).exists()
}

/// An upstream launcher is extracting into this workenv: its lock file names a live process.
fn upstream_busy(paths: &WorkenvLayout) -> bool {
    read_quietly(&paths.upstream_lock()).is_some_and(|b| alive(String::from_utf8_lossy(&b).trim()))
}

/// Delete a removal while holding the locks of the builds it covers; returns `false` (and
/// deletes nothing) when one of them is in use (flavor's: its build lock is held by a running
/// program or an unpacking launcher; upstream's: its lock file names a live process).
pub(super) fn apply(w: &Workenv, r: &Removal, hashes: &[&str]) -> anyhow::Result<bool> {
    if r.hash.is_none() && upstream_busy(&w.paths) {
        return Ok(false);
    }
    let mut guards = Vec::new();
    for h in hashes {
        if alive(h) {
            return Ok(false);
        }
        match try_lock_for_removal(&w.paths.build(*h)) {
            Some(g) => guards.push(g),
            None => return Ok(false),
        }
    }
    remove_paths(&r.paths)?;
    Ok(true)
}

pub(super) fn whole(w: &Workenv, reason: String) -> Removal {
    let mut paths = vec![w.paths.meta()];
    if !matches!(w.link_kind, Link::Missing) {
        paths.insert(0, w.paths.link());
    }
    Removal {
        name: w.paths.name.clone(),
        hash: None,
        reason,
        paths,
        bytes: w.size,
    }
}

pub(super) fn version_removal(w: &Workenv, v: &Version, reason: String) -> Removal {
    let b = &v.build;
    let mut paths = vec![b.ready(), b.dir(), b.lock()];
    if matches!(&w.link_kind, Link::Symlink(t) if t.file_name() == Some(b.hash.as_ref())) {
        paths.push(w.paths.link());
    }
    Removal {
        name: w.paths.name.clone(),
        hash: Some(b.hash.clone()),
        reason,
        paths,
        bytes: v.size,
    }
}
