//! Remote execution over the Remote Execution API v2: [`RemoteExecution`] implements the
//! engine's [`RemoteExecutor`] against any REAPI cluster (BuildGrid, Buildbarn, NativeLink,
//! BuildBuddy, EngFlow).
//!
//! Per action ([`run`]): `GetCapabilities` once per build (API version → `output_paths` or
//! `output_files`, batch limit), the input root as a Merkle tree ([`merkle`]),
//! `FindMissingBlobs` then `BatchUpdateBlobs` / ByteStream, `Execute` followed to the end
//! (`WaitExecution` after a broken stream, until the action's deadline), a cached result
//! with a non-zero exit never used, `FAILED_PRECONDITION` (blobs lost) → upload again and
//! retry, bounded; outputs downloaded, each checked for its SHA-256 and size, into the
//! local store.
//!
//! Never fatal: an unreachable or frozen server turns remote execution off for the rest of
//! the build, anything else sends that one action back to run locally; each is counted in
//! [`ExecStats`] and the first becomes a warning. Only the command's own failure (its exit
//! code, with its stdout and stderr) fails the action.

pub(crate) mod merkle;
mod run;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use flavor_engine::{RemoteCommand, RemoteExecutor, RemoteRun, Store};
use serde::Serialize;

use crate::RemoteError;
use crate::grpc::Grpc;

/// Remote actions in flight by default.
pub const DEFAULT_JOBS: usize = 16;
/// How long one action may take on the cluster by default, from upload to result.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The most any single call may take (a frozen server is noticed within this).
const MAX_CALL: Duration = Duration::from_secs(30);

/// `d` as a short number of seconds, for messages.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Where the cluster is and how to use it.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// `grpc://host:port` or `grpcs://host:port`.
    pub url: String,
    /// The REAPI instance name (often empty).
    pub instance: String,
    /// Actions in flight at once.
    pub jobs: usize,
    /// Platform properties the workers must match (`OSFamily`, `ISA`, …); sent sorted, in
    /// both the `Command` and the `Action`.
    pub platform: BTreeMap<String, String>,
    /// Sent as `authorization: Bearer <token>`.
    pub token: Option<String>,
    /// How long one action may take on the cluster (uploads, queueing, running, downloads)
    /// before it runs locally instead; also bounds every single call.
    pub timeout: Duration,
}

impl ExecConfig {
    /// A configuration for `url` with the default instance (`""`), jobs, platform (none)
    /// and timeout.
    pub fn new(url: &str) -> ExecConfig {
        ExecConfig {
            url: url.to_string(),
            instance: String::new(),
            jobs: DEFAULT_JOBS,
            platform: BTreeMap::new(),
            token: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What remote execution did during a build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExecStats {
    /// Actions that ran on a worker.
    pub executed: u64,
    /// Actions the cluster's action cache answered.
    pub cache_hits: u64,
    /// Actions whose command failed remotely (non-zero exit, missing output).
    pub failed: u64,
    /// Actions sent back to run locally.
    pub fallbacks: u64,
    /// Blobs re-uploaded after the server lost them (`FAILED_PRECONDITION`).
    pub reuploads: u64,
    /// Bytes uploaded (blobs the server had are not sent).
    pub uploaded_bytes: u64,
    /// Bytes of outputs and logs downloaded.
    pub downloaded_bytes: u64,
    /// Time spent waiting on `Execute`, summed over actions, in milliseconds.
    pub wait_millis: u64,
    /// True once the cluster was found unreachable and the build went on without it.
    pub offline: bool,
}

#[derive(Default)]
struct Counters {
    executed: AtomicU64,
    cache_hits: AtomicU64,
    failed: AtomicU64,
    fallbacks: AtomicU64,
    reuploads: AtomicU64,
    uploaded_bytes: AtomicU64,
    downloaded_bytes: AtomicU64,
    wait_millis: AtomicU64,
}

/// What `GetCapabilities` said that matters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caps {
    /// REAPI ≥ 2.1: outputs as `output_paths`.
    pub(crate) output_paths: bool,
    /// Largest batch, framing deducted.
    pub(crate) batch_limit: usize,
}

/// A remote execution cluster for one build.
pub struct RemoteExecution {
    grpc: Grpc,
    config: ExecConfig,
    caps: OnceLock<Result<Caps, String>>,
    counters: Counters,
    offline: AtomicBool,
    warned: AtomicBool,
    warnings: Mutex<Vec<String>>,
    /// Operations in flight, for [`RemoteExecution::cancel_all`].
    operations: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for RemoteExecution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteExecution")
            .field("url", &self.config.url)
            .field("instance", &self.config.instance)
            .finish_non_exhaustive()
    }
}

impl RemoteExecution {
    /// Prepares the client (no request is made yet).
    ///
    /// # Errors
    /// [`RemoteError::InvalidUrl`] says what is wrong with the URL.
    pub fn open(config: &ExecConfig) -> Result<RemoteExecution, RemoteError> {
        let call = config.timeout.min(MAX_CALL);
        let grpc = Grpc::open(&config.url, &config.instance, config.token.as_deref(), call)?;
        Ok(RemoteExecution {
            grpc,
            config: config.clone(),
            caps: OnceLock::new(),
            counters: Counters::default(),
            offline: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
            operations: Mutex::new(HashSet::new()),
        })
    }

    /// The cluster's URL.
    pub fn url(&self) -> &str {
        self.grpc.url()
    }

    /// What remote execution did so far.
    pub fn stats(&self) -> ExecStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ExecStats {
            executed: get(&c.executed),
            cache_hits: get(&c.cache_hits),
            failed: get(&c.failed),
            fallbacks: get(&c.fallbacks),
            reuploads: get(&c.reuploads),
            uploaded_bytes: get(&c.uploaded_bytes),
            downloaded_bytes: get(&c.downloaded_bytes),
            wait_millis: get(&c.wait_millis),
            offline: self.offline.load(Ordering::Acquire),
        }
    }

    /// Cancels every operation in flight (`CancelOperation`, best effort) and turns remote
    /// execution off: for Ctrl-C.
    pub fn cancel_all(&self) {
        self.offline.store(true, Ordering::Release);
        let names: Vec<String> = self
            .operations
            .lock()
            .map(|mut ops| ops.drain().collect())
            .unwrap_or_default();
        for name in names {
            self.grpc.cancel(&name);
        }
    }

    /// The capabilities, asked once; `Err` (already warned about) if the server did not
    /// answer or cannot run actions.
    fn caps(&self) -> Result<Caps, ()> {
        let caps = self.caps.get_or_init(|| run::capabilities(&self.grpc));
        match caps {
            Ok(caps) => Ok(*caps),
            Err(why) => {
                self.go_offline(why);
                Err(())
            }
        }
    }

    /// Queues `message` as the build's remote-execution warning, unless one was given.
    fn warn(&self, message: String) {
        if !self.warned.swap(true, Ordering::AcqRel)
            && let Ok(mut warnings) = self.warnings.lock()
        {
            warnings.push(message);
        }
    }

    /// Turns remote execution off for the rest of the build.
    fn go_offline(&self, why: &str) {
        self.offline.store(true, Ordering::Release);
        self.warn(format!(
            "remote execution {}: {why}; building locally without it",
            self.url()
        ));
    }

    /// Sends one action back to run locally.
    fn fall_back(&self, label: &str, why: &str) -> RemoteRun {
        self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
        self.warn(format!(
            "remote execution {}: {label}: {why}; running it locally",
            self.url()
        ));
        RemoteRun::Local
    }

    fn track(&self, name: &str, on: bool) {
        if let Ok(mut ops) = self.operations.lock() {
            if on {
                ops.insert(name.to_string());
            } else {
                ops.remove(name);
            }
        }
    }
}

impl RemoteExecutor for RemoteExecution {
    fn jobs(&self) -> usize {
        self.config.jobs.max(1)
    }

    fn available(&self) -> bool {
        !self.offline.load(Ordering::Acquire)
    }

    fn execute(&self, label: &str, command: &RemoteCommand, store: &dyn Store) -> RemoteRun {
        if !self.available() {
            self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
            return RemoteRun::Local;
        }
        let Ok(caps) = self.caps() else {
            self.counters.fallbacks.fetch_add(1, Ordering::Relaxed);
            return RemoteRun::Local;
        };
        run::run(self, caps, label, command, store)
    }

    fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }
}
