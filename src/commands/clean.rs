//! `flavor clean`: remove the workspace's build outputs and its build cache.
//!
//! Build outputs are the package files the manifests name, found by the planner's own
//! [`output_paths`] (`dist/<name>.psp` beside a manifest without `[[target]]`, else each
//! target's `output`, by default `dist/<name>-<target>[-<platform>].psp`); a file there that is
//! not a PSPF package is left alone. An emptied `dist/` goes too. The build cache is `.flavor/cache` at the workspace root, removed
//! whole; a cache named by `$FLAVOR_BUILD_CACHE` loses only the entries flavor writes there.

use crate::build_cache::BuildCache;
use crate::diagnostics::load_workspace;
use crate::messages::{CleanOutcome, RemovedFile, SkippedFile, print_document};
use crate::report::human_bytes;
use anyhow::Context;
use flavor_rules::plan::output_paths;
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ws = load_workspace(&std::env::current_dir()?, args.json)
        .context("cannot load the workspace, so nothing was removed")?;
    let (removed, skipped) = remove_packages(&ws, args.dry_run)?;
    let cache = BuildCache::for_workspace(&ws.root);
    let cache_bytes = if cache.dir().is_dir() {
        cache.disk_usage()
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
        print_document(&outcome);
    } else {
        print_human(&outcome);
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
        for path in output_paths(m)? {
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
            // Only when empty: anything else in dist/ is not ours to delete.
            let _ = fs::remove_dir(m.dir.join("dist"));
        }
    }
    Ok((removed, skipped))
}

fn print_human(outcome: &CleanOutcome) {
    let verb = if outcome.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for f in &outcome.removed {
        println!("{verb} {} ({})", display(&f.path), human_bytes(f.bytes));
    }
    for f in &outcome.skipped {
        println!("skipped {}: {}", display(&f.path), f.reason);
    }
    if outcome.cache_bytes > 0 || outcome.cache.exists() {
        println!(
            "{verb} build cache {} ({})",
            display(&outcome.cache),
            human_bytes(outcome.cache_bytes)
        );
    }
    if outcome.removed.is_empty() && outcome.cache_bytes == 0 {
        println!("nothing to clean");
    }
}
