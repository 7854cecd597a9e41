//! A shared remote cache behind the local one, over the Bazel HTTP remote-cache protocol:
//! `GET/PUT <base>/ac/<key>` for action results and `<base>/cas/<sha256>` for blobs, as
//! bazel-remote, BuildBuddy-style caches and a plain WebDAV server (nginx `dav_methods PUT`)
//! serve them.
//!
//! - Keys: the remote action key is a SHA-256 derived from the local blake3 key
//!   ([`reapi::remote_key`]); blobs are named by their SHA-256; `/ac/` bodies are REAPI
//!   `ActionResult` protobufs. The local cache records both digests of fetched and uploaded
//!   outputs.
//! - [`RemoteCache::fetch`] (on a local miss) downloads an entry's blobs into the local store,
//!   checking each against its SHA-256 and size as it streams; the action then vets them
//!   ([`Action::vet_remote_outputs`](crate::Action::vet_remote_outputs)) before they are used.
//! - [`RemoteCache::upload`] queues a locally built result; background threads
//!   ([`upload`]) send its blobs (skipping those the server has) and then its `/ac/` entry, so
//!   an entry never names a blob the server lacks.
//! - The remote can only make a build faster, never fail it or change its output: an
//!   unreachable server turns the remote off for the rest of the build, a refused upload turns
//!   uploads off, a bad entry or blob is a miss. Each is counted ([`RemoteStats`]) and the
//!   first one becomes a warning ([`RemoteCache::take_warnings`]).

mod http;
mod reapi;
mod upload;

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use self::http::{Client, Failure, Kind};
use crate::{ActionResult, Digest, Store};

/// Where the remote cache is and how to use it.
#[derive(Clone, Debug)]
pub struct RemoteConfig {
    /// Base URL (`http://host:port/prefix`); objects live under `<url>/ac/` and `<url>/cas/`.
    pub url: String,
    /// Look up, never upload (for untrusted jobs).
    pub read_only: bool,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// Limit for connecting, for the server to answer, and for each read or write.
    pub timeout: Duration,
}

impl RemoteConfig {
    /// A read-write configuration for `url` without a token, with a 10 s timeout.
    pub fn new(url: &str) -> RemoteConfig {
        RemoteConfig {
            url: url.to_string(),
            read_only: false,
            token: None,
            timeout: Duration::from_secs(10),
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

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    downloaded_bytes: AtomicU64,
    uploads: AtomicU64,
    uploaded_bytes: AtomicU64,
    upload_micros: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// State the build's workers and the upload threads share.
pub(crate) struct Shared {
    client: Client,
    url: String,
    counters: Counters,
    offline: AtomicBool,
    uploads_off: AtomicBool,
    warned: AtomicBool,
    warnings: Mutex<Vec<String>>,
    /// Blobs found not matching their digest: uploaded again even if the server has an
    /// object of the right size, so a writable build heals them.
    damaged: Mutex<HashSet<String>>,
}

impl Shared {
    fn is_damaged(&self, sha256: &str) -> bool {
        self.damaged.lock().is_ok_and(|d| d.contains(sha256))
    }

    /// Queues `message` as the build's remote-cache warning, unless one was given already.
    fn warn(&self, message: String) {
        if !self.warned.swap(true, Ordering::AcqRel)
            && let Ok(mut warnings) = self.warnings.lock()
        {
            warnings.push(message);
        }
    }

    /// A request failed while `doing` something: an unreachable server turns the remote off
    /// for the rest of the build; any failure is counted and may become the warning.
    fn failed(&self, doing: &str, failure: &Failure) {
        bump(&self.counters.errors, 1);
        match failure {
            Failure::Unreachable(why) => {
                self.offline.store(true, Ordering::Release);
                self.warn(format!(
                    "remote cache {} is unreachable ({why}) while {doing}; \
                     building without it",
                    self.url
                ));
            }
            other => self.warn(format!(
                "remote cache {}: {other} while {doing}; building that action locally",
                self.url
            )),
        }
    }

    /// An upload failed: a refusal (authentication, method, size) turns uploads off.
    fn upload_failed(&self, what: &str, failure: &Failure) {
        match failure {
            Failure::Status(code @ (401 | 403 | 405 | 413)) => {
                bump(&self.counters.errors, 1);
                self.uploads_off.store(true, Ordering::Release);
                self.warn(format!(
                    "remote cache {} refused to store {what} (HTTP {code}); uploads are off for \
                     this build: check the token and the server's write access, or use \
                     --remote-cache-read-only",
                    self.url
                ));
            }
            other => self.failed(&format!("uploading {what}"), other),
        }
    }

    fn offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    fn uploading(&self) -> bool {
        !self.offline() && !self.uploads_off.load(Ordering::Acquire)
    }
}

/// A remote cache for one build (or one `watch` rebuild): lookups, background uploads,
/// statistics and the warning to show.
pub struct RemoteCache {
    shared: Arc<Shared>,
    read_only: bool,
    uploader: Option<upload::Uploader>,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCache")
            .field("url", &self.shared.url)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// Upload threads: uploads are mostly waiting on the network.
const UPLOAD_THREADS: usize = 4;

impl RemoteCache {
    /// Prepares the client (no request is made yet). `Err` says what is wrong with the URL.
    pub fn new(config: &RemoteConfig) -> Result<RemoteCache, String> {
        let client = Client::new(&config.url, config.token.as_deref(), config.timeout)?;
        let shared = Arc::new(Shared {
            client,
            url: config.url.trim_end_matches('/').to_string(),
            counters: Counters::default(),
            offline: AtomicBool::new(false),
            uploads_off: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
            damaged: Mutex::new(HashSet::new()),
        });
        let uploader =
            (!config.read_only).then(|| upload::Uploader::start(&shared, UPLOAD_THREADS));
        Ok(RemoteCache {
            shared,
            read_only: config.read_only,
            uploader,
        })
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// True if this cache never uploads.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// What the remote did so far.
    pub fn stats(&self) -> RemoteStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RemoteStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            rejected: get(&c.rejected),
            errors: get(&c.errors),
            downloaded_bytes: get(&c.downloaded_bytes),
            uploads: get(&c.uploads),
            uploaded_bytes: get(&c.uploaded_bytes),
            upload_micros: get(&c.upload_micros),
            offline: self.shared.offline(),
        }
    }

    /// The warning not yet shown (at most one per build: the first problem).
    pub fn take_warnings(&self) -> Vec<String> {
        self.shared
            .warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
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

    /// True if results built now should carry SHA-256 digests (they will be uploaded).
    pub(crate) fn wants_sha256(&self) -> bool {
        !self.read_only && self.shared.uploading()
    }

    /// Looks `key` up; on a hit, downloads and checks every output into `store` and returns
    /// the result (with both digests), not yet recorded in the local action cache. `None` on
    /// a miss or any problem (counted, perhaps warned about).
    pub(crate) fn fetch(
        &self,
        key: &Digest,
        output_count: usize,
        store: &dyn Store,
    ) -> Option<ActionResult> {
        let shared = &self.shared;
        if shared.offline() {
            return None;
        }
        let remote_key = reapi::remote_key(key);
        let body = match shared
            .client
            .get_bytes(Kind::Ac, &remote_key, reapi::MAX_AC_BODY)
        {
            Ok(Some(body)) => body,
            Ok(None) => {
                bump(&shared.counters.misses, 1);
                return None;
            }
            Err(failure) => {
                shared.failed("looking up an action", &failure);
                return None;
            }
        };
        let outputs = match reapi::decode(&body, output_count) {
            Ok(outputs) => outputs,
            Err(why) => {
                self.reject(&format!("entry ac/{remote_key} {why}"));
                return None;
            }
        };
        let mut result = ActionResult::default();
        for output in outputs {
            let (digest, size) = self.download(&output, store)?;
            result.outputs.push((digest, size));
            result.sha256.push(output.sha256);
        }
        Some(result)
    }

    /// Downloads one blob into `store`, checking its SHA-256 and size.
    fn download(&self, output: &reapi::RemoteOutput, store: &dyn Store) -> Option<(Digest, u64)> {
        let shared = &self.shared;
        let local_error = |e: std::io::Error| {
            shared.warn(format!(
                "cannot store a download from remote cache {}: {e}; building locally",
                shared.url
            ));
        };
        let tmp = tempfile::NamedTempFile::new_in(store.tmp_dir())
            .map_err(local_error)
            .ok()?;
        let file = tmp.as_file().try_clone().map_err(local_error).ok()?;
        let mut sink = HashingWriter {
            inner: BufWriter::new(file),
            sha: Sha256::new(),
        };
        let got = match &output.inline {
            Some(bytes) => sink.write_all(bytes).map(|()| bytes.len() as u64),
            None => match shared
                .client
                .get_into(Kind::Cas, &output.sha256, &mut sink, output.size)
            {
                Ok(Some(n)) => Ok(n),
                Ok(None) => {
                    // Evicted since the entry was written: a plain miss.
                    bump(&shared.counters.misses, 1);
                    return None;
                }
                Err(Failure::Body(why)) => {
                    self.reject(&format!("blob cas/{} {why}", output.sha256));
                    return None;
                }
                Err(failure) => {
                    shared.failed("downloading a blob", &failure);
                    return None;
                }
            },
        };
        let got = got.and_then(|n| sink.inner.flush().map(|()| n));
        let got = got.map_err(local_error).ok()?;
        let HashingWriter { inner, sha } = sink;
        drop(inner);
        let sha = hex::encode(sha.finalize());
        if got != output.size || sha != output.sha256 {
            if let Ok(mut damaged) = shared.damaged.lock() {
                damaged.insert(output.sha256.clone());
            }
            self.reject(&format!(
                "blob cas/{} does not match its digest ({got} bytes with SHA-256 {sha}, \
                 expected {} bytes)",
                output.sha256, output.size
            ));
            return None;
        }
        bump(&shared.counters.downloaded_bytes, got);
        let path = tmp.into_temp_path();
        let stored = store.put_blob(&path).map_err(local_error).ok()?;
        // put_blob moved the file away; nothing left for the guard to delete.
        let _ = path.keep();
        Some(stored)
    }

    /// Counts a refused entry or blob and makes it the warning if it is the first problem.
    pub(crate) fn reject(&self, what: &str) {
        bump(&self.shared.counters.rejected, 1);
        self.shared.warn(format!(
            "remote cache {}: {what}; not used, building locally",
            self.shared.url
        ));
    }

    /// Counts a hit.
    pub(crate) fn hit(&self) {
        bump(&self.shared.counters.hits, 1);
    }

    /// Queues the upload of a result just built (with SHA-256 digests) whose blobs are in
    /// `store`. Does nothing when read-only or when uploads are off.
    pub(crate) fn upload(&self, key: &Digest, result: &ActionResult, store: &dyn Store) {
        let Some(uploader) = &self.uploader else {
            return;
        };
        if !self.shared.uploading() || result.sha256.len() != result.outputs.len() {
            return;
        }
        let files: Option<Vec<upload::File>> = result
            .outputs
            .iter()
            .zip(&result.sha256)
            .map(|((digest, size), sha256)| {
                Some(upload::File {
                    path: store.blob_path(digest)?,
                    sha256: sha256.clone(),
                    size: *size,
                })
            })
            .collect();
        if let Some(files) = files {
            uploader.push(upload::Job {
                key: reapi::remote_key(key),
                files,
            });
        }
    }
}

impl RemoteCache {
    /// Queues the upload of the result `store` holds under `key` (hashing outputs whose
    /// SHA-256 it does not record yet, and recording it). `Ok(false)` if the store has no such
    /// result, or the cache is read-only or uploads are off.
    pub fn push(&self, key: &Digest, store: &dyn Store) -> std::io::Result<bool> {
        if self.uploader.is_none() || !self.shared.uploading() {
            return Ok(false);
        }
        let Some(mut result) = store.get_action(key) else {
            return Ok(false);
        };
        if result.sha256.len() != result.outputs.len() {
            let mut sha256 = Vec::with_capacity(result.outputs.len());
            for (digest, _) in &result.outputs {
                let Some(path) = store.blob_path(digest) else {
                    return Ok(false);
                };
                let (_, sha, _) = Digest::of_reader_with_sha256(&mut std::fs::File::open(path)?)?;
                sha256.push(hex::encode(sha));
            }
            result.sha256 = sha256;
            store.put_action(key, &result)?;
        }
        self.upload(key, &result, store);
        Ok(true)
    }
}

/// Writes through to `inner` while hashing with SHA-256.
struct HashingWriter<W: Write> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
