//! A real Remote Execution API v2 cluster for the tests: BuildGrid 0.9.1's server, a private
//! PostgreSQL, and test workers, all on loopback, started by the test and stopped by PID.
//!
//! ```ignore
//! let Some(mut cluster) = Cluster::start() else { return }; // skipped: no BuildGrid
//! let client = cluster.client();
//! let spec = ActionSpec::sh("echo hi > out").outputs(&["out"]);
//! let done = client.run(&spec, &InputRoot::new())?;        // upload, Execute
//! assert_eq!(cluster.executions().len(), 1);               // what the workers ran
//! cluster.kill_worker(0);                                  // a lost machine
//! cluster.restart_server_with(CasStorage::Memory);         // blobs gone, jobs kept
//! ```
//!
//! - [`Cluster::start`]/[`Cluster::start_with`] ([`ClusterOptions`]): a server on a free port
//!   with its own database, [`Cluster::url`] `grpc://127.0.0.1:PORT`, workers registered on
//!   return; [`Cluster::startup_report`] says how long that took. [`shared`] is one cluster
//!   per test binary, started on first use, for tests that kill nothing (give each action a
//!   distinct `salt` or input, or it is a cache hit from another test).
//! - Faults: [`Cluster::kill_server`], [`Cluster::restart_server`],
//!   [`Cluster::restart_server_with`], [`Cluster::freeze`] / [`Cluster::thaw`]
//!   (SIGSTOP/SIGCONT), [`Cluster::start_worker`], [`Cluster::kill_worker`] (SIGKILL of the
//!   worker and of the actions it runs).
//! - What ran: [`Cluster::executions`] — every action a worker started, with its digest,
//!   argv, env, outputs and how it ended — from the workers' JSON event logs.
//! - [`Client`], [`InputRoot`], [`ActionSpec`]: a small blocking REAPI client and builders for
//!   canonical protos, to drive a cluster by hand.
//! - `cargo run -p flavor-test-support --example reapi-cluster -- --workers 2 --capacity 4`
//!   keeps a cluster up for benchmarks and experiments.
//!
//! BuildGrid comes from `test-support/reapi/install-buildgrid.sh` (run by `.ci/run`), found
//! through `FLAVOR_BUILDGRID` or the script's default place; without it the tests print one
//! `skipped:` line, or fail under `CI=true` ([`buildgrid_or_skip`]). The worker is
//! `test-support/reapi/worker.py`, the server is started by `test-support/reapi/server.py`
//! (both run by the venv's Python).
//!
//! Start-up, measured by the `reapi_harness` tests on the 2-core machine while other jobs
//! compiled (load 10–15): a cluster is up in 5–10 s when the machine is merely busy, up to
//! ≈ 25 s at the worst; a server restart ≈ 6 s. The server's Python imports happen ahead of
//! time in standby processes (`standby`), and PostgreSQL starts from a data directory cached
//! by the first run; see `test-support/reapi/README.md` for the figures and for what
//! BuildGrid does on faults.

mod client;
mod cluster;
mod config;
mod install;
mod postgres;
mod procs;
mod protos;
mod standby;
mod worker;

pub use client::{Client, Executed, STREAM_ABOVE};
pub use cluster::{CasStorage, Cluster, ClusterOptions};
pub use config::server_config;
pub use install::{BuildGrid, ENV, VERSION, buildgrid_or_skip, server_script, worker_script};
pub use protos::{
    ActionSpec, InputRoot, PreconditionFailure, Violation, digest, digest_string, encode,
};
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
