//! What the build's workers and the upload threads share about one remote cache: the
//! [`Transport`], the SHA-256 index, the statistics, the on/off switches and the one warning
//! a build shows. Every request failure goes through [`Shared::failed`] or
//! [`Shared::upload_failed`], which decide what it turns off.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::RemoteStats;
use crate::index::Sha256Index;
use crate::transport::{Failure, Transport};

/// The statistics, updated from any thread.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) downloaded_bytes: AtomicU64,
    pub(crate) uploads: AtomicU64,
    pub(crate) uploaded_bytes: AtomicU64,
    pub(crate) upload_micros: AtomicU64,
}

/// Adds `by` to a counter.
pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// State shared by lookups and uploads.
pub(crate) struct Shared {
    pub(crate) transport: Box<dyn Transport>,
    pub(crate) index: Sha256Index,
    pub(crate) counters: Counters,
    offline: AtomicBool,
    uploads_off: AtomicBool,
    warned: AtomicBool,
    warnings: Mutex<Vec<String>>,
    /// Blobs found not matching their digest: uploaded again even if the server has an
    /// object of the right size, so a writable build heals them.
    damaged: Mutex<HashSet<String>>,
}

impl Shared {
    pub(crate) fn new(transport: Box<dyn Transport>, index: Sha256Index) -> Shared {
        Shared {
            transport,
            index,
            counters: Counters::default(),
            offline: AtomicBool::new(false),
            uploads_off: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            warnings: Mutex::new(Vec::new()),
            damaged: Mutex::new(HashSet::new()),
        }
    }

    /// The server's address.
    pub(crate) fn url(&self) -> &str {
        self.transport.endpoint()
    }

    pub(crate) fn stats(&self) -> RemoteStats {
        let c = &self.counters;
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
            offline: self.offline(),
        }
    }

    pub(crate) fn mark_damaged(&self, sha256: &str) {
        if let Ok(mut damaged) = self.damaged.lock() {
            damaged.insert(sha256.to_string());
        }
    }

    pub(crate) fn is_damaged(&self, sha256: &str) -> bool {
        self.damaged.lock().is_ok_and(|d| d.contains(sha256))
    }

    /// Queues `message` as the build's remote-cache warning, unless one was given already.
    pub(crate) fn warn(&self, message: String) {
        if !self.warned.swap(true, Ordering::AcqRel)
            && let Ok(mut warnings) = self.warnings.lock()
        {
            warnings.push(message);
        }
    }

    pub(crate) fn take_warnings(&self) -> Vec<String> {
        self.warnings
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    /// Counts a refused entry or blob and makes it the warning if it is the first problem.
    pub(crate) fn reject(&self, what: &str) {
        bump(&self.counters.rejected, 1);
        self.warn(format!(
            "remote cache {}: {what}; not used, building locally",
            self.url()
        ));
    }

    /// A request failed while `doing` something: an unreachable server turns the remote off
    /// for the rest of the build; any failure is counted and may become the warning.
    pub(crate) fn failed(&self, doing: &str, failure: &Failure) {
        bump(&self.counters.errors, 1);
        match failure {
            Failure::Unreachable(why) => {
                self.offline.store(true, Ordering::Release);
                self.warn(format!(
                    "remote cache {} is unreachable ({why}) while {doing}; \
                     building without it",
                    self.url()
                ));
            }
            other => self.warn(format!(
                "remote cache {}: {other} while {doing}; building that action locally",
                self.url()
            )),
        }
    }

    /// An upload failed: a refusal (authentication, method, size) turns uploads off.
    pub(crate) fn upload_failed(&self, what: &str, failure: &Failure) {
        match failure {
            Failure::Status(code @ (401 | 403 | 405 | 413)) => {
                bump(&self.counters.errors, 1);
                self.uploads_off.store(true, Ordering::Release);
                self.warn(format!(
                    "remote cache {} refused to store {what} (HTTP {code}); uploads are off for \
                     this build: check the token and the server's write access, or use \
                     --remote-cache-read-only",
                    self.url()
                ));
            }
            other => self.failed(&format!("uploading {what}"), other),
        }
    }

    pub(crate) fn offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }

    pub(crate) fn uploading(&self) -> bool {
        !self.offline() && !self.uploads_off.load(Ordering::Acquire)
    }
}
