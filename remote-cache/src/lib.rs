//! # flavor-remote — a shared build cache behind flavor-engine's local store
//!
//! [`Remote`] implements the engine's [`RemoteCache`] trait over the Bazel HTTP remote-cache
//! protocol or, for a `grpc://` URL, the REAPI cache services over gRPC. Over HTTP: `GET/PUT <base>/ac/<key>` for action results and `<base>/cas/<sha256>` for
//! blobs, as bazel-remote, BuildBuddy-style caches and a plain WebDAV server (nginx
//! `dav_methods PUT`) serve them.
//!
//! - Keys: the remote action key is a SHA-256 derived from the local blake3 key; blobs are
//!   named by their SHA-256; action results are REAPI `ActionResult` messages, a directory
//!   output an output directory whose REAPI `Tree` message is a blob of its own. A
//!   [`Sha256Index`] beside the local store remembers the SHA-256 of blobs downloaded or
//!   uploaded, so a blob is hashed for the remote at most once.
//! - [`fetch`](RemoteCache::fetch) (on a local miss) downloads an entry's blobs into the local
//!   store, checking each against its SHA-256 and size as it streams; the action then vets
//!   them ([`Action::vet_remote_outputs`]) before
//!   they are used.
//! - [`upload`](RemoteCache::upload) queues a locally built result; background threads send
//!   its blobs (skipping those the server has) and then its entry, so an entry never names a
//!   blob the server lacks.
//! - The remote can only make a build faster, never fail it or change its output: an
//!   unreachable server turns the remote off for the rest of the build, a refused upload turns
//!   uploads off, a bad entry or blob is a miss. Each is counted ([`RemoteStats`]) and the
//!   first one becomes a warning.
//!
//! [`RemoteExecution`] implements the engine's [`RemoteExecutor`](flavor_engine::RemoteExecutor):
//! build steps run on a Remote Execution API v2 cluster (gRPC), with every failure of the
//! cluster sending the step back to run locally.
//!
//! How requests reach the server is one internal trait (`Transport`, in REAPI terms), so a
//! gRPC REAPI client can sit beside the HTTP one.
//!
//! ```no_run
//! use std::sync::Arc;
//! use flavor_engine::{BuildOptions, RemoteCache};
//! use flavor_remote::{Remote, RemoteConfig};
//!
//! let config = RemoteConfig::new("http://cache.internal:8080/flavor", ".flavor/cache/sha256".as_ref());
//! let remote = Arc::new(Remote::open(&config)?);
//! let options = BuildOptions {
//!     remote: Some(remote.clone() as Arc<dyn RemoteCache>),
//!     ..BuildOptions::default()
//! };
//! // … flavor_engine::build(&graph, &store, &sources, &options, &events) …
//! remote.wait_for_uploads();
//! println!("{:?}", remote.stats());
//! # Ok::<(), flavor_remote::RemoteError>(())
//! ```

#![deny(missing_docs)]

mod error;
mod exec;
mod fetch;
mod grpc;
mod grpc_cache;
mod http;
mod index;
mod reapi;
mod shared;
mod transport;
mod trees;
mod upload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use flavor_engine::{Action, ActionResult, Digest, RemoteCache, Store};
use serde::Serialize;

pub use error::RemoteError;
pub use exec::{DEFAULT_JOBS, DEFAULT_TIMEOUT, ExecConfig, ExecStats, RemoteExecution};
pub use index::Sha256Index;

use shared::Shared;

/// Where the remote cache is and how to use it.
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// Base URL (`http://host:port/prefix`; objects live under `<url>/ac/` and `<url>/cas/`),
    /// or a REAPI gRPC endpoint (`grpc://host:port`, `grpcs://host:port`).
    pub url: String,
    /// Look up, never upload (for untrusted jobs).
    pub read_only: bool,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Limit for connecting, for the server to answer, and for each read or write.
    pub timeout: Duration,
    /// Where the [`Sha256Index`] of the local store's blobs is kept (beside the store).
    pub index_dir: PathBuf,
}

impl RemoteConfig {
    /// A read-write configuration for `url` without a token, with a 10 s timeout, keeping its
    /// SHA-256 index in `index_dir`.
    pub fn new(url: &str, index_dir: &Path) -> RemoteConfig {
        RemoteConfig {
            url: url.to_string(),
            read_only: false,
            token: None,
            timeout: Duration::from_secs(10),
            index_dir: index_dir.to_path_buf(),
        }
    }
}

/// What the remote cache did during a build.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RemoteStats {
    /// Actions whose outputs came from the remote.
    pub hits: u64,
    /// Lookups the remote could not answer (no entry, or a blob missing).
    pub misses: u64,
    /// Entries or blobs refused: malformed, not matching their digest, or vetoed by the
    /// action (a package that is not this build's).
    pub rejected: u64,
    /// Requests that failed (unreachable, timeout, unexpected status).
    pub errors: u64,
    /// Bytes of blobs downloaded.
    pub downloaded_bytes: u64,
    /// Action results uploaded (blobs and entry).
    pub uploads: u64,
    /// Bytes of blobs uploaded (blobs the server already had are not sent).
    pub uploaded_bytes: u64,
    /// Time the upload threads spent uploading, summed over the threads, in microseconds.
    pub upload_micros: u64,
    /// True once the remote was found unreachable and the build went on without it.
    pub offline: bool,
}

/// Upload threads: uploads are mostly waiting on the network.
const UPLOAD_THREADS: usize = 4;

/// A remote cache for one build (or one `watch` rebuild): lookups, background uploads,
/// statistics and the warning to show.
pub struct Remote {
    shared: Arc<Shared>,
    read_only: bool,
    uploader: Option<upload::Uploader>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url())
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl Remote {
    /// Prepares the client (no request is made yet).
    ///
    /// # Errors
    /// [`RemoteError::InvalidUrl`] says what is wrong with the URL.
    pub fn open(config: &RemoteConfig) -> Result<Remote, RemoteError> {
        let transport: Box<dyn transport::Transport> =
            if config.url.starts_with("grpc://") || config.url.starts_with("grpcs://") {
                Box::new(grpc_cache::GrpcTransport::new(
                    &config.url,
                    config.token.as_deref(),
                    config.timeout,
                )?)
            } else {
                Box::new(http::HttpTransport::new(
                    &config.url,
                    config.token.as_deref(),
                    config.timeout,
                )?)
            };
        let shared = Arc::new(Shared::new(transport, Sha256Index::new(&config.index_dir)));
        let uploader =
            (!config.read_only).then(|| upload::Uploader::start(&shared, UPLOAD_THREADS));
        Ok(Remote {
            shared,
            read_only: config.read_only,
            uploader,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        self.shared.url()
    }

    /// True if this cache never uploads.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// What the remote did so far.
    pub fn stats(&self) -> RemoteStats {
        self.shared.stats()
    }

    /// Blocks until every queued upload is done (sent, skipped or failed).
    pub fn wait_for_uploads(&self) {
        if let Some(uploader) = &self.uploader {
            uploader.wait();
        }
    }

    /// Uploads still queued or in flight.
    pub fn pending_uploads(&self) -> usize {
        self.uploader.as_ref().map_or(0, upload::Uploader::pending)
    }

    /// Queues the upload of the result `store` holds under `key` (e.g. to seed the remote
    /// from a warm local cache). False if the store has no such result, or the cache is
    /// read-only or uploads are off.
    pub fn push(&self, key: &Digest, store: &dyn Store) -> bool {
        match store.get_action(key) {
            Some(result) => self.queue(key, &result, store),
            None => false,
        }
    }

    /// Queues an upload; false if none is possible.
    fn queue(&self, key: &Digest, result: &ActionResult, store: &dyn Store) -> bool {
        let Some(uploader) = &self.uploader else {
            return false;
        };
        if !self.shared.uploading() {
            return false;
        }
        let outputs: Option<Vec<upload::JobOutput>> = result
            .outputs
            .iter()
            .map(|output| upload::JobOutput::of(output, store))
            .collect();
        let Some(outputs) = outputs else {
            return false;
        };
        uploader.push(upload::Job {
            key: reapi::remote_key(key),
            outputs,
        });
        true
    }
}

impl RemoteCache for Remote {
    fn fetch(
        &self,
        key: &Digest,
        action: &dyn Action,
        inputs: &[PathBuf],
        store: &dyn Store,
    ) -> Option<ActionResult> {
        fetch::fetch(&self.shared, key, action, inputs, store)
    }

    fn upload(&self, key: &Digest, result: &ActionResult, store: &dyn Store) {
        self.queue(key, result, store);
    }

    fn take_warnings(&self) -> Vec<String> {
        self.shared.take_warnings()
    }
}
