//! `flavor extract PKG SLOT DIR` and `flavor extract-all PKG DIR`: decode slots into a new
//! directory, exactly as the launcher would unpack them.
//!
//! The index, metadata and signature are checked first; each slot is then decoded and its
//! digests checked while it streams, with the launcher's traversal safety (pspf's
//! `Package::extract_slot`: nothing lands outside DIR, no writes through symbolic links). All
//! of it goes into a private directory beside DIR that is renamed to DIR only when every slot
//! succeeded, so an error never leaves half-written output behind.

use crate::messages::{ExtractReport, ExtractedSlot, print_document};
use crate::stdout::outln;
use anyhow::{Context, bail};
use flavor_workenv::files::remove_tree;
use pspf::{Package, VerifyOptions};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The package.
    package: PathBuf,
    /// The slot: its number or its id (as `flavor inspect` shows them).
    slot: String,
    /// Directory to create: a tar slot is unpacked into it, a file slot lands at DIR/<target>.
    dir: PathBuf,
    /// Replace DIR if it already exists and is not empty.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct AllArgs {
    /// The package.
    package: PathBuf,
    /// Directory to create: every slot lands there as in the package's work environment.
    dir: PathBuf,
    /// Replace DIR if it already exists and is not empty.
    #[arg(long)]
    force: bool,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

/// Open `path` and refuse it unless its index, metadata and signature check out (slot
/// digests are checked while the slots stream).
fn open_verified(path: &Path) -> anyhow::Result<Package> {
    if !path.is_file() {
        bail!("{}: no such file", path.display());
    }
    let pkg = Package::open(path).with_context(|| path.display().to_string())?;
    let report = pkg.verify(&VerifyOptions {
        trusted_keys: Vec::new(),
        skip_slots: true,
    });
    if let Some(e) = report.failures().next() {
        bail!(
            "{}: {e}; refusing to extract from a damaged package (`flavor verify` shows every check)",
            path.display()
        );
    }
    Ok(pkg)
}

/// Whether `dir` exists as anything but an empty directory.
fn occupied(dir: &Path) -> bool {
    match fs::symlink_metadata(dir) {
        Err(_) => false,
        Ok(m) if m.is_dir() => fs::read_dir(dir).map_or(true, |mut rd| rd.next().is_some()),
        Ok(_) => true,
    }
}

/// A private staging directory beside `dir`, published by [`Staging::publish`] or removed
/// (with any parent directories it had to create) when dropped.
struct Staging {
    tmp: Option<tempfile::TempDir>,
    created_parents: Vec<PathBuf>,
}

impl Staging {
    fn beside(dir: &Path) -> anyhow::Result<Staging> {
        let parent = match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let created_parents: Vec<PathBuf> = parent
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
            .map(Path::to_path_buf)
            .collect();
        fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "extract".into());
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.flavor-extract-"))
            .tempdir_in(&parent)
            .with_context(|| format!("creating a staging directory in {}", parent.display()))?;
        Ok(Staging {
            tmp: Some(tmp),
            created_parents,
        })
    }

    fn path(&self) -> &Path {
        self.tmp.as_ref().map(|t| t.path()).unwrap_or(Path::new(""))
    }

    /// Rename the staging directory to `dir` (moving an existing `dir` aside first when
    /// `force`, and deleting it once the new one is in place).
    fn publish(mut self, dir: &Path, force: bool) -> anyhow::Result<()> {
        let tmp = self
            .tmp
            .take()
            .context("staging directory already published")?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))?;
        let staged = tmp.keep();
        let result = (|| {
            if !occupied(dir) {
                return fs::rename(&staged, dir)
                    .with_context(|| format!("moving the output into place at {}", dir.display()));
            }
            if !force {
                bail!(
                    "{} appeared while extracting; nothing was changed",
                    dir.display()
                );
            }
            let mut aside = staged.clone().into_os_string();
            aside.push(".old");
            let aside = PathBuf::from(aside);
            fs::rename(dir, &aside)
                .with_context(|| format!("moving the old {} aside", dir.display()))?;
            if let Err(e) = fs::rename(&staged, dir) {
                let _ = fs::rename(&aside, dir);
                return Err(e).with_context(|| format!("replacing {}", dir.display()));
            }
            remove_tree(&aside).with_context(|| format!("removing the old {}", dir.display()))
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&staged);
        }
        self.created_parents.clear();
        result
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        drop(self.tmp.take());
        for p in &self.created_parents {
            let _ = fs::remove_dir(p);
        }
    }
}

fn slot_id(pkg: &Package, i: usize) -> String {
    pkg.slot_metadata(i)
        .map(|m| m.id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| i.to_string())
}

/// Extract `slots` of the package at `path` into a new `dir`.
fn extract(
    path: &Path,
    slots: impl FnOnce(&Package) -> anyhow::Result<Vec<usize>>,
    dir: &Path,
    force: bool,
) -> anyhow::Result<Vec<ExtractedSlot>> {
    if dir.file_name().is_none()
        || std::env::current_dir()
            .ok()
            .zip(dir.canonicalize().ok())
            .is_some_and(|(cwd, d)| cwd.starts_with(d))
    {
        bail!(
            "{}: refusing to extract over the current directory or one of its parents; name a \
             new directory",
            dir.display()
        );
    }
    if occupied(dir) && !force {
        bail!(
            "{} already exists and is not empty; use --force to replace it",
            dir.display()
        );
    }
    let pkg = open_verified(path)?;
    let slots = slots(&pkg)?;
    let staging = Staging::beside(dir)?;
    let mut written = Vec::new();
    for i in slots {
        let id = slot_id(&pkg, i);
        let codec = pkg
            .slot_codec(i)
            .map(|c| c.name().to_string())
            .unwrap_or_else(|_| "?".into());
        let out = pkg
            .extract_slot(i, staging.path())
            .with_context(|| format!("{}: slot {i} ({id})", path.display()))?;
        let rel = out
            .strip_prefix(staging.path())
            .map(Path::to_path_buf)
            .unwrap_or_default();
        written.push(ExtractedSlot {
            slot: i,
            id,
            codec,
            path: if rel.as_os_str().is_empty() {
                dir.to_path_buf()
            } else {
                dir.join(rel)
            },
        });
    }
    staging.publish(dir, force)?;
    Ok(written)
}

fn report(
    package: &Path,
    dir: &Path,
    written: Vec<ExtractedSlot>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        return print_document(&ExtractReport {
            package: package.to_path_buf(),
            dir: dir.to_path_buf(),
            slots: written,
        });
    }
    for w in &written {
        outln!(
            "slot {} {} ({}) → {}",
            w.slot,
            w.id,
            w.codec,
            w.path.display()
        )?;
    }
    if written.is_empty() {
        outln!("no slots; created {}", dir.display())?;
    }
    Ok(())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let wanted = args.slot.clone();
    let package = args.package.clone();
    let written = extract(
        &args.package,
        |pkg| match pkg.find_slot(&wanted) {
            Some(i) => Ok(vec![i]),
            None => {
                let ids: Vec<String> = (0..pkg.slot_count())
                    .map(|i| format!("{i} ({})", slot_id(pkg, i)))
                    .collect();
                bail!(
                    "{}: no slot {wanted:?}; the package has {}",
                    package.display(),
                    if ids.is_empty() {
                        "no slots".to_string()
                    } else {
                        ids.join(", ")
                    }
                )
            }
        },
        &args.dir,
        args.force,
    )?;
    report(&args.package, &args.dir, written, args.json)?;
    Ok(ExitCode::SUCCESS)
}

pub fn run_all(args: AllArgs) -> anyhow::Result<ExitCode> {
    let written = extract(
        &args.package,
        |pkg| {
            // As the launcher does: a slot that refers to the package itself is not unpacked.
            Ok((0..pkg.slot_count())
                .filter(|&i| pkg.slot_metadata(i).and_then(|m| m.self_ref) != Some(true))
                .collect())
        },
        &args.dir,
        args.force,
    )?;
    report(&args.package, &args.dir, written, args.json)?;
    Ok(ExitCode::SUCCESS)
}
