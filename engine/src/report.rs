//! [`Report`]: what a build did, as one [`ActionReport`] per action with its [`Status`],
//! the counts derived from them, and the JSON form (`--json`, tests).

use std::time::Duration;

use serde_json::json;

use crate::{ActionError, ActionId, Digest, Output, OutputKind, RemoteFacts};

/// How one action ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It ran and its outputs are in the store.
    Built,
    /// Its outputs came from the local action cache.
    Cached,
    /// Its outputs came from the remote cache (verified, now also in the local one).
    Remote,
    /// It (or reading its inputs, or storing its outputs) failed.
    Failed(ActionError),
    /// It did not run because an action it depends on failed.
    Skipped {
        /// The failed action.
        because: ActionId,
    },
}

/// One action's part of a [`Report`].
#[derive(Clone, Debug)]
pub struct ActionReport {
    /// The action.
    pub id: ActionId,
    /// Its kind.
    pub kind: &'static str,
    /// Its label.
    pub label: String,
    /// Its action key, once its inputs were digested.
    pub key: Option<Digest>,
    /// How it ended.
    pub status: Status,
    /// Time it took (zero if skipped).
    pub duration: Duration,
    /// Each output (empty unless built or cached).
    pub outputs: Vec<Output>,
    /// What a successful run logged (failed runs carry it in their error's `output`).
    pub log: String,
    /// Whether it ran on a remote execution cluster.
    pub remote: RemoteFacts,
}

/// What a build did: one [`ActionReport`] per action it considered, in id order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every needed action, in id order.
    pub actions: Vec<ActionReport>,
    /// Wall-clock time of the whole build.
    pub duration: Duration,
}

impl Report {
    /// How many actions ran.
    pub fn built(&self) -> usize {
        self.count(|s| matches!(s, Status::Built))
    }

    /// How many actions were satisfied from a cache, local or remote.
    pub fn cached(&self) -> usize {
        self.count(|s| matches!(s, Status::Cached | Status::Remote))
    }

    /// How many actions were satisfied from the remote cache.
    pub fn remote_hits(&self) -> usize {
        self.count(|s| matches!(s, Status::Remote))
    }

    /// How many actions ran (or were answered from the cache) on a remote execution
    /// cluster.
    pub fn remote_executed(&self) -> usize {
        self.actions.iter().filter(|a| a.remote.executed).count()
    }

    /// How many of those the cluster's action cache answered.
    pub fn remote_cached(&self) -> usize {
        self.actions.iter().filter(|a| a.remote.cached).count()
    }

    /// How many actions were skipped because a dependency failed.
    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, Status::Skipped { .. }))
    }

    /// Every failed action.
    pub fn failed(&self) -> Vec<&ActionReport> {
        self.actions
            .iter()
            .filter(|a| matches!(a.status, Status::Failed(_)))
            .collect()
    }

    /// True if every action was built or cached.
    pub fn is_ok(&self) -> bool {
        self.actions
            .iter()
            .all(|a| matches!(a.status, Status::Built | Status::Cached | Status::Remote))
    }

    /// The report of action `id`, if the build considered it.
    pub fn get(&self, id: ActionId) -> Option<&ActionReport> {
        self.actions
            .binary_search_by_key(&id, |a| a.id)
            .ok()
            .and_then(|i| self.actions.get(i))
    }

    /// The digest of output `i` of action `id`, if it was built or cached.
    pub fn output(&self, id: ActionId, i: usize) -> Option<Digest> {
        self.get(id)?.outputs.get(i).map(|o| o.digest)
    }

    /// The report as JSON, for `--json` and tests.
    pub fn to_json(&self) -> serde_json::Value {
        let actions: Vec<serde_json::Value> = self
            .actions
            .iter()
            .map(|a| {
                let mut v = json!({
                    "id": a.id.0,
                    "kind": a.kind,
                    "label": a.label,
                    "key": a.key.map(|k| k.to_hex()),
                    "status": match a.status {
                        Status::Built => "built",
                        Status::Cached | Status::Remote => "cached",
                        Status::Failed(_) => "failed",
                        Status::Skipped { .. } => "skipped",
                    },
                    "duration_ms": a.duration.as_secs_f64() * 1000.0,
                    "outputs": a.outputs.iter()
                        .map(|o| match o.kind {
                            OutputKind::File => json!({ "digest": o.digest.to_hex(), "size": o.size }),
                            OutputKind::Tree => json!({
                                "digest": o.digest.to_hex(), "size": o.size, "kind": "tree"
                            }),
                        })
                        .collect::<Vec<_>>(),
                });
                match &a.status {
                    Status::Failed(e) => {
                        v["error"] = json!({ "message": e.message, "output": e.output });
                    }
                    Status::Skipped { because } => v["because"] = json!(because.0),
                    Status::Remote => v["remote"] = json!(true),
                    Status::Built | Status::Cached => {}
                }
                if !a.log.is_empty() {
                    v["log"] = json!(a.log);
                }
                v["remote_executed"] = json!(a.remote.executed);
                v["remote_cached"] = json!(a.remote.cached);
                v
            })
            .collect();
        json!({
            "ok": self.is_ok(),
            "built": self.built(),
            "cached": self.cached(),
            "remote_hits": self.remote_hits(),
            "remote_executed": self.remote_executed(),
            "remote_cached": self.remote_cached(),
            "failed": self.failed().len(),
            "skipped": self.skipped(),
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
            "actions": actions,
        })
    }

    fn count(&self, pred: impl Fn(&Status) -> bool) -> usize {
        self.actions.iter().filter(|a| pred(&a.status)).count()
    }
}
