//! Slots with a lifecycle beyond "extract once": extracting one slot into private staging
//! (digests checked as it streams), `init` slots removed after setup, and `volatile` slots
//! refreshed on every launch.
//!
//! Nothing from a slot reaches the workenv before that slot's digest has been checked: a
//! volatile slot is extracted into a private staging directory and only then moved into the
//! live workenv, entry by entry, replacing (never following) links there. Removing `init`
//! slots never follows a link either, so it cannot reach outside the workenv.

use crate::error::{Failure, Result, exit};
use flavor_workenv::files::{self, Remove, merge_tree, remove_within};
use flavor_workenv::{BuildLayout, ExecPlan};
use pspf::Package;
use pspf::extract::relative_target;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// Extract slot `i` under `dest`, checking its digests as it streams when `verify`; on
/// failure the error names the slot.
pub fn extract(pkg: &Package, i: usize, dest: &Path, verify: bool) -> Result<PathBuf> {
    pkg.extract_slot_with(i, dest, verify).map_err(|e| {
        let id = pkg.slot_metadata(i).map(|s| s.id.as_str()).unwrap_or("?");
        let mut failure = Failure::from(e);
        if !failure.message.starts_with(&format!("slot {i} ")) {
            failure.message = format!("slot {i} ({id}): {}", failure.message);
        }
        failure
    })
}

/// [`extract`] for a launch: a damaged slot's error also says the package will not run.
pub fn extract_to_run(pkg: &Package, i: usize, dest: &Path, verify: bool) -> Result<PathBuf> {
    extract(pkg, i, dest, verify).map_err(|mut failure| {
        if failure.code == exit::INTEGRITY {
            failure.message.push_str(
                "; refusing to run a damaged package (FLAVOR_VALIDATION=relaxed runs it anyway, unsafely)",
            );
        }
        failure
    })
}

/// Remove what `init` slots extracted, now that setup has run, never following a link (one
/// that setup made where a slot's files were is left alone, and so is what it points at).
pub fn drop_init_slots(pkg: &Package, workenv: &Path) -> Result<()> {
    let meta = pkg.metadata()?;
    for (i, slot) in meta.slots.iter().enumerate() {
        if !slot.lifecycle.is(pspf::Lifecycle::Init) {
            continue;
        }
        if pkg.slot_codec(i)?.is_tar() {
            let mut archive = tar::Archive::new(pkg.slot_reader(i)?);
            let mut dirs = Vec::new();
            for entry in archive.entries().map_err(pspf::Error::from_io)? {
                let entry = entry.map_err(pspf::Error::from_io)?;
                let path = entry.path().map_err(pspf::Error::from_io)?;
                let rel = relative_target(&path.to_string_lossy())?;
                if entry.header().entry_type().is_dir() {
                    dirs.push(rel);
                } else {
                    let _ = remove_within(workenv, &rel, Remove::NonDir);
                }
            }
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                let _ = remove_within(workenv, &d, Remove::EmptyDir);
            }
        } else {
            let rel = relative_target(slot.destination())?;
            if !rel.as_os_str().is_empty() {
                let _ = remove_within(workenv, &rel, Remove::Tree);
            }
        }
    }
    Ok(())
}

/// Re-extract `volatile` slots into the plan's workenv (every launch): into private staging
/// first, digests checked, then moved in. A shared hold on the build's lock keeps a first
/// run (which clears staging directories) from running meanwhile.
pub fn refresh_volatile(pkg: &Package, plan: &ExecPlan, layout: &BuildLayout) -> Result<()> {
    let lock_path = layout.lock();
    let lock = File::options()
        .create(true)
        .append(true)
        .open(&lock_path)
        .map_err(|e| Failure::io(format!("cannot open {}", lock_path.display()), e))?;
    lock.lock_shared()
        .map_err(|e| Failure::io(format!("cannot lock {}", lock_path.display()), e))?;
    let staging = layout.staging();
    let _ = files::remove_tree(&staging);
    files::mkdir_private(&staging)?;
    for &i in &plan.volatile {
        if let Err(failure) = extract_to_run(pkg, i, &staging, true) {
            let _ = files::remove_tree(&staging);
            return Err(failure);
        }
    }
    let merged = merge_tree(&staging, &plan.workenv);
    let _ = files::remove_tree(&staging);
    if let Err(e) = merged {
        // Part of the slot may be in place: the workenv is no longer what the plan vouches
        // for, so the next launch extracts it again.
        let _ = fs::remove_file(layout.ready());
        return Err(e.into());
    }
    Ok(())
}
