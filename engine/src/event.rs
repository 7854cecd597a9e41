//! [`Event`]: the progress of a build, emitted by [`build`](crate::build) from its worker
//! threads as each action starts, finishes, fails or is skipped.

use std::time::{Duration, SystemTime};

use crate::{ActionError, ActionId, RemoteFacts};

/// Progress of a build, emitted from the worker threads as it happens.
#[derive(Clone, Debug)]
pub enum Event {
    /// A cache miss: the action starts running (not emitted for cache hits).
    Started {
        /// The action.
        id: ActionId,
        /// Its kind (`"step"`, `"archive"`, …).
        kind: &'static str,
        /// Its label.
        label: String,
        /// When it started.
        at: SystemTime,
    },
    /// A line a running action printed (a build step's output), as it happens.
    Output {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// The line, without its line ending.
        line: String,
    },
    /// How far a running action is (bytes done of a known total), a few times a second.
    Progress {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// Bytes done.
        done: u64,
        /// Bytes in all.
        total: u64,
    },
    /// The action's outputs are in the store.
    Finished {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// True if the result came from a cache (local or remote) and the action did not run.
        cached: bool,
        /// True if the result came from the remote cache.
        remote: bool,
        /// What remote execution did for it (`executed`: it ran on the cluster or the
        /// cluster's cache answered; `cached`: the latter).
        remote_exec: RemoteFacts,
        /// Time taken (cache lookup, or run plus storing the outputs).
        duration: Duration,
        /// Total size of its outputs.
        output_bytes: u64,
    },
    /// The action failed; its dependents will be skipped.
    Failed {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// What went wrong, with the captured output.
        error: ActionError,
    },
    /// Something worth telling that does not fail the build (the remote cache is
    /// unreachable, an entry was refused, …).
    Warning {
        /// One line.
        message: String,
    },
    /// The action was not run because an action it depends on failed.
    Skipped {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// The failed action it (transitively) depends on.
        because: ActionId,
    },
}
