//! A normal launch: warm fast path, or the first run, then exec.
//!
//! Warm path: read the trailer (one positioned read), hash the index, check that the cache
//! directories leading to the plan are the user's own, take the build's shared in-use lock
//! (which also records the use; see `flavor_workenv::usage`), load the exec plan that the first run
//! stored for exactly this index (verified at least as strictly as this launch asks for; a
//! plan file another user owns or may write is refused), check that the metadata bytes still
//! match the index and that the command still exists, under `strict` apply the rollback
//! rule, refresh `volatile` slots, build the environment, exec. Anything unexpected falls
//! back to the first-run path, which verifies and (re-)extracts.

use crate::checks;
use crate::config::{self, Validation};
use crate::env::{LaunchContext, build_env};
use crate::error::{Failure, Result};
use crate::run;
use crate::{firstrun, rollback, slots};
use flavor_workenv::dirs::CacheRoot;
use flavor_workenv::layout::package_name;
use flavor_workenv::{BuildLayout, ExecPlan, usage};
use pspf::index::TRAILER_SIZE;
use pspf::{Index, Package};
use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// The package file this launcher is running from.
pub fn own_package() -> Result<(PathBuf, File)> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::io("cannot locate the running executable", e))?;
    let file = File::open(&exe).map_err(|e| Failure::io(exe.display(), e))?;
    Ok((exe, file))
}

/// Whether the compressed metadata still hashes to what the index records.
fn metadata_intact(file: &File, index: &Index, file_len: u64) -> bool {
    let (off, len) = (index.metadata_offset(), index.metadata_size());
    let fits = off
        .checked_add(len)
        .is_some_and(|end| end <= file_len.saturating_sub(TRAILER_SIZE as u64));
    if !fits || len > 64 * 1024 * 1024 {
        return false;
    }
    let mut buf = vec![0u8; len as usize];
    if file.read_exact_at(&mut buf, off).is_err() {
        return false;
    }
    let digest: [u8; 32] = Sha256::digest(&buf).into();
    digest == index.metadata_checksum()
}

/// Launch the packaged command with `user_args`; returns an exit code only in spawn mode
/// (exec replaces the process).
pub fn launch(user_args: Vec<OsString>) -> Result<u8> {
    let (exe, file) = own_package()?;
    let (index, file_len) = pspf::read_trailer(&file)?;
    let index_sha: [u8; 32] = Sha256::digest(index.raw()).into();
    let index_hex = hex::encode(index_sha);
    let root = CacheRoot::from_env();
    let layout = BuildLayout::for_index(root.path.clone(), package_name(&exe), &index_sha);
    let level = Validation::from_env();
    let ctx = LaunchContext {
        cache_root: layout.root(),
        package_path: &exe,
    };

    let held = if config::workenv_cache_enabled() {
        layout.check_private(root.may_be_link())?;
        usage::hold_shared(&layout)
    } else {
        None
    };
    let warm = if held.is_some() {
        ExecPlan::load(&layout.ready())?.filter(|p| {
            p.serves(&index_hex, level)
                && (level == Validation::None || metadata_intact(&file, &index, file_len))
                // Trust can be withdrawn after the first run: strict looks again (the
                // trusted-keys directory only; nothing is re-verified when it still holds).
                && (level != Validation::Strict || checks::key_is_trusted(&index.public_key()))
        })
    } else {
        None
    };
    let plan = match warm.zip(held) {
        Some((plan, held)) => {
            held.keep();
            if level == Validation::Strict {
                let key = index.public_key();
                rollback::enforce(layout.root(), &key, &plan.package, &plan.version, level)?;
            }
            if !plan.volatile.is_empty() {
                slots::refresh_volatile(&Package::from_file(file)?, &plan, &layout)?;
            }
            plan
        }
        None => {
            let pkg = Package::from_file(file)?;
            firstrun::prepare(&pkg, &layout, level, &index_hex, &ctx, root.may_be_link())?
        }
    };

    let env = build_env(std::env::vars_os(), &plan, &ctx);
    let mut args: Vec<OsString> = plan.args.iter().map(OsString::from).collect();
    args.extend(user_args);
    if config::spawn_mode() {
        run::spawn(&plan.program, &args, env)
    } else {
        Err(run::exec(&plan.program, &args, env))
    }
}
