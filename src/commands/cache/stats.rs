//! `flavor cache stats [--json]`: entries, bytes, launchers, disk use and the last build's hit
//! rate.

use crate::build_cache::BuildCache;
use crate::diagnostics::load_workspace;
use crate::messages::{CacheStats, print_document};
use crate::options::GlobalArgs;
use crate::report::{ago, human_bytes, rfc3339, unix_seconds};
use crate::stdout::outln;
use anyhow::Context;
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(clap::Args)]
pub struct Args {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// The build cache of the workspace around the current directory (`$FLAVOR_BUILD_CACHE`
/// needs no workspace).
fn locate(global: &GlobalArgs) -> anyhow::Result<BuildCache> {
    if let Some(cache) = BuildCache::from_env() {
        return Ok(cache);
    }
    let ws = load_workspace(&global.start_dir()?, false)
        .context("cannot find the workspace's build cache (set FLAVOR_BUILD_CACHE to name one)")?;
    Ok(BuildCache::for_workspace(&ws.root))
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let cache = locate(global)?;
    let dir = cache.dir().to_path_buf();
    let store = match cache
        .existing_store()
        .with_context(|| format!("reading {}", dir.display()))?
    {
        Some(store) => store
            .stats()
            .with_context(|| format!("reading {}", dir.display()))?,
        None => Default::default(),
    };
    let launchers = cache.launchers();
    let stats = CacheStats {
        exists: dir.is_dir(),
        store,
        launchers: launchers.len(),
        launcher_bytes: launchers.iter().map(|(_, m)| m.len()).sum(),
        disk_bytes: flavor_workenv::files::disk_usage(cache.dir()),
        last_build: cache.last_build(),
        dir,
    };
    if args.json {
        print_document(&stats)?;
    } else {
        print_human(&stats)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(stats: &CacheStats) -> anyhow::Result<()> {
    outln!("build cache  {}", stats.dir.display())?;
    if !stats.exists {
        outln!("             (empty: nothing built here yet)")?;
        return Ok(());
    }
    outln!("entries      {} cached action results", stats.store.entries)?;
    outln!(
        "blobs        {} ({})",
        stats.store.blobs,
        human_bytes(stats.store.bytes)
    )?;
    outln!(
        "launchers    {} ({})",
        stats.launchers,
        human_bytes(stats.launcher_bytes)
    )?;
    outln!("on disk      {}", human_bytes(stats.disk_bytes))?;
    let Some(last) = &stats.last_build else {
        outln!("last build   (none recorded)")?;
        return Ok(());
    };
    let rate = last
        .hit_rate
        .map(|r| format!("hit rate {:.0}%", r * 100.0))
        .unwrap_or_else(|| "hit rate n/a".into());
    let remote = match last.remote_hits {
        0 => String::new(),
        n => format!(" ({n} from the remote cache)"),
    };
    outln!(
        "last build   {} ({}): {} built, {} cached{remote}, {} failed — {rate}",
        rfc3339(last.finished_at),
        ago(last.finished_at, unix_seconds(SystemTime::now())),
        last.built,
        last.cached,
        last.failed
    )?;
    Ok(())
}
