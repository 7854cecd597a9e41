//! `flavor cache stats` and `flavor cache gc [--max-size SIZE]`: the build cache.
//!
//! The build cache is `.flavor/cache` at the workspace root (or `$FLAVOR_BUILD_CACHE`): the
//! engine's action cache (`ac/`), its content-addressed blobs (`cas/`), the builtin launcher
//! (`launchers/`), source digests, and `last-build.json`, the summary of the last build that
//! [`record_last_build`] writes. `gc` plans the workspace's current manifests (debug and
//! release), keeps every cached result that plan would use, then keeps other results newest
//! first while the cache stays within `--max-size` (default 0: only what the manifests use),
//! and deletes the rest. Nothing written after `gc` started is deleted, so a build running at
//! the same time keeps its results.

use super::build::{Session, report_manifest_errors};
use crate::report::{ago, human_bytes, print_json, rfc3339, unix_seconds};
use anyhow::{Context, bail};
use flavor_engine::{ActionId, ActionResult, Digest, Input, LocalStore, Report, Store, action_key};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

/// The file in the build cache that holds the summary of the last build.
pub const LAST_BUILD: &str = "last-build.json";

/// Record the summary of a finished build in `cache_dir/last-build.json` (best effort: a
/// build never fails because of it).
pub fn record_last_build(cache_dir: &Path, report: &Report) {
    let (built, cached) = (report.built(), report.cached());
    let summary = json!({
        "finished_at": unix_seconds(SystemTime::now()),
        "ok": report.is_ok(),
        "actions": report.actions.len(),
        "built": built,
        "cached": cached,
        "remote_hits": report.remote_hits(),
        "failed": report.failed().len(),
        "skipped": report.skipped(),
        "seconds": report.duration.as_secs_f64(),
        "hit_rate": (built + cached > 0).then(|| cached as f64 / (built + cached) as f64),
    });
    let write = || -> std::io::Result<()> {
        fs::create_dir_all(cache_dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(cache_dir)?;
        tmp.write_all(serde_json::to_string_pretty(&summary)?.as_bytes())?;
        tmp.persist(cache_dir.join(LAST_BUILD))?;
        Ok(())
    };
    let _ = write();
}

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(clap::Subcommand)]
enum CacheCommand {
    /// Entries, bytes, and the hit rate of the last build.
    ///
    /// Example: flavor cache stats --json
    Stats(StatsArgs),
    /// Delete cached results the current manifests no longer use (keeping the newest others
    /// within --max-size).
    ///
    /// Example: flavor cache gc --max-size 2G
    Gc(GcArgs),
    /// Upload the results the current manifests use (debug and release builds, as far as the
    /// local cache has them) to the shared remote cache, e.g. to seed it from a machine whose
    /// cache was warm before the remote was set up.
    ///
    /// Example: flavor cache push --remote-cache http://cache.internal:8080/flavor
    Push(super::cache_push::Args),
}

#[derive(clap::Args)]
struct StatsArgs {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct GcArgs {
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
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
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

/// The build cache directory of the workspace around the current directory.
pub(crate) fn cache_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("FLAVOR_BUILD_CACHE").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    match flavor_rules::workspace::load(&std::env::current_dir()?) {
        Ok(ws) => Ok(super::build::build_cache_dir(&ws.root)),
        Err(errors) => {
            report_manifest_errors(&errors, false);
            bail!("cannot find the workspace's build cache (set FLAVOR_BUILD_CACHE to name one)")
        }
    }
}

fn files_in(dir: &Path) -> Vec<(PathBuf, fs::Metadata)> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| Some((e.path(), fs::symlink_metadata(e.path()).ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let dir = cache_dir()?;
    let exists = dir.is_dir();
    let store_stats = if dir.join("ac").is_dir() && dir.join("cas").is_dir() {
        LocalStore::open(&dir)
            .and_then(|s| s.stats())
            .with_context(|| format!("reading {}", dir.display()))?
    } else {
        Default::default()
    };
    let launchers = files_in(&dir.join("launchers"));
    let launcher_bytes: u64 = launchers.iter().map(|(_, m)| m.len()).sum();
    let disk = super::workenv::disk_usage(&dir);
    let last: Option<Value> = fs::read(dir.join(LAST_BUILD))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if args.json {
        print_json(&json!({
            "dir": dir.display().to_string(),
            "exists": exists,
            "entries": store_stats.entries,
            "blobs": store_stats.blobs,
            "bytes": store_stats.bytes,
            "launchers": launchers.len(),
            "launcher_bytes": launcher_bytes,
            "disk_bytes": disk,
            "last_build": last,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    println!("build cache  {}", dir.display());
    if !exists {
        println!("             (empty: nothing built here yet)");
        return Ok(ExitCode::SUCCESS);
    }
    println!("entries      {} cached action results", store_stats.entries);
    println!(
        "blobs        {} ({})",
        store_stats.blobs,
        human_bytes(store_stats.bytes)
    );
    println!(
        "launchers    {} ({})",
        launchers.len(),
        human_bytes(launcher_bytes)
    );
    println!("on disk      {}", human_bytes(disk));
    match &last {
        Some(l) => {
            let at = l["finished_at"].as_u64().unwrap_or(0);
            let rate = l["hit_rate"]
                .as_f64()
                .map(|r| format!("hit rate {:.0}%", r * 100.0))
                .unwrap_or_else(|| "hit rate n/a".into());
            let remote = match l["remote_hits"].as_u64() {
                Some(n) if n > 0 => format!(" ({n} from the remote cache)"),
                _ => String::new(),
            };
            println!(
                "last build   {} ({}): {} built, {} cached{remote}, {} failed — {rate}",
                rfc3339(at),
                ago(at, unix_seconds(SystemTime::now())),
                l["built"],
                l["cached"],
                l["failed"]
            );
        }
        None => println!("last build   (none recorded)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// What the current manifests use: action keys, blobs and launcher files.
#[derive(Default)]
pub(super) struct Live {
    pub(super) keys: HashSet<Digest>,
    pub(super) blobs: HashSet<Digest>,
    pub(super) launchers: HashSet<PathBuf>,
}

/// Walk a plan's actions in dependency order, computing each action key the way the engine
/// does, and record the results the cache holds for them.
pub(super) fn mark_live(session: &Session, plan: &flavor_rules::plan::BuildPlan, live: &mut Live) {
    let launchers = session.cache_dir.join("launchers");
    let targets: Vec<ActionId> = plan.outputs.iter().map(|o| o.action).collect();
    let mut ids = plan.graph.closure(&targets);
    ids.sort();
    let mut resolved: HashMap<ActionId, Vec<Digest>> = HashMap::new();
    for id in ids {
        let action = plan.graph.action(id);
        let mut digests = Vec::new();
        for input in action.inputs() {
            let digest = match input {
                Input::File(path) => {
                    if path.starts_with(&launchers) {
                        live.launchers.insert(path.clone());
                    }
                    session.sources.digest(&path).ok()
                }
                Input::Output { action, index } => {
                    resolved.get(&action).and_then(|o| o.get(index)).copied()
                }
            };
            match digest {
                Some(d) => digests.push(d),
                None => break,
            }
        }
        if digests.len() != action.inputs().len() {
            continue;
        }
        let key = action_key(action, &digests);
        if let Some(result) = session.store.get_action(&key) {
            let outputs: Vec<Digest> = result.outputs.iter().map(|(d, _)| *d).collect();
            live.keys.insert(key);
            live.blobs.extend(outputs.iter().copied());
            resolved.insert(id, outputs);
        }
    }
}

/// An action cache entry on disk.
struct Entry {
    path: PathBuf,
    key: Option<Digest>,
    modified: SystemTime,
    /// The output digests; `None` when the entry is unreadable.
    outputs: Option<Vec<Digest>>,
}

fn gc(args: GcArgs) -> anyhow::Result<ExitCode> {
    let session = match Session::open(&std::env::current_dir()?) {
        Ok(s) => s,
        Err(errors) => {
            report_manifest_errors(&errors, args.json);
            bail!("cannot plan the workspace, so nothing was deleted");
        }
    };
    // "Now" on the cache's own filesystem clock: whatever is written from here on (by a build
    // running at the same time) is never deleted.
    let started = {
        let marker = tempfile::NamedTempFile::new_in(session.store.tmp_dir())
            .context("writing into the build cache")?;
        marker.as_file().metadata()?.modified()?
    };
    let names: Vec<String> = session
        .workspace
        .packages
        .iter()
        .filter_map(|m| m.package.as_ref().map(|p| p.name.value.clone()))
        .collect();
    let mut live = Live::default();
    for release in [false, true] {
        let plan = session
            .plan_only(&names, release)
            .context("planning the workspace (nothing was deleted)")?;
        for n in &plan.notices {
            eprintln!("note: {n}");
        }
        mark_live(&session, &plan, &mut live);
    }
    let _ = session.sources.save();
    let dir = session.cache_dir.clone();

    // Every action cache entry and blob on disk.
    let mut entries: Vec<Entry> = files_in(&dir.join("ac"))
        .into_iter()
        .filter(|(_, m)| m.is_file())
        .map(|(path, m)| {
            let key = path
                .file_name()
                .and_then(|f| Digest::from_hex(&f.to_string_lossy()).ok());
            let outputs = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<ActionResult>(&b).ok())
                .map(|r| r.outputs.into_iter().map(|(d, _)| d).collect());
            Entry {
                modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                path,
                key,
                outputs,
            }
        })
        .collect();
    let mut blobs: HashMap<Digest, (PathBuf, u64, SystemTime)> = HashMap::new();
    for (shard, m) in files_in(&dir.join("cas")) {
        if !m.is_dir() {
            continue;
        }
        for (path, m) in files_in(&shard) {
            if let Some(d) = path
                .file_name()
                .and_then(|f| Digest::from_hex(&f.to_string_lossy()).ok())
            {
                let modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                blobs.insert(d, (path, m.len(), modified));
            }
        }
    }

    // Keep what the manifests use, then the newest others while within the size.
    let limit = args.max_size.unwrap_or(0);
    let mut kept_blobs: HashSet<Digest> = live.blobs.clone();
    let size_of = |set: &HashSet<Digest>| -> u64 {
        set.iter()
            .filter_map(|d| blobs.get(d).map(|(_, len, _)| *len))
            .sum()
    };
    let mut kept_bytes = size_of(&kept_blobs);
    entries.sort_by_key(|e| std::cmp::Reverse(e.modified));
    let total_entries = entries.len();
    let mut drop_entries = Vec::new();
    let mut full = false;
    for e in entries {
        let used = e.key.is_some_and(|k| live.keys.contains(&k));
        let recent = e.modified >= started;
        if !(used || recent) {
            if full || e.key.is_none() || e.outputs.is_none() {
                drop_entries.push(e);
                continue;
            }
            let extra: u64 = e
                .outputs
                .iter()
                .flatten()
                .filter(|d| !kept_blobs.contains(d))
                .filter_map(|d| blobs.get(d).map(|(_, len, _)| *len))
                .sum();
            if kept_bytes.saturating_add(extra) > limit {
                full = true;
                drop_entries.push(e);
                continue;
            }
        }
        for d in e.outputs.iter().flatten() {
            if kept_blobs.insert(*d) {
                kept_bytes += blobs.get(d).map_or(0, |(_, len, _)| *len);
            }
        }
    }
    let drop_blobs: Vec<(PathBuf, u64)> = blobs
        .iter()
        .filter(|(d, (_, _, modified))| !kept_blobs.contains(d) && *modified < started)
        .map(|(_, (path, len, _))| (path.clone(), *len))
        .collect();
    let old = |m: &fs::Metadata, age: u64| {
        m.modified()
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|e| e.as_secs() >= age)
    };
    let drop_launchers: Vec<(PathBuf, u64)> = files_in(&dir.join("launchers"))
        .into_iter()
        .filter(|(p, m)| !live.launchers.contains(p) && old(m, 2))
        .map(|(p, m)| (p, m.len()))
        .collect();
    // Temporary files of builds that died: anything an hour old.
    let drop_tmp: Vec<PathBuf> = files_in(&dir.join("tmp"))
        .into_iter()
        .filter(|(_, m)| old(m, 3600))
        .map(|(p, _)| p)
        .collect();

    if !args.dry_run {
        for e in &drop_entries {
            super::extract::remove_any(&e.path)
                .with_context(|| format!("removing {}", e.path.display()))?;
        }
        for (p, _) in drop_blobs.iter().chain(&drop_launchers) {
            super::extract::remove_any(p).with_context(|| format!("removing {}", p.display()))?;
        }
        for p in &drop_tmp {
            super::extract::remove_any(p).with_context(|| format!("removing {}", p.display()))?;
        }
    }
    let freed: u64 = drop_blobs
        .iter()
        .chain(&drop_launchers)
        .map(|(_, len)| len)
        .sum();
    let kept_entries = total_entries - drop_entries.len();
    if args.json {
        print_json(&json!({
            "dir": dir.display().to_string(),
            "dry_run": args.dry_run,
            "max_size": limit,
            "used_by_manifests": live.keys.len(),
            "removed_entries": drop_entries.len(),
            "removed_blobs": drop_blobs.len(),
            "removed_launchers": drop_launchers.len(),
            "freed": freed,
            "kept_entries": kept_entries,
            "kept_bytes": kept_bytes,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    println!(
        "{verb} {} cached results, {} blobs and {} old launchers: {}",
        drop_entries.len(),
        drop_blobs.len(),
        drop_launchers.len(),
        human_bytes(freed)
    );
    println!(
        "kept {} results ({} used by the current manifests), {} of blobs, in {}",
        kept_entries,
        live.keys.len(),
        human_bytes(kept_bytes),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        CacheCommand::Stats(a) => stats(a),
        CacheCommand::Gc(a) => gc(a),
        CacheCommand::Push(a) => super::cache_push::run(a),
    }
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
