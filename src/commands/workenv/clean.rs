//! `flavor workenv clean`: what is broken or unused, removed (or, with --dry-run, listed).

use super::CleanArgs;
use super::disk::disk_usage;
use super::model::{VersionState, Workenv};
use super::removal::{Removal, apply, version_removal, whole};
use super::scan::scan;
use crate::report::{human_bytes, print_json, rfc3339, unix_seconds};
use serde_json::json;
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

/// What `clean` removes from one workenv.
fn plan_clean(w: &Workenv, cutoff: Option<u64>) -> Vec<Removal> {
    let unused = |t: Option<u64>| cutoff.is_some_and(|c| t.is_none_or(|t| t < c));
    let not_used = cutoff
        .map(|c| format!("not used since {}", rfc3339(c)))
        .unwrap_or_default();
    if unused(w.last_use) {
        return vec![whole(w, not_used)];
    }
    let any_complete = w.upstream_complete || w.versions.iter().any(|v| v.state.complete());
    if w.stale.is_some() && !any_complete {
        return vec![whole(w, w.stale.clone().unwrap_or_default())];
    }
    let mut out = Vec::new();
    for v in &w.versions {
        let reason = match &v.state {
            VersionState::Incomplete => Some("incomplete (an interrupted first run)".to_string()),
            VersionState::Damaged(why) => Some(format!("damaged: {why}")),
            _ if unused(v.last_use) => Some(not_used.clone()),
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

fn report_removals(root: &Path, done: &[(Removal, bool)], dry_run: bool, json: bool) {
    let freed: u64 = done
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(r, _)| r.bytes)
        .sum();
    if json {
        print_json(&json!({
            "root": root.display().to_string(),
            "dry_run": dry_run,
            "freed": freed,
            "removed": done.iter().map(|(r, ok)| json!({
                "name": r.name,
                "build": r.hash,
                "reason": r.reason,
                "bytes": r.bytes,
                "removed": *ok && !dry_run,
                "skipped": (!ok).then_some("a launcher is unpacking it right now"),
            })).collect::<Vec<_>>(),
        }));
        return;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for (r, ok) in done {
        let what = match &r.hash {
            Some(h) => format!("{} (build {h})", r.name),
            None => r.name.clone(),
        };
        if *ok {
            println!("{verb} {what}: {} — {}", human_bytes(r.bytes), r.reason);
        } else {
            println!("skipped {what}: a launcher is unpacking it right now");
        }
    }
    println!(
        "{} {} in {}",
        if dry_run { "would free" } else { "freed" },
        human_bytes(freed),
        root.display()
    );
}

pub(super) fn clean(root: &Path, args: CleanArgs) -> anyhow::Result<ExitCode> {
    let cutoff = args
        .older_than
        .map(|days| unix_seconds(SystemTime::now()).saturating_sub(days.saturating_mul(86_400)));
    let mut done = Vec::new();
    for w in scan(root)? {
        for r in plan_clean(&w, cutoff) {
            let hashes: Vec<&str> = match &r.hash {
                Some(h) => vec![h.as_str()],
                None => w.versions.iter().map(|v| v.build.hash.as_str()).collect(),
            };
            let ok = args.dry_run || apply(&w, &r, &hashes)?;
            done.push((r, ok));
        }
    }
    report_removals(root, &done, args.dry_run, args.json);
    Ok(ExitCode::SUCCESS)
}
