//! The seam to a shared cache behind the local store: the [`RemoteCache`] trait.
//!
//! The engine only says *when*: on a local miss it asks the remote for the action's result,
//! and after running an action (whose source files did not change meanwhile) it offers the
//! result for upload. *How* — the protocol, naming blobs the way the server does, vetting
//! what comes back, uploading in the background — is the implementation's business (the
//! `flavor-remote` crate), so the engine needs no network stack.

use std::path::PathBuf;

use crate::{Action, ActionResult, Digest, Store};

/// A shared cache that results are fetched from on a local miss and uploaded to.
///
/// A remote can only make a build faster, never fail it or change its outputs: every method
/// handles its own failures (a miss, a warning), none returns an error.
pub trait RemoteCache: Send + Sync + std::fmt::Debug {
    /// Looks up the result of `action`, whose key is `key` and whose inputs are the files
    /// `inputs` (in input order). On a hit, puts every output into `store` — checked against
    /// the digests the remote claims, and accepted by the action
    /// ([`Action::vet_remote_outputs`]) — and returns the result, which the engine then records
    /// in the local action cache. `None` on a miss or any problem.
    fn fetch(
        &self,
        key: &Digest,
        action: &dyn Action,
        inputs: &[PathBuf],
        store: &dyn Store,
    ) -> Option<ActionResult>;

    /// Offers `result`, just built locally under `key` (its blobs are in `store`), for upload.
    /// Typically queues it and returns at once.
    fn upload(&self, key: &Digest, result: &ActionResult, store: &dyn Store);

    /// Warnings not shown yet (the remote is unreachable, an entry was refused, …); the
    /// engine turns each into an [`Event::Warning`](crate::Event::Warning).
    fn take_warnings(&self) -> Vec<String>;
}
