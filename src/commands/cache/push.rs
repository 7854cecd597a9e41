//! `flavor cache push`: upload to the shared remote cache what the current manifests use and
//! the local build cache holds (debug and release plans, the engine's live set), waiting for
//! the uploads. Seeds a remote from a machine whose cache was warm before the remote was set
//! up — builds upload only what they run.

use crate::diagnostics::open_session;
use crate::messages::{PushOutcome, RemoteSummary, print_document};
use crate::options::GlobalArgs;
use crate::progress::Progress;
use crate::remote::RemoteArgs;
use crate::report::human_bytes;
use anyhow::{Context, bail};
use flavor_engine::LiveSet;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mut session = open_session(&global.start_dir()?, args.json)?;
    let progress = Progress::new(global.mode(args.json), 0, global.verbose);
    session.connect_remote(&args.remote.settings(), &progress)?;
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
    let mut live = LiveSet::new();
    for plan in session
        .plans_of_everything()
        .context("planning the workspace")?
    {
        let targets: Vec<_> = plan.outputs.iter().map(|o| o.action).collect();
        live.mark(&plan.graph, &targets, &session.store, &session.sources);
    }
    let mut keys: Vec<_> = live.keys().iter().copied().collect();
    keys.sort();
    let queued = keys
        .iter()
        .filter(|key| remote.push(key, &session.store))
        .count();
    session.finish_remote(&progress);
    let stats = remote.stats();
    let ok = stats.uploads == queued as u64;
    if args.json {
        print_document(&PushOutcome {
            ok,
            results: keys.len(),
            remote: RemoteSummary::of(&remote),
        })?;
    } else if !global.quiet || !ok {
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
