//! `flavor cache push`: upload to the shared remote cache what the current manifests use and
//! the local build cache holds (debug and release plans), waiting for the uploads. Seeds a
//! remote from a machine whose cache was warm before the remote was set up — builds upload
//! only what they run.

use super::build::{Session, report_manifest_errors};
use super::cache::{Live, mark_live};
use crate::progress::{Mode, Progress};
use crate::remote::RemoteArgs;
use crate::report::human_bytes;
use anyhow::{Context, bail};
use serde_json::json;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut session = match Session::open(&std::env::current_dir()?) {
        Ok(s) => s,
        Err(errors) => {
            report_manifest_errors(&errors, args.json);
            return Ok(ExitCode::from(1));
        }
    };
    let mode = if args.json { Mode::Json } else { Mode::Human };
    let progress = Progress::new(mode, 0, false);
    session.connect_remote(&args.remote, &progress)?;
    let Some(remote) = session.remote.clone() else {
        bail!(
            "no remote cache to push to: set [cache] remote in the root flavor.toml, \
             FLAVOR_REMOTE_CACHE, or pass --remote-cache URL"
        );
    };
    if remote.read_only() {
        bail!(
            "the remote cache {} is read-only here (--remote-cache-read-only, \
             FLAVOR_REMOTE_CACHE_READ_ONLY or [cache] read_only): nothing to push",
            remote.url()
        );
    }
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
            .context("planning the workspace")?;
        mark_live(&session, &plan, &mut live);
    }
    let mut keys: Vec<_> = live.keys.into_iter().collect();
    keys.sort();
    let mut queued = 0;
    for key in &keys {
        if remote
            .push(key, &session.store)
            .with_context(|| format!("reading the cached result {key}"))?
        {
            queued += 1;
        }
    }
    session.finish_remote(&progress);
    let stats = remote.stats();
    let ok = stats.uploads == queued as u64;
    if args.json {
        crate::report::print_json(&json!({
            "ok": ok,
            "results": keys.len(),
            "remote": crate::remote::stats_json(&remote, &stats),
        }));
    } else {
        eprintln!(
            "{} {} of {} result{} to {} ({} sent; blobs the server had were skipped)",
            if ok { "pushed" } else { "FAILED: pushed" },
            stats.uploads,
            keys.len(),
            if keys.len() == 1 { "" } else { "s" },
            remote.url(),
            human_bytes(stats.uploaded_bytes),
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
