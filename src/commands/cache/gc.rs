//! `flavor cache gc [--max-size SIZE] [--dry-run]`: plans the workspace's current manifests
//! (debug and release), keeps every cached result those plans would use, then other results
//! newest first while the cache stays within `--max-size` (default 0: only what the manifests
//! use), and deletes the rest — the engine's collector does the marking and sweeping, with
//! the key function its builds use. Launchers no plan reads and the remote cache's SHA-256
//! entries of deleted blobs go too. Nothing written after `gc` started is deleted, so a build
//! running at the same time keeps its results.

use crate::diagnostics::open_session;
use crate::messages::{GcOutcome, print_document};
use crate::options::GlobalArgs;
use crate::report::human_bytes;
use crate::stdout::outln;
use anyhow::Context;
use flavor_engine::GcOptions;
use flavor_remote::Sha256Index;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Keep results the manifests do not use, newest first, while the cache's blobs fit in
    /// SIZE (bytes, or with K, M, G, T: powers of 1024). Default: keep none of them.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_size: Option<u64>,
    /// Only say what would be deleted.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// `512`, `10K`, `1.5M`, `2G`, `1TiB` → bytes (powers of 1024).
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} (use K, M, G or T)")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 500M or 2G"))?;
    let bytes = value * factor as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    Ok(bytes as u64)
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let session = open_session(&global.start_dir()?, args.json)
        .context("cannot plan the workspace, so nothing was deleted")?;
    // Whatever a build running at the same time writes from here on survives.
    let mut collector = session
        .store
        .collector()
        .context("writing into the build cache")?;
    let plans = session
        .plans_of_everything()
        .context("planning the workspace (nothing was deleted)")?;
    for plan in &plans {
        for n in &plan.notices {
            crate::style::note(n);
        }
        let targets: Vec<_> = plan.outputs.iter().map(|o| o.action).collect();
        collector.mark(&plan.graph, &targets, &session.sources);
    }
    let _ = session.sources.save();
    let files = collector.live().files().clone();
    let options = GcOptions {
        max_size: args.max_size.unwrap_or(0),
        dry_run: args.dry_run,
    };
    let sweep = collector.sweep(&options)?;
    let launchers = session
        .cache
        .remove_launchers_except(|p| files.contains(p), args.dry_run)
        .context("removing old launchers")?;
    if !args.dry_run {
        Sha256Index::new(&session.cache.sha256_index_dir())
            .prune(&session.store)
            .context("pruning the remote cache's SHA-256 index")?;
    }
    let outcome = GcOutcome::new(
        session.cache.dir().to_path_buf(),
        &options,
        &sweep,
        launchers,
    );
    if args.json {
        print_document(&outcome)?;
        return Ok(ExitCode::SUCCESS);
    }
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    outln!(
        "{verb} {} cached results, {} blobs and {} old launchers: {}",
        outcome.removed_entries,
        outcome.removed_blobs,
        outcome.removed_launchers,
        human_bytes(outcome.freed)
    )?;
    outln!(
        "kept {} results ({} used by the current manifests), {} of blobs, in {}",
        outcome.kept_entries,
        outcome.used_by_manifests,
        human_bytes(outcome.kept_bytes),
        outcome.dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("10K"), Ok(10 * 1024));
        assert_eq!(parse_size("1.5m"), Ok(1024 * 1024 * 3 / 2));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("").is_err());
    }
}
