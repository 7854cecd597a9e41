//! The test worker's processes and what their logs say they ran.
//!
//! The worker itself is `test-support/reapi/worker.py` (see its docstring), run by the
//! BuildGrid venv's Python: the Remote Workers protos are not in `bazel-remote-apis`, and the
//! wheel's own generated protos cannot disagree with the server about the wire format. Each
//! worker appends JSON events to `worker-<i>.jsonl` in the cluster's directory; [`Execution`]
//! is one `start` event joined with its `done` event.

use super::install::{BuildGrid, worker_script};
use super::procs::{Guarded, logged};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// How to start a worker.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    /// Leases it takes at once.
    pub capacity: u32,
    /// Its device properties (default `OSFamily=linux`, `ISA=x86-64`, what
    /// [`super::ActionSpec`] sends).
    pub properties: Vec<(String, String)>,
}

impl WorkerOptions {
    /// A worker with `capacity` slots and the default properties.
    pub fn capacity(capacity: u32) -> WorkerOptions {
        WorkerOptions {
            capacity,
            properties: vec![
                ("OSFamily".into(), "linux".into()),
                ("ISA".into(), "x86-64".into()),
            ],
        }
    }
}

/// One action as a worker ran it.
#[derive(Clone, Debug)]
pub struct Execution {
    /// Which worker (the index [`super::Cluster::start_worker`] returned).
    pub worker: usize,
    /// The lease id (`<instance>/<job name>`).
    pub lease: String,
    /// The Action's digest, `hash/size`.
    pub action: String,
    /// The input root's digest, `hash/size`.
    pub input_root: String,
    /// `Command.arguments`.
    pub argv: Vec<String>,
    /// `Command.environment_variables`.
    pub env: BTreeMap<String, String>,
    /// `Command.working_directory`.
    pub working_directory: String,
    /// The output paths the worker was asked for.
    pub outputs: Vec<String>,
    /// When the command was about to start (Unix time, seconds).
    pub started_at: f64,
    /// How it ended; `None` while running, or if it was cancelled or its worker killed.
    pub done: Option<Done>,
}

/// How an execution ended (the worker's `done` event).
#[derive(Clone, Debug)]
pub struct Done {
    /// The command's exit code (128 + signal if a signal ended it).
    pub exit_code: Option<i32>,
    /// The lease's `google.rpc.Code` (0 OK, 4 DEADLINE_EXCEEDED, 9 FAILED_PRECONDITION, …).
    pub status: i32,
    /// The status message.
    pub message: String,
    /// Seconds from taking the lease to the result ready (inputs fetched, command run,
    /// outputs uploaded).
    pub seconds: f64,
    /// When the worker reported it (Unix time, seconds).
    pub finished_at: f64,
}

/// A running worker process and its files.
pub(crate) struct WorkerProc {
    pub(crate) proc: Option<Guarded>,
    pub(crate) events: PathBuf,
    pub(crate) output: PathBuf,
}

impl WorkerProc {
    /// Start worker `index` against `port`, its files in `dir`. `keepalive` is the server's
    /// bot keepalive, which bounds how long the worker may stay silent.
    pub(crate) fn spawn(
        bg: &BuildGrid,
        dir: &Path,
        index: usize,
        port: u16,
        keepalive: Duration,
        opts: &WorkerOptions,
    ) -> Result<WorkerProc, String> {
        let work = dir.join(format!("worker-{index}"));
        fs::create_dir_all(&work).map_err(|e| format!("mkdir {}: {e}", work.display()))?;
        let events = dir.join(format!("worker-{index}.jsonl"));
        let output = dir.join(format!("worker-{index}.log"));
        // BuildGrid long-polls for 0.8 × the call's deadline but not under 3 s; the deadline
        // must leave the answer well inside the keepalive.
        let poll = (keepalive.as_secs_f64() / 2.0).clamp(3.8, 5.0);
        let mut cmd = logged(&bg.python(), &output).map_err(|e| e.to_string())?;
        cmd.arg("-u")
            .arg(worker_script())
            .arg(format!("--remote=grpc://127.0.0.1:{port}"))
            .arg(format!("--capacity={}", opts.capacity))
            .arg(format!(
                "--bot-id=flavor-test-worker-{index}-{}",
                std::process::id()
            ))
            .arg(format!("--poll-timeout={poll}"))
            .arg("--log")
            .arg(&events)
            .arg("--work-dir")
            .arg(&work);
        for (key, value) in &opts.properties {
            cmd.arg(format!("--property={key}={value}"));
        }
        let proc = Guarded::spawn(&mut cmd, "TERM", None)
            .map_err(|e| format!("cannot start the test worker: {e}"))?;
        Ok(WorkerProc {
            proc: Some(proc),
            events,
            output,
        })
    }

    /// Wait until the worker has a bot session; its output if it exits or `limit` passes.
    pub(crate) fn wait_registered(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if read_events(&self.events)
                .iter()
                .any(|e| e["event"] == "session")
            {
                return Ok(());
            }
            let exited = self.proc.as_mut().and_then(Guarded::exited);
            if exited.is_some() || start.elapsed() > limit {
                return Err(format!(
                    "the test worker did not register within {limit:?} ({exited:?}):\n{}",
                    fs::read_to_string(&self.output).unwrap_or_default()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The JSON events in `path` (a torn last line is skipped).
pub(crate) fn read_events(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Join worker `worker`'s `start` events with the `done` event of the same lease that
/// follows each, into executions in start order.
pub(crate) fn executions(worker: usize, events: &[Value]) -> Vec<Execution> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut runs: Vec<Execution> = Vec::new();
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    for e in events {
        let lease = text(&e["lease"]);
        if e["event"] == "start" {
            open.insert(lease.clone(), runs.len());
            runs.push(Execution {
                worker,
                lease,
                action: text(&e["action"]),
                input_root: text(&e["input_root"]),
                argv: strings(&e["argv"]),
                env: e["env"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                    .unwrap_or_default(),
                working_directory: text(&e["working_directory"]),
                outputs: strings(&e["outputs"]),
                started_at: e["time"].as_f64().unwrap_or(0.0),
                done: None,
            });
        } else if e["event"] == "done"
            && let Some(i) = open.remove(&lease)
        {
            runs[i].done = Some(Done {
                exit_code: e["exit_code"].as_i64().map(|c| c as i32),
                status: e["status"].as_i64().unwrap_or(-1) as i32,
                message: text(&e["message"]),
                seconds: e["seconds"].as_f64().unwrap_or(0.0),
                finished_at: e["time"].as_f64().unwrap_or(0.0),
            });
        }
    }
    runs
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
