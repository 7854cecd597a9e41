//! The first launch of a package build: extract, publish, set up, record the exec plan.
//!
//! Order (PSPF.md §7): verify; refuse a rollback (strict) and record the version as seen;
//! check that the cache directories are the user's own; take the lock; if another process
//! finished meanwhile, use its work; clear what a crashed run left; stream every slot into a
//! private staging directory (verifying digests as they stream); publish it with one rename;
//! create `workenv.directories` (checked to stay inside before anything was extracted); run
//! setup commands with `{workenv}` = the final path; drop `init` slots; write the upstream
//! bookkeeping; write the exec plan — the completion marker — last. A crash anywhere before
//! the marker leaves nothing a later launch trusts. The lock then becomes this launch's shared
//! in-use lock, and older builds of the package beyond the newest few that nothing runs from
//! are removed (`flavor_workenv::prune`).

use crate::config::{Validation, workenv_cache_enabled};
use crate::env::{LaunchContext, Placeholders, build_env};
use crate::error::{Failure, Result, exit};
use crate::log::{log_debug, log_warn};
use crate::{checks, directories, rollback, setup, slots};
use flavor_workenv::layout::{CACHEDIR_TAG_CONTENT, cachedir_tag};
use flavor_workenv::{BuildLayout, EXEC_PLAN_VERSION, ExecPlan, files, prune, usage};
use pspf::Package;
use pspf::metadata::Metadata;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn mkdir_private(path: &Path) -> Result<()> {
    files::mkdir_private(path).map_err(|e| Failure::new(exit::IO, format!("cannot create {e}")))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    files::write_atomic(path, bytes)
        .map_err(|e| Failure::new(exit::IO, format!("cannot write {e}")))
}

/// Remove a file, link or tree, never following a link inside it; best effort.
fn remove_tree(path: &Path) {
    let _ = files::remove_tree(path);
}

/// Prints one line if the first run takes longer than a second and stderr is a terminal.
struct Progress {
    done: Arc<AtomicBool>,
}

impl Progress {
    fn start(name: &str, version: &str) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        // SAFETY: isatty only inspects a file descriptor.
        if unsafe { libc::isatty(2) } == 1 {
            let flag = Arc::clone(&done);
            let line = format!("flavor: unpacking {name} {version} for its first run…");
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(1));
                if !flag.load(Ordering::SeqCst) {
                    eprintln!("{line}");
                }
            });
        }
        Progress { done }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// Ensure the cache root exists, is the user's own and is tagged as a cache.
fn prepare_root(layout: &BuildLayout, root_may_be_link: bool) -> Result<()> {
    mkdir_private(&layout.workenv.versions())?;
    layout.check_private(root_may_be_link)?;
    mkdir_private(&layout.workenv.staging_parent())?;
    let tag = cachedir_tag(layout.root());
    if !tag.exists() {
        let _ = fs::write(&tag, CACHEDIR_TAG_CONTENT);
    }
    Ok(())
}

/// Make this package build's workenv ready and return its exec plan.
pub fn prepare(
    pkg: &Package,
    layout: &BuildLayout,
    level: Validation,
    index_sha256: &str,
    ctx: &LaunchContext<'_>,
    root_may_be_link: bool,
) -> Result<ExecPlan> {
    // Verify before parsing: damaged metadata is an integrity failure (107), not a format one.
    let key_trusted = checks::verify(pkg, level)?;
    let meta = pkg.metadata()?;
    let min_glibc = meta.runtime.as_ref().and_then(|r| r.min_glibc.as_deref());
    crate::glibc::check(&meta.package.name, min_glibc)?;
    let workenv = layout.dir();
    let ph = Placeholders {
        workenv: &workenv,
        package_name: &meta.package.name,
        version: &meta.package.version,
    };
    let dirs = directories::plan(meta, &ph)?;
    prepare_root(layout, root_may_be_link)?;
    let (name, version) = (&meta.package.name, &meta.package.version);
    rollback::enforce(
        layout.root(),
        &pkg.index().public_key(),
        name,
        version,
        level,
    )?;
    let ready = || {
        let plan = ExecPlan::load(&layout.ready()).ok().flatten()?;
        (workenv_cache_enabled() && plan.serves(index_sha256, level)).then_some(plan)
    };
    let lock = match lock_build(layout, name, ready)? {
        usage::Extraction::Ready(running, plan) => {
            log_debug!("another launch finished the extraction");
            running.keep();
            return Ok(plan);
        }
        usage::Extraction::Unpack(lock) => lock,
    };
    // Errors count here (a plan another user made is refused, not overwritten).
    if workenv_cache_enabled()
        && let Some(plan) = ExecPlan::load(&layout.ready())?
        && plan.serves(index_sha256, level)
    {
        log_debug!("another launch finished the extraction");
        lock.into_running().keep();
        return Ok(plan);
    }
    clear_leftovers(layout);
    let _progress = Progress::start(name, version);
    let staging = layout.staging();
    mkdir_private(&staging)?;
    if let Err(failure) = extract_all(pkg, meta, &staging, level.enforcing()) {
        remove_tree(&staging);
        return Err(failure);
    }
    fs::rename(&staging, &workenv).map_err(|e| {
        remove_tree(&staging);
        Failure::io(format!("cannot publish {}", workenv.display()), e)
    })?;
    let result = directories::create(&dirs, &workenv)
        .and_then(|()| finish(pkg, layout, &ph, index_sha256, level, key_trusted, ctx));
    if result.is_err() {
        remove_tree(&workenv);
    } else {
        lock.into_running().keep();
        prune_older_builds(layout);
    }
    result
}

/// The build's lock, exclusive while it is unpacked (saying so when running commands of the
/// build must finish first), or shared on a build another launch has just unpacked.
fn lock_build(
    layout: &BuildLayout,
    name: &str,
    ready: impl FnMut() -> Option<ExecPlan>,
) -> Result<usage::Extraction<ExecPlan>> {
    usage::lock_for_extraction(layout, ready, || {
        if layout.ready().exists() {
            log_warn!(
                "waiting until the programs of {name} running from {} exit, to unpack it again",
                layout.dir().display()
            );
        }
    })
    .map_err(|e| Failure::new(exit::IO, format!("cannot lock {e}")))
}

/// Removes the builds of this package beyond the newest `FLAVOR_WORKENV_KEEP` (default 3)
/// that nothing runs from; best effort.
fn prune_older_builds(layout: &BuildLayout) {
    let Some(keep) = prune::keep_from_env() else {
        return;
    };
    match prune::prune(&layout.workenv, keep, &[&layout.hash]) {
        Ok(pruned) if !pruned.removed.is_empty() => {
            log_debug!("removed older builds {}", pruned.removed.join(", "));
        }
        Ok(_) => {}
        Err(e) => log_debug!("could not remove older builds: {e}"),
    }
}

/// Clear whatever is here for this build: it was left by a crashed, damaged or forced run.
/// Runs under the build's lock, so no other launch is using any of it.
fn clear_leftovers(layout: &BuildLayout) {
    let _ = fs::remove_file(layout.ready());
    remove_tree(&layout.dir());
    if let Ok(entries) = fs::read_dir(layout.workenv.staging_parent()) {
        let prefix = layout.staging_prefix();
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                remove_tree(&e.path());
            }
        }
    }
}

/// Extract every slot (but a self-referential one) into `staging`.
fn extract_all(pkg: &Package, meta: &Metadata, staging: &Path, verify: bool) -> Result<()> {
    for i in 0..pkg.slot_count() {
        if meta.slots.get(i).is_some_and(|s| s.self_ref == Some(true)) {
            continue;
        }
        slots::extract_to_run(pkg, i, staging, verify)?;
    }
    Ok(())
}

/// Set up the published workenv and store the exec plan: the completion marker, last.
fn finish(
    pkg: &Package,
    layout: &BuildLayout,
    ph: &Placeholders<'_>,
    index_sha256: &str,
    level: Validation,
    key_trusted: bool,
    ctx: &LaunchContext<'_>,
) -> Result<ExecPlan> {
    let meta = pkg.metadata()?;
    let mut plan = exec_plan(meta, ph, index_sha256)?;
    plan.validation = level;
    plan.key_trusted = key_trusted;
    if !meta.setup_commands.is_empty() {
        let env = build_env(std::env::vars_os(), &plan, ctx);
        setup::run_all(&meta.setup_commands, ph, &env)?;
    }
    slots::drop_init_slots(pkg, ph.workenv)?;
    write_bookkeeping(pkg, layout)?;
    write_atomic(&layout.ready(), &plan.to_json())?;
    Ok(plan)
}

/// The exec plan of a package whose workenv is `ph.workenv` (verified at `none` until the
/// caller says otherwise).
fn exec_plan(meta: &Metadata, ph: &Placeholders<'_>, index_sha256: &str) -> Result<ExecPlan> {
    let workenv = ph.workenv;
    let words = shlex::split(&ph.expand(&meta.execution.command))
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            Failure::new(
                exit::EXEC,
                format!(
                    "execution.command {:?} cannot be parsed",
                    meta.execution.command
                ),
            )
        })?;
    let (program, args) = words.split_first().expect("non-empty");
    // The file whose absence means the workenv was damaged: the program when it lives in the
    // workenv, else the first argument that does (`/bin/sh {workenv}/run.sh`).
    let check = std::iter::once(program)
        .chain(args)
        .find(|w| Path::new(w.as_str()).starts_with(workenv))
        .map(PathBuf::from);
    let mut runtime_env = meta.runtime.as_ref().and_then(|r| r.env.clone());
    if let Some(policy) = runtime_env.as_mut() {
        policy.set = ph.expand_map(&policy.set);
    }
    let workenv_env = meta
        .workenv
        .as_ref()
        .map(|w| ph.expand_map(&w.env))
        .unwrap_or_default();
    Ok(ExecPlan {
        plan_version: EXEC_PLAN_VERSION,
        index_sha256: index_sha256.to_string(),
        package: meta.package.name.clone(),
        version: meta.package.version.clone(),
        workenv: workenv.to_path_buf(),
        program: program.clone(),
        args: args.to_vec(),
        check,
        runtime_env,
        workenv_env,
        execution_env: ph.expand_map(&meta.execution.env),
        volatile: meta
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.lifecycle.is(pspf::Lifecycle::Volatile))
            .map(|(i, _)| i)
            .collect(),
        validation: Validation::None,
        key_trusted: false,
    })
}

/// The upstream bookkeeping files, describing the version now in use, and the
/// `workenv/<name>` link to it.
fn write_bookkeeping(pkg: &Package, layout: &BuildLayout) -> Result<()> {
    let index = pkg.index();
    let names = &layout.workenv;
    for file in [names.upstream_complete(), names.package_json()] {
        if let Some(dir) = file.parent() {
            mkdir_private(dir)?;
        }
    }
    write_atomic(&names.package_json(), pkg.metadata_json()?)?;
    let mut index_json = index.summary_json();
    index_json["workenv"] = serde_json::json!(layout.dir());
    write_atomic(
        &names.index_json(),
        &serde_json::to_vec_pretty(&index_json).unwrap_or_default(),
    )?;
    write_atomic(
        &names.package_checksum(),
        format!("{:08x}", index.index_checksum()).as_bytes(),
    )?;
    write_atomic(
        &names.upstream_complete(),
        format!("{}\n", std::process::id()).as_bytes(),
    )?;
    // Point workenv/<name> at this version, unless something else (an upstream launcher's
    // real directory) lives there.
    let link = names.link();
    let is_ours = fs::symlink_metadata(&link).map(|m| m.file_type().is_symlink());
    if matches!(is_ours, Ok(true) | Err(_)) {
        let target = layout.link_target();
        let tmp = names
            .workenvs()
            .join(format!(".{}.link.{}", names.name, std::process::id()));
        let _ = fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(&target, &tmp).is_ok() && fs::rename(&tmp, &link).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
    Ok(())
}
