//! `flavor workenv list|info NAME|clean [--older-than DAYS]|remove NAME`: the work
//! environments that launchers unpacked into the cache root.
//!
//! The cache root, the on-disk layout and the exec plan come from the `flavor-workenv` crate,
//! the one the launcher links, so this command finds and reads exactly what launchers write
//! (`$FLAVOR_CACHE`, else the grandparent of `$FLAVOR_WORKENV`, else `$XDG_CACHE_HOME/flavor`,
//! else `~/.cache/flavor`, else `<temp dir>/flavor`). Two layouts live under
//! `<root>/workenv/`:
//!
//! - flavor's: `<name>` is a symbolic link to `.<name>.pspf/versions/<hash>/`, one directory per
//!   package build, each complete once `versions/<hash>.ready` (the exec plan) exists;
//! - upstream FlavorPack's: `<name>/` is the workenv itself, complete once
//!   `.<name>.pspf/instance/extract/complete` exists.
//!
//! Both keep `.<name>.pspf/package/psp.json` (the metadata of the package in use). "Last use"
//! of a flavor build is the time its lock file `versions/<hash>.lock` was last touched: every
//! launch sets it (see `flavor_workenv::usage`). Upstream launchers record no use, so for
//! their workenvs it is the newest access or change time of the markers a launch reads (exact
//! to the day under `relatime`; flavor reads them with `O_NOATIME`, so looking does not count
//! as using). Nothing in use is removed: a process running from a flavor build, or a launcher
//! unpacking it, holds its lock (`flock` on `versions/<hash>.lock`), and upstream's lock file
//! (`instance/extract/lock` naming a live process) is respected.

mod clean;
mod disk;
mod model;
mod removal;
mod remove;
mod scan;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The launcher cache root (default: found as the launcher finds it).
    #[arg(long, value_name = "DIR", global = true)]
    cache: Option<PathBuf>,
    #[command(subcommand)]
    command: WorkenvCommand,
}

#[derive(clap::Subcommand)]
enum WorkenvCommand {
    /// Every workenv: name, package version, size on disk, last use, valid or stale.
    ///
    /// Example: flavor workenv list --json
    List(ListArgs),
    /// One workenv in detail, with every package build it holds.
    ///
    /// Example: flavor workenv info hello
    Info(NameArgs),
    /// Remove what is broken (interrupted first runs, damaged builds, leftovers), builds
    /// beyond the newest --keep of each workenv and, with --older-than, whatever was not used
    /// for that many days. Nothing in use is removed.
    ///
    /// Example: flavor workenv clean --older-than 30
    Clean(CleanArgs),
    /// Remove one workenv entirely; its package unpacks again on its next run.
    ///
    /// Example: flavor workenv remove hello
    Remove(NameArgs),
}

#[derive(clap::Args)]
struct ListArgs {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct NameArgs {
    /// The workenv: a package's file name without `.psp` (a package path works too).
    name: String,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CleanArgs {
    /// Also remove workenvs and package builds not used for this many days.
    #[arg(long, value_name = "DAYS")]
    older_than: Option<u64>,
    /// Keep at most this many builds of each workenv, the newest by last use (default:
    /// $FLAVOR_WORKENV_KEEP, else 3 — what launchers keep).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    keep: Option<usize>,
    /// Only say what would be removed.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = args
        .cache
        .clone()
        .unwrap_or_else(flavor_workenv::dirs::cache_root);
    match args.command {
        WorkenvCommand::List(a) => show::list(&root, a),
        WorkenvCommand::Info(a) => show::info(&root, a),
        WorkenvCommand::Clean(a) => clean::clean(&root, a),
        WorkenvCommand::Remove(a) => remove::remove(&root, a),
    }
}
