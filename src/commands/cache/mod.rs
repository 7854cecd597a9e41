//! `flavor cache stats|gc|push`: the build cache of the workspace (see
//! [`BuildCache`](crate::build_cache::BuildCache) for what it holds).

mod gc;
mod push;
mod stats;

use crate::options::GlobalArgs;
use std::process::ExitCode;

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
    Stats(stats::Args),
    /// Delete cached results the current manifests no longer use (keeping the newest others
    /// within --max-size).
    ///
    /// Example: flavor cache gc --max-size 2G
    Gc(gc::Args),
    /// Upload the results the current manifests use (debug and release builds, as far as the
    /// local cache has them) to the shared remote cache, e.g. to seed it from a machine whose
    /// cache was warm before the remote was set up.
    ///
    /// Example: flavor cache push --remote-cache http://cache.internal:8080/flavor
    Push(push::Args),
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CacheCommand::Stats(a) => stats::run(a, global),
        CacheCommand::Gc(a) => gc::run(a, global),
        CacheCommand::Push(a) => push::run(a, global),
    }
}
