//! `flavor clean`: remove the workspace's build outputs and its build cache.
//!
//! Build outputs are the package files the manifests name, of debug and release builds
//! ([`flavor_rules::outputs`]: `dist/<name>.psp` and `dist/debug/<name>.psp` beside a
//! manifest without `[[target]]`, else each target's `output`, by default
//! `dist/<name>-<target>[-<platform>].psp`, and `debug/` beside it); a file there that is not a PSPF package
//! is left alone. Emptied `debug/` and `dist/` directories go too. The build cache is
//! `.flavor/cache` at the workspace root, removed whole; a cache named by
//! `$FLAVOR_BUILD_CACHE` loses only the entries flavor writes there.

use crate::build_cache::BuildCache;
use crate::diagnostics::load_workspace;
use crate::messages::{CleanOutcome, RemovedFile, SkippedFile, print_document};
use crate::options::GlobalArgs;
use crate::report::human_bytes;
use crate::stdout::outln;
use anyhow::Context;
use flavor_rules::outputs::all_package_paths;
use flavor_rules::workspace::Workspace;
use std::fs;
use std::path::Path;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Only say what would be removed.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Print what was removed as JSON.
    #[arg(long)]
    json: bool,
}

fn is_package(path: &Path) -> bool {
    fs::File::open(path).is_ok_and(|f| pspf::read_trailer(&f).is_ok())
}

fn display(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let ws = load_workspace(&global.start_dir()?, args.json)
        .context("cannot load the workspace, so nothing was removed")?;
    let (removed, skipped) = remove_packages(&ws, args.dry_run)?;
    let cache = BuildCache::for_workspace(&ws.root);
    let cache_bytes = if cache.dir().is_dir() {
        flavor_workenv::files::disk_usage(cache.dir())
    } else {
        0
    };
    if !args.dry_run {
        cache
            .clear(&ws.root)
            .with_context(|| format!("removing {}", cache.dir().display()))?;
    }
    let outcome = CleanOutcome {
        dry_run: args.dry_run,
        removed,
        skipped,
        cache: cache.dir().to_path_buf(),
        cache_bytes,
    };
    if args.json {
        print_document(&outcome)?;
    } else if !global.quiet {
        print_human(&outcome)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes (unless `dry_run`) the packages the manifests write, and `dist/` directories
/// that leaves empty; returns what was removed and what was left alone.
fn remove_packages(
    ws: &Workspace,
    dry_run: bool,
) -> anyhow::Result<(Vec<RemovedFile>, Vec<SkippedFile>)> {
    let (mut removed, mut skipped) = (Vec::new(), Vec::new());
    for m in &ws.packages {
        for path in all_package_paths(m) {
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() || !is_package(&path) {
                let reason = "not a PSPF package; left alone".to_string();
                skipped.push(SkippedFile { path, reason });
                continue;
            }
            if !dry_run {
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
            let bytes = meta.len();
            removed.push(RemovedFile { path, bytes });
        }
        if !dry_run {
            // Only when empty: anything else there is not ours to delete.
            for path in all_package_paths(m) {
                for dir in path.ancestors().skip(1).take(2) {
                    if dir.starts_with(&m.dir) && dir != m.dir {
                        let _ = fs::remove_dir(dir);
                    }
                }
            }
        }
    }
    Ok((removed, skipped))
}

fn print_human(outcome: &CleanOutcome) -> anyhow::Result<()> {
    let verb = if outcome.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for f in &outcome.removed {
        outln!("{verb} {} ({})", display(&f.path), human_bytes(f.bytes))?;
    }
    for f in &outcome.skipped {
        outln!("skipped {}: {}", display(&f.path), f.reason)?;
    }
    if outcome.cache_bytes > 0 || outcome.cache.exists() {
        outln!(
            "{verb} build cache {} ({})",
            display(&outcome.cache),
            human_bytes(outcome.cache_bytes)
        )?;
    }
    if outcome.removed.is_empty() && outcome.cache_bytes == 0 {
        outln!("nothing to clean")?;
    }
    Ok(())
}
