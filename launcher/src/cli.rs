//! CLI mode (`FLAVOR_LAUNCHER_CLI=1`): `info`, `verify`, `metadata`, `extract <slot> <dir>`,
//! `run [args]`, `help`. Without that variable the launcher interprets no arguments at all.

use crate::config::Validation;
use crate::error::{Failure, Result, exit};
use crate::launch::{launch, own_package};
use crate::{checks, slots};
use flavor_workenv::files;
use pspf::verify::Outcome;
use pspf::{Package, VerifyOptions};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

const HELP: &str = "flavor launcher, CLI mode (FLAVOR_LAUNCHER_CLI=1)

commands:
  info                  package name, version, slots, work environment
  verify                every integrity check, exit 0 only when all pass (107 otherwise)
  metadata              the metadata JSON exactly as signed
  extract <slot> <dir>  decode one slot (number or id) into <dir>, after the checks
                        `flavor extract` makes (index, metadata, signature, slot digests)
  run [args…]           launch the package normally with args
  help                  this text

environment: FLAVOR_VALIDATION=strict|standard|relaxed|minimal|none, FLAVOR_EXEC_MODE=spawn,
FLAVOR_WORKENV_CACHE=0, FLAVOR_CACHE=<root>, FLAVOR_LOG_LEVEL=off|error|warn|info|debug";

fn open() -> Result<(PathBuf, Package)> {
    let (exe, file) = own_package()?;
    Ok((exe, Package::from_file(file)?))
}

/// Extract slot `i` into `dir` the way `flavor extract` does: into a private staging
/// directory beside `dir` (digests checked as it streams), then moved in; on any failure
/// nothing is left in `dir`, nor any directory this created. Returns the path written.
fn extract_staged(pkg: &Package, i: usize, dir: &Path) -> Result<PathBuf> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let created: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|p| !p.as_os_str().is_empty() && std::fs::symlink_metadata(p).is_err())
        .map(Path::to_path_buf)
        .collect();
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let staging = parent.join(format!(
        ".{}.flavor-extract.{}",
        name.as_deref().unwrap_or("extract"),
        std::process::id()
    ));
    let result = (|| {
        std::fs::create_dir_all(&parent).map_err(|e| Failure::io(parent.display(), e))?;
        files::mkdir_private(&staging)?;
        let written = slots::extract(pkg, i, &staging, true)?;
        std::fs::create_dir_all(dir).map_err(|e| Failure::io(dir.display(), e))?;
        files::merge_tree(&staging, dir)?;
        let rel = written.strip_prefix(&staging).unwrap_or(Path::new(""));
        Ok(if rel.as_os_str().is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(rel)
        })
    })();
    let _ = files::remove_tree(&staging);
    if result.is_err() {
        for p in &created {
            let _ = std::fs::remove_dir(p);
        }
    }
    result
}

/// `println!` that ignores a closed or failing stdout (`info | head -1` must not panic).
macro_rules! say {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

pub fn run(args: Vec<OsString>) -> Result<u8> {
    let mut args = args.into_iter();
    let command = args
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "info".into());
    match command.as_str() {
        "info" => {
            let (exe, pkg) = open()?;
            let meta = pkg.metadata()?;
            say!("package   {} {}", meta.package.name, meta.package.version);
            say!("file      {} ({} bytes)", exe.display(), pkg.file_len());
            say!("command   {}", meta.execution.command);
            let key = pspf::keys::Fingerprint::of(&pkg.index().public_key());
            say!("key       {key} (fingerprint)");
            say!("cache     {}", crate::config::cache_root().display());
            for (i, s) in meta.slots.iter().enumerate() {
                let codec = pkg.slot_codec(i).map(|c| c.name()).unwrap_or("?");
                say!(
                    "slot {i}    {} ({codec}, {}) → {}",
                    s.id,
                    s.lifecycle,
                    s.target
                );
            }
            Ok(0)
        }
        "verify" => {
            let (_, pkg) = open()?;
            let report = pkg.verify(&VerifyOptions {
                trusted_keys: checks::trusted_keys(),
                skip_slots: false,
            });
            for c in &report.checks {
                let slot = c.slot.as_ref().map(|s| format!(" [slot {} {}]", s.0, s.1));
                let what = format!("{}{}", c.name, slot.unwrap_or_default());
                match &c.outcome {
                    Outcome::Pass => say!("✓ {what}"),
                    Outcome::Fail(e) => say!("✗ {what}: {e}"),
                    Outcome::Skipped(why) => say!("- {what}: {why}"),
                }
            }
            Ok(if report.is_ok() { 0 } else { exit::INTEGRITY })
        }
        "metadata" => {
            let (_, pkg) = open()?;
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(pkg.metadata_json()?);
            let _ = out.write_all(b"\n");
            Ok(0)
        }
        "extract" => {
            let (slot, dir) = match (args.next(), args.next()) {
                (Some(s), Some(d)) => (s.to_string_lossy().into_owned(), PathBuf::from(d)),
                _ => {
                    return Err(Failure::new(
                        exit::USAGE,
                        "usage: extract <slot number or id> <dir>",
                    ));
                }
            };
            let (_, pkg) = open()?;
            let i = pkg.find_slot(&slot).ok_or_else(|| {
                Failure::new(exit::USAGE, format!("no slot {slot:?} in this package"))
            })?;
            checks::verify_to_extract(&pkg, Validation::from_env())?;
            let written = extract_staged(&pkg, i, &dir).map_err(|mut f| {
                f.message = format!("extracting slot {slot}: {}", f.message);
                f
            })?;
            say!("{}", written.display());
            Ok(0)
        }
        "run" => launch(args.collect()),
        "help" | "--help" | "-h" => {
            // The identity line also keeps the codec list in the binary, where `flavor
            // launcher add` reads it.
            say!("{HELP}\n\n{}", pspf::identity::LAUNCHER_IDENTITY);
            Ok(0)
        }
        other => Err(Failure::new(
            exit::USAGE,
            format!("unknown CLI-mode command {other:?}; try FLAVOR_LAUNCHER_CLI=1 <package> help"),
        )),
    }
}
