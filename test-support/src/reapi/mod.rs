//! A real Remote Execution API v2 cluster for the tests: BuildGrid 0.9.1's server, a private
//! PostgreSQL, and test workers, all on loopback, started by the test and stopped by PID.
//!
//! ```ignore
//! let Some(mut cluster) = Cluster::start() else { return }; // skipped: no BuildGrid
//! let client = cluster.client();
//! let done = client.run(&ActionSpec::sh("echo hi > out").outputs(&["out"]), &InputRoot::new())?;
//! assert_eq!(cluster.executions_of(&digest_string(&action)).len(), 1);
//! cluster.kill_worker(0);   // a lost machine
//! cluster.restart_server(); // blobs gone (CasStorage::Memory), jobs kept
//! ```
//!
//! - [`Cluster::start`]/[`Cluster::start_with`] ([`ClusterOptions`]): a server on a free port
//!   with its own database, [`Cluster::url`] `grpc://127.0.0.1:PORT`, workers registered on
//!   return; [`Cluster::startup_time`] says how long that took. [`shared`] is one cluster per
//!   test binary, started on first use, for tests that kill nothing (give each action a
//!   distinct `salt` or input, or it is a cache hit from another test).
//! - Faults: [`Cluster::kill_server`], [`Cluster::restart_server`], [`Cluster::freeze`] /
//!   [`Cluster::thaw`] (SIGSTOP/SIGCONT), [`Cluster::start_worker`],
//!   [`Cluster::kill_worker`] (SIGKILL of the worker and its running actions).
//! - What ran: [`Cluster::executions`] — every action a worker started, with its digest,
//!   argv, env, outputs and how it ended — from the workers' JSON event logs.
//! - [`Client`], [`InputRoot`], [`ActionSpec`]: a small blocking REAPI client and builders for
//!   canonical protos, to drive a cluster by hand.
//!
//! BuildGrid comes from `test-support/reapi/install-buildgrid.sh` (run by `.ci/run`), found
//! through `FLAVOR_BUILDGRID` or the script's default place; without it the tests print one
//! `skipped:` line, or fail under `CI=true` ([`buildgrid_or_skip`]). The worker is
//! `test-support/reapi/worker.py`, run by the venv's Python (see `worker`).
//!
//! Behaviour measured with this harness (the `reapi_harness` tests print the figures):
//! start-up from nothing to a registered worker ≈ 4–8 s on an idle 2-core machine (the
//! server's Python imports dominate; PostgreSQL and its template are made once per test
//! process), ≈ 2 s more for the first cluster of a process.

mod client;
mod cluster;
mod config;
mod install;
mod postgres;
mod procs;
mod worker;

pub use client::{
    ActionSpec, Client, Executed, InputRoot, PreconditionFailure, STREAM_ABOVE, Violation, digest,
    digest_string, encode,
};
pub use cluster::{CasStorage, Cluster, ClusterOptions};
pub use install::{BuildGrid, ENV, VERSION, buildgrid_or_skip, worker_script};
/// gRPC status codes and errors, as the [`Client`] returns them.
pub use tonic::{Code, Status};
pub use worker::{Done, Execution, WorkerOptions};

use std::sync::OnceLock;

/// The test binary's shared cluster (default options, two workers of two slots), started on
/// first use and stopped when the process ends; `None` (after a `skipped:` line) without
/// BuildGrid. Don't kill, freeze or restart anything in it — start your own [`Cluster`].
pub fn shared() -> Option<&'static Cluster> {
    static SHARED: OnceLock<Option<Cluster>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            Cluster::start_with(ClusterOptions {
                workers: 2,
                ..ClusterOptions::default()
            })
        })
        .as_ref()
}

/// For the harness's own tests: spawn `sh -c SCRIPT` guarded like the cluster's processes,
/// then drop it as the end of the test process would (closing its watchdog's pipe); the
/// PIDs of the process and of its watchdog.
pub fn orphan_guarded(script: &str) -> (u32, u32) {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", script]);
    procs::Guarded::spawn(&mut cmd, "TERM", None)
        .expect("spawn a guarded process")
        .orphan()
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    procs::alive(pid)
}

/// The PID of the test process's PostgreSQL server, if it runs.
pub fn postgres_pid() -> Option<u32> {
    let bg = BuildGrid::find().ok()?;
    postgres::shared(&bg).ok().map(|pg| pg.pid())
}
