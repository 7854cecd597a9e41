//! Keeping the builds of one workenv name in check: each rebuilt package unpacks into a new
//! `versions/<hash>/`, so without pruning every rebuild would keep another copy.
//!
//! When a first run has unpacked a new build, the launcher keeps the newest
//! [`keep_from_env`] builds of that name (by [last use](crate::usage::last_use), the new one
//! included) and removes the others — except any build a process runs from or a launcher
//! unpacks, which is never removed ([`crate::usage`]). `flavor workenv clean` applies the same
//! rule.

use crate::error::Result;
use crate::files::remove_tree;
use crate::layout::{BuildLayout, WorkenvLayout};
use crate::usage::{last_use, try_lock_for_removal};
use std::fs;
use std::time::SystemTime;

/// How many builds of a workenv name are kept when `FLAVOR_WORKENV_KEEP` does not say.
pub const DEFAULT_KEEP: usize = 3;

/// `FLAVOR_WORKENV_KEEP`: how many builds of a workenv name to keep (at least 1; `0` keeps
/// every build); [`DEFAULT_KEEP`] when unset or not a number.
pub fn keep_from_env() -> Option<usize> {
    match std::env::var("FLAVOR_WORKENV_KEEP") {
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(_) => Some(DEFAULT_KEEP),
        },
        Err(_) => Some(DEFAULT_KEEP),
    }
}

/// When a build was last used: its lock file's time, else (a build unpacked before flavor
/// recorded uses, or an interrupted one) its plan's or directory's.
pub fn build_last_use(build: &BuildLayout) -> Option<SystemTime> {
    last_use(build)
        .or_else(|| fs::symlink_metadata(build.ready()).ok()?.modified().ok())
        .or_else(|| fs::symlink_metadata(build.dir()).ok()?.modified().ok())
}

/// The builds of `workenv` beyond the newest `keep` by last use, oldest last; the builds
/// named in `spare` are never among them but count towards `keep`.
pub fn surplus(workenv: &WorkenvLayout, keep: usize, spare: &[&str]) -> Vec<BuildLayout> {
    let mut others: Vec<(Option<SystemTime>, BuildLayout)> = workenv
        .build_hashes()
        .into_iter()
        .filter(|h| !spare.contains(&h.as_str()))
        .map(|h| {
            let build = workenv.build(h);
            (build_last_use(&build), build)
        })
        .collect();
    others.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.hash.cmp(&b.1.hash)));
    let room = keep.saturating_sub(spare.len());
    others.into_iter().skip(room).map(|(_, b)| b).collect()
}

/// Removes a build — plan first, so no launch trusts what follows, then its workenv, its
/// staging directories and its lock — unless a process runs from it or unpacks it, or it was
/// used after `seen_use` (the last use the caller decided on). Returns whether it was removed.
pub fn remove_build(build: &BuildLayout, seen_use: Option<SystemTime>) -> Result<bool> {
    let Some(guard) = try_lock_for_removal(build) else {
        return Ok(false);
    };
    let used_since = matches!((last_use(build), seen_use), (Some(now), Some(seen)) if now > seen);
    if used_since {
        return Ok(false);
    }
    remove_tree(&build.ready())?;
    remove_tree(&build.dir())?;
    if let Ok(entries) = fs::read_dir(build.workenv.staging_parent()) {
        let prefix = build.staging_prefix();
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                remove_tree(&e.path())?;
            }
        }
    }
    remove_tree(&build.lock())?;
    drop(guard);
    Ok(true)
}

/// What [`prune`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    /// The builds removed.
    pub removed: Vec<String>,
    /// Builds beyond the newest that were in use, so kept.
    pub in_use: Vec<String>,
}

/// Removes the builds of `workenv` beyond the newest `keep` ([`surplus`]), sparing `spare`
/// and every build in use.
pub fn prune(workenv: &WorkenvLayout, keep: usize, spare: &[&str]) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    for build in surplus(workenv, keep, spare) {
        let seen = build_last_use(&build);
        if remove_build(&build, seen)? {
            pruned.removed.push(build.hash);
        } else {
            pruned.in_use.push(build.hash);
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::lock_for_extraction;
    use std::time::Duration;

    /// A complete build `hash` last used `age` seconds ago.
    fn unpacked(w: &WorkenvLayout, hash: &str, age: u64) -> BuildLayout {
        let b = w.build(hash);
        fs::create_dir_all(b.dir()).unwrap();
        fs::write(b.dir().join("f"), "x").unwrap();
        fs::write(b.ready(), "{}").unwrap();
        drop(lock_for_extraction(&b, || None::<()>, || {}).unwrap());
        set_last_use(&b, age);
        b
    }

    fn set_last_use(b: &BuildLayout, age: u64) {
        fs::File::open(b.lock())
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(age))
            .unwrap();
    }

    #[test]
    fn the_newest_builds_and_those_in_use_stay() {
        let t = tempfile::tempdir().unwrap();
        let w = WorkenvLayout::new(t.path(), "app");
        let old = unpacked(&w, "0000000000000001", 400);
        let older = unpacked(&w, "0000000000000002", 500);
        let running = unpacked(&w, "0000000000000003", 600);
        let recent = unpacked(&w, "0000000000000004", 100);
        let new = unpacked(&w, "0000000000000005", 0);
        lock_for_extraction(&running, || None::<()>, || {})
            .unwrap()
            .unpacking()
            .unwrap()
            .into_running()
            .keep();
        set_last_use(&running, 600);
        let pruned = prune(&w, 3, &[&new.hash]).unwrap();
        assert_eq!(pruned.removed, vec![older.hash.clone()]);
        assert_eq!(pruned.in_use, vec![running.hash.clone()]);
        for kept in [&old, &recent, &new, &running] {
            assert!(kept.dir().join("f").exists(), "{}", kept.hash);
        }
        for gone in [older.dir(), older.ready(), older.lock()] {
            assert!(fs::symlink_metadata(&gone).is_err(), "{}", gone.display());
        }
        assert_eq!(surplus(&w, 10, &[]).len(), 0);
    }
}
