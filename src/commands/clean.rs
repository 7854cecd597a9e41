//! `flavor clean`: remove the workspace's build outputs and its build cache.
//!
//! Build outputs are the package files the manifests name (DESIGN.md §2: `dist/<name>.psp`
//! beside a manifest without `[[target]]`, else each target's `output`, by default
//! `dist/<name>-<target>.psp`); a file there that is not a PSPF package is left alone. An
//! emptied `dist/` goes too. The build cache is `.flavor/cache` at the workspace root, removed
//! whole; a cache named by `$FLAVOR_BUILD_CACHE` loses only the entries flavor writes there.

use crate::build_cache::BuildCache;
use crate::diagnostics::report_manifest_errors;
use crate::messages::{CleanOutcome, RemovedFile, SkippedFile, print_document};
use crate::report::human_bytes;
use anyhow::{Context, bail};
use flavor_rules::Manifest;
use std::fs;
use std::path::{Path, PathBuf};
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

/// The package files a manifest's build writes.
fn output_paths(m: &Manifest) -> Vec<PathBuf> {
    let Some(pkg) = &m.package else {
        return Vec::new();
    };
    let dist = m.dir.join("dist");
    if pkg.targets.is_empty() {
        return vec![dist.join(format!("{}.psp", pkg.name.value))];
    }
    pkg.targets
        .iter()
        .map(|t| match &t.output {
            Some(o) => m.dir.join(&o.value),
            None => dist.join(format!("{}-{}.psp", pkg.name.value, t.name.value)),
        })
        .collect()
}

fn is_package(path: &Path) -> bool {
    fs::File::open(path).is_ok_and(|f| pspf::read_trailer(&f).is_ok())
}

fn display(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let ws = match flavor_rules::workspace::load(&std::env::current_dir()?) {
        Ok(ws) => ws,
        Err(errors) => {
            report_manifest_errors(&errors, args.json);
            bail!("cannot load the workspace, so nothing was removed");
        }
    };
    let mut removed: Vec<(PathBuf, u64)> = Vec::new();
    let mut skipped: Vec<(PathBuf, &str)> = Vec::new();
    let mut dists = Vec::new();
    for m in &ws.packages {
        for path in output_paths(m) {
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() || !is_package(&path) {
                skipped.push((path, "not a PSPF package; left alone"));
                continue;
            }
            if !args.dry_run {
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
            removed.push((path, meta.len()));
        }
        dists.push(m.dir.join("dist"));
    }
    if !args.dry_run {
        for d in dists {
            // Only when empty: anything else in dist/ is not ours to delete.
            let _ = fs::remove_dir(d);
        }
    }

    let build_cache = BuildCache::for_workspace(&ws.root);
    let cache = build_cache.dir().to_path_buf();
    let mut cache_bytes = 0;
    if cache.is_dir() {
        cache_bytes = build_cache.disk_usage();
        if !args.dry_run {
            if cache == BuildCache::default_for(&ws.root).dir() {
                fs::remove_dir_all(&cache)
                    .with_context(|| format!("removing {}", cache.display()))?;
                let _ = fs::remove_dir(ws.root.join(".flavor"));
            } else {
                build_cache
                    .remove_flavor_entries()
                    .with_context(|| format!("cleaning {}", cache.display()))?;
            }
        }
    }

    if args.json {
        print_document(&CleanOutcome {
            dry_run: args.dry_run,
            removed: removed
                .iter()
                .map(|(path, bytes)| RemovedFile {
                    path: path.clone(),
                    bytes: *bytes,
                })
                .collect(),
            skipped: skipped
                .iter()
                .map(|(path, reason)| SkippedFile {
                    path: path.clone(),
                    reason: reason.to_string(),
                })
                .collect(),
            cache,
            cache_bytes,
        });
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for (p, n) in &removed {
        println!("{verb} {} ({})", display(p), human_bytes(*n));
    }
    for (p, why) in &skipped {
        println!("skipped {}: {why}", display(p));
    }
    if cache_bytes > 0 || cache.exists() {
        println!(
            "{verb} build cache {} ({})",
            display(&cache),
            human_bytes(cache_bytes)
        );
    }
    if removed.is_empty() && cache_bytes == 0 {
        println!("nothing to clean");
    }
    Ok(ExitCode::SUCCESS)
}
