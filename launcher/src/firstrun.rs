//! The first launch of a package build: extract, publish, set up, record the exec plan.
//!
//! Order (PSPF.md §7): take the lock; if another process finished meanwhile, use its work;
//! clear what a crashed run left; stream every slot into a private staging directory
//! (verifying digests as they stream); publish it with one rename; create
//! `workenv.directories`; run setup commands with `{workenv}` = the final path; drop `init`
//! slots; write the upstream bookkeeping; write the exec plan — the completion marker — last.
//! A crash anywhere before the marker leaves nothing a later launch trusts.

use crate::checks;
use crate::config::{Validation, workenv_cache_enabled};
use crate::env::{LaunchContext, Placeholders, build_env};
use crate::error::{Failure, Result, exit};
use crate::layout::Layout;
use crate::log::log_debug;
use crate::plan::{PLAN_VERSION, Plan};
use crate::setup;
use pspf::Package;
use pspf::extract::relative_target;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn mkdir_private(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Failure::io(format!("cannot create {}", path.display()), e))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    written.and_then(|()| fs::rename(&tmp, path)).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Failure::io(format!("cannot write {}", path.display()), e)
    })
}

fn remove_tree(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
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

/// Ensure the cache root exists and is tagged as a cache.
fn prepare_root(layout: &Layout) -> Result<()> {
    mkdir_private(&layout.versions())?;
    mkdir_private(&layout.staging_parent())?;
    let tag = layout.root.join("CACHEDIR.TAG");
    if !tag.exists() {
        let _ = fs::write(
            &tag,
            "Signature: 8a477f597d28d172789f06886806bc55\n# This directory holds work environments unpacked by flavor packages.\n# It can be deleted at any time; packages unpack again on their next run.\n",
        );
    }
    Ok(())
}

/// Make this package build's workenv ready and return its exec plan.
pub fn prepare(
    pkg: &Package,
    layout: &Layout,
    level: Validation,
    index_sha256: &str,
    ctx: &LaunchContext<'_>,
) -> Result<Plan> {
    // Verify before parsing: damaged metadata is an integrity failure (107), not a format one.
    let key_trusted = checks::verify(pkg, level)?;
    let meta = pkg.metadata()?;
    prepare_root(layout)?;
    let lock = File::create(layout.lock())
        .map_err(|e| Failure::io(format!("cannot create {}", layout.lock().display()), e))?;
    lock.lock()
        .map_err(|e| Failure::io(format!("cannot lock {}", layout.lock().display()), e))?;

    if workenv_cache_enabled()
        && let Some(plan) = Plan::load(&layout.ready())
        && plan.serves(index_sha256, level)
    {
        log_debug!("another launch finished the extraction");
        return Ok(plan);
    }
    // Whatever is here for this build was left by a crashed, damaged or forced run.
    let _ = fs::remove_file(layout.ready());
    remove_tree(&layout.workenv());
    if let Ok(entries) = fs::read_dir(layout.staging_parent()) {
        let prefix = format!("{}.", layout.hash);
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                remove_tree(&e.path());
            }
        }
    }

    let _progress = Progress::start(&meta.package.name, &meta.package.version);
    let staging = layout.staging();
    mkdir_private(&staging)?;
    let verify_slots = level.enforcing();
    for i in 0..pkg.slot_count() {
        let slot = meta.slots.get(i);
        if slot.is_some_and(|s| s.self_ref == Some(true)) {
            continue;
        }
        if let Err(e) = pkg.extract_slot_with(i, &staging, verify_slots) {
            remove_tree(&staging);
            let id = slot.map(|s| s.id.as_str()).unwrap_or("?");
            let mut failure = Failure::from(e);
            if !failure.message.starts_with(&format!("slot {i} ")) {
                failure.message = format!("slot {i} ({id}): {}", failure.message);
            }
            if failure.code == exit::INTEGRITY {
                failure.message.push_str(
                    "; refusing to run a damaged package (FLAVOR_VALIDATION=relaxed runs it anyway, unsafely)",
                );
            }
            return Err(failure);
        }
    }
    let workenv = layout.workenv();
    fs::rename(&staging, &workenv).map_err(|e| {
        remove_tree(&staging);
        Failure::io(format!("cannot publish {}", workenv.display()), e)
    })?;

    let result = finish(pkg, layout, &workenv, index_sha256, level, key_trusted, ctx);
    if result.is_err() {
        remove_tree(&workenv);
    }
    result
}

fn finish(
    pkg: &Package,
    layout: &Layout,
    workenv: &Path,
    index_sha256: &str,
    level: Validation,
    key_trusted: bool,
    ctx: &LaunchContext<'_>,
) -> Result<Plan> {
    let meta = pkg.metadata()?;
    let ph = Placeholders {
        workenv,
        package_name: &meta.package.name,
        version: &meta.package.version,
    };
    let workenv_meta = meta.workenv.clone().unwrap_or_default();
    for dir in &workenv_meta.directories {
        let path = PathBuf::from(ph.expand(&dir.path));
        let path = if path.is_absolute() {
            path
        } else {
            workenv.join(path)
        };
        mkdir_private(&path)?;
        let mode = dir
            .mode
            .as_deref()
            .and_then(pspf::metadata::parse_mode)
            .unwrap_or(0o700);
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|e| Failure::io(path.display(), e))?;
    }

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
    let plan = Plan {
        plan_version: PLAN_VERSION,
        index_sha256: index_sha256.to_string(),
        package: meta.package.name.clone(),
        version: meta.package.version.clone(),
        workenv: workenv.to_path_buf(),
        program: program.clone(),
        args: args.to_vec(),
        check,
        runtime_env,
        workenv_env: ph.expand_map(&workenv_meta.env),
        execution_env: ph.expand_map(&meta.execution.env),
        volatile: meta
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.lifecycle.is(pspf::Lifecycle::Volatile))
            .map(|(i, _)| i)
            .collect(),
        validation: level.name().into(),
        key_trusted,
    };

    if !meta.setup_commands.is_empty() {
        let env = build_env(std::env::vars_os(), &plan, ctx);
        setup::run_all(&meta.setup_commands, &ph, &env)?;
    }
    drop_init_slots(pkg, workenv)?;
    write_bookkeeping(pkg, layout)?;
    let bytes = serde_json::to_vec(&plan)
        .map_err(|e| Failure::new(exit::IO, format!("cannot encode the exec plan: {e}")))?;
    write_atomic(&layout.ready(), &bytes)?;
    Ok(plan)
}

/// Remove what `init` slots extracted, now that setup has run.
fn drop_init_slots(pkg: &Package, workenv: &Path) -> Result<()> {
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
                let rel = relative_target(
                    &entry
                        .path()
                        .map_err(pspf::Error::from_io)?
                        .to_string_lossy(),
                )?;
                let path = workenv.join(rel);
                if entry.header().entry_type().is_dir() {
                    dirs.push(path);
                } else {
                    let _ = fs::remove_file(path);
                }
            }
            dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            for d in dirs {
                let _ = fs::remove_dir(d);
            }
        } else {
            let rel = relative_target(slot.destination())?;
            if !rel.as_os_str().is_empty() {
                remove_tree(&workenv.join(rel));
            }
        }
    }
    Ok(())
}

/// The upstream bookkeeping files, describing the version now in use, and the
/// `workenv/<name>` link to it.
fn write_bookkeeping(pkg: &Package, layout: &Layout) -> Result<()> {
    let index = pkg.index();
    let instance = layout.instance();
    mkdir_private(&instance.join("extract"))?;
    mkdir_private(&layout.meta().join("package"))?;
    write_atomic(
        &layout.meta().join("package/psp.json"),
        pkg.metadata_json()?,
    )?;
    let mut index_json = index.summary_json();
    index_json["workenv"] = serde_json::json!(layout.workenv());
    write_atomic(
        &instance.join("index.json"),
        &serde_json::to_vec_pretty(&index_json).unwrap_or_default(),
    )?;
    write_atomic(
        &instance.join("package.checksum"),
        format!("{:08x}", index.index_checksum()).as_bytes(),
    )?;
    write_atomic(
        &instance.join("extract/complete"),
        format!("{}\n", std::process::id()).as_bytes(),
    )?;
    // Point workenv/<name> at this version, unless something else (an upstream launcher's
    // real directory) lives there.
    let link = layout.link();
    let is_ours = fs::symlink_metadata(&link).map(|m| m.file_type().is_symlink());
    if matches!(is_ours, Ok(true) | Err(_)) {
        let target = PathBuf::from(format!(".{}.pspf", layout.name))
            .join("versions")
            .join(&layout.hash);
        let tmp = layout
            .workenvs()
            .join(format!(".{}.link.{}", layout.name, std::process::id()));
        let _ = fs::remove_file(&tmp);
        if std::os::unix::fs::symlink(&target, &tmp).is_ok() && fs::rename(&tmp, &link).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
    Ok(())
}

/// Re-extract `volatile` slots into an existing workenv (every launch).
pub fn refresh_volatile(pkg: &Package, plan: &Plan) -> Result<()> {
    for &i in &plan.volatile {
        pkg.extract_slot(i, &plan.workenv)?;
    }
    Ok(())
}
