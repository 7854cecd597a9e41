//! The seam to remote execution: an action that can run elsewhere describes itself as a
//! [`RemoteCommand`] ([`Action::remote_command`](crate::Action::remote_command)); a
//! [`RemoteExecutor`] (the `flavor-remote` crate, over the Remote Execution API) runs it
//! on a cluster and puts its outputs into the store.
//!
//! Remote execution can make a build faster, never break it: anything that goes wrong
//! with the cluster ([`RemoteRun::Local`]) runs the action here instead. Only the command's
//! own failure ([`RemoteRun::Failed`]) fails the action, exactly as a local run would.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::{ActionError, ActionResult, Store};

/// A command with everything it reads, as an action sends it to a remote worker.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteCommand {
    /// The program and its arguments (a program without a slash is looked up in the
    /// environment's `PATH` on the worker).
    pub argv: Vec<String>,
    /// The whole environment.
    pub env: BTreeMap<String, String>,
    /// Where the command runs, relative to the input root (`""`: the root itself).
    pub working_directory: String,
    /// Every file it may read, placed in the input root.
    pub inputs: Vec<RemoteInput>,
    /// Output `i` of the action is the file `outputs[i]`, relative to the working
    /// directory.
    pub outputs: Vec<String>,
}

/// One file of a [`RemoteCommand`]'s input root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteInput {
    /// Where it goes: a relative `/`-separated path inside the input root.
    pub path: String,
    /// Where its bytes are here (its executable bit is sent too).
    pub file: PathBuf,
}

/// How a remote run ended.
#[derive(Debug)]
pub enum RemoteRun {
    /// The command ran (or its result came from the cluster's cache) and succeeded; its
    /// outputs are in the store.
    Done {
        /// The outputs, in action order.
        result: ActionResult,
        /// The cluster had the result cached: nothing ran.
        cached: bool,
        /// What the command printed (stdout, then stderr).
        log: String,
    },
    /// The command itself failed (a non-zero exit, a missing declared output): the action
    /// fails with this, as it would locally.
    Failed(ActionError),
    /// The cluster could not run it (unreachable, frozen, refused, a lost worker past the
    /// deadline): run the action locally. The executor has given a warning.
    Local,
}

/// Runs [`RemoteCommand`]s on a remote execution cluster.
///
/// Never returns an error: cluster problems become [`RemoteRun::Local`] and a warning.
pub trait RemoteExecutor: Send + Sync + std::fmt::Debug {
    /// How many remote actions may be in flight at once (independent of local `jobs`).
    fn jobs(&self) -> usize;

    /// False once the cluster was found unusable for this build: actions then run locally
    /// without being offered.
    fn available(&self) -> bool;

    /// Runs `command` for the action `label`; on success its outputs are put into `store`.
    fn execute(&self, label: &str, command: &RemoteCommand, store: &dyn Store) -> RemoteRun;

    /// Warnings not shown yet; the engine turns each into an
    /// [`Event::Warning`](crate::Event::Warning).
    fn take_warnings(&self) -> Vec<String>;
}

/// Per-action facts about remote execution, for the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemoteFacts {
    /// The action ran on the cluster (or the cluster's cache answered for it).
    pub executed: bool,
    /// The cluster's action cache answered: nothing ran.
    pub cached: bool,
    /// Time spent in the remote attempt (uploads, queueing, running, downloads).
    pub duration: Duration,
}
