//! `flavor workenv clean`: what is broken, unused or surplus, removed (or, with --dry-run,
//! listed). Surplus: the builds of a workenv beyond the newest `--keep` (the rule the launcher
//! applies after each first run). Nothing in use is ever removed.

use super::CleanArgs;
use super::model::{VersionState, Workenv};
use super::removal::{IN_USE, Removal, apply, version_removal, whole};
use super::scan::scan;
use crate::messages::{CleanedEntry, WorkenvClean, print_document};
use crate::report::{ago, human_bytes, rfc3339, unix_seconds};
use crate::stdout::outln;
use flavor_workenv::files::disk_usage;
use flavor_workenv::prune;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// Why something unused goes: when it was last used (never the cutoff), against the limit.
fn unused_reason(last_use: Option<u64>, days: u64, now: u64) -> String {
    match last_use {
        Some(t) => format!(
            "last used {} ({}), not within {days} day{}",
            rfc3339(t),
            ago(t, now),
            if days == 1 { "" } else { "s" }
        ),
        None => "never used".to_string(),
    }
}

/// What `clean` removes from one workenv: everything, when unused or broken; else its
/// broken, unused and surplus builds and leftover staging directories.
fn plan_clean(w: &Workenv, args: &CleanArgs, now: u64) -> Vec<Removal> {
    let cutoff = args
        .older_than
        .map(|days| (days, now.saturating_sub(days.saturating_mul(86_400))));
    let unused = |t: Option<u64>| cutoff.is_some_and(|(_, c)| t.is_none_or(|t| t < c));
    let why_unused = |t: Option<u64>| unused_reason(t, cutoff.map_or(0, |(d, _)| d), now);
    if unused(w.last_use) {
        return vec![whole(w, why_unused(w.last_use))];
    }
    let any_complete = w.upstream_complete || w.versions.iter().any(|v| v.state.complete());
    if w.stale.is_some() && !any_complete {
        return vec![whole(w, w.stale.clone().unwrap_or_default())];
    }
    let current: Vec<&str> = w
        .versions
        .iter()
        .filter(|v| v.state == VersionState::Current)
        .map(|v| v.build.hash.as_str())
        .collect();
    let keep = args.keep.or_else(prune::keep_from_env);
    let surplus: Vec<String> = keep
        .map(|k| prune::surplus(&w.paths, k, &current))
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.hash)
        .collect();
    let mut out = Vec::new();
    for v in &w.versions {
        let reason = match &v.state {
            VersionState::Incomplete => Some("incomplete (an interrupted first run)".to_string()),
            VersionState::Damaged(why) => Some(format!("damaged: {why}")),
            _ if unused(v.last_use) => Some(why_unused(v.last_use)),
            _ if surplus.contains(&v.build.hash) => Some(format!(
                "older than the newest {} builds of {}",
                keep.unwrap_or_default(),
                w.paths.name
            )),
            _ => None,
        };
        if let Some(reason) = reason {
            out.push(version_removal(w, v, reason));
        }
    }
    if let Ok(rd) = fs::read_dir(w.paths.staging_parent()) {
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            out.push(Removal {
                name: w.paths.name.clone(),
                hash: f.split('.').next().map(str::to_string),
                reason: "leftover staging directory".into(),
                bytes: disk_usage(&e.path()),
                paths: vec![e.path()],
            });
        }
    }
    out
}

fn print_human(outcome: &WorkenvClean) -> anyhow::Result<()> {
    let verb = if outcome.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for r in &outcome.removed {
        let what = match &r.build {
            Some(h) => format!("{} (build {h})", r.name),
            None => r.name.clone(),
        };
        match r.skipped {
            None => outln!("{verb} {what}: {} — {}", human_bytes(r.bytes), r.reason)?,
            Some(why) => outln!("skipped {what}: {why}")?,
        }
    }
    outln!(
        "{} {} in {}",
        if outcome.dry_run {
            "would free"
        } else {
            "freed"
        },
        human_bytes(outcome.freed),
        outcome.root.display()
    )?;
    Ok(())
}

pub(super) fn clean(root: &Path, args: CleanArgs) -> anyhow::Result<ExitCode> {
    let now = unix_seconds(SystemTime::now());
    let mut removed = Vec::new();
    for w in scan(root)? {
        for r in plan_clean(&w, &args, now) {
            let hashes: Vec<&str> = match &r.hash {
                Some(h) => vec![h.as_str()],
                None => w.versions.iter().map(|v| v.build.hash.as_str()).collect(),
            };
            let ok = args.dry_run || apply(&w, &r, &hashes)?;
            removed.push(CleanedEntry {
                name: r.name,
                build: r.hash,
                reason: r.reason,
                bytes: r.bytes,
                removed: ok && !args.dry_run,
                skipped: (!ok).then_some(IN_USE),
            });
        }
    }
    let outcome = WorkenvClean {
        root: root.to_path_buf(),
        dry_run: args.dry_run,
        freed: removed
            .iter()
            .filter(|r| r.skipped.is_none())
            .map(|r| r.bytes)
            .sum(),
        removed,
    };
    if args.json {
        print_document(&outcome)?;
    } else {
        print_human(&outcome)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unused_build_is_reported_with_its_last_use_not_the_cutoff() {
        let now = 1_700_000_000;
        let reason = super::unused_reason(Some(now - 2 * 86_400), 0, now);
        assert_eq!(
            reason,
            "last used 2023-11-12T22:13:20Z (2 days ago), not within 0 days"
        );
        assert_eq!(super::unused_reason(None, 3, now), "never used");
    }
}
