//! The seam between what the remote cache does (look up, check, upload — [`crate::Remote`])
//! and how it talks to a server: the [`Transport`] trait, in REAPI terms (an action cache of
//! `ActionResult` messages, a CAS of blobs named by SHA-256), and the [`Failure`]s a request
//! can end in.
//!
//! [`HttpTransport`](crate::http::HttpTransport) speaks the Bazel HTTP remote-cache
//! protocol. A gRPC REAPI client (the `ActionCache`, `ContentAddressableStorage` and
//! `ByteStream` services, whose tonic clients `bazel-remote-apis` provides) implements the
//! same trait beside it.

use std::io::Write;
use std::path::Path;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;

/// Why a request did not give what was asked.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer: connection refused or reset, timeout, name not found, TLS, a body cut
    /// short. Further requests would likely fail the same way.
    Unreachable(String),
    /// The server answered with an unexpected status.
    Status(u16),
    /// The answer's body was unusable (too long, not what was asked for), or the download
    /// could not be written.
    Body(String),
    /// An action cache entry that is not a well-formed `ActionResult`.
    Malformed(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(why) | Failure::Body(why) | Failure::Malformed(why) => {
                write!(f, "{why}")
            }
            Failure::Status(code) => write!(f, "HTTP status {code}"),
        }
    }
}

/// A connection to one remote cache: its action cache and its CAS.
pub(crate) trait Transport: Send + Sync {
    /// The server's address, for messages.
    fn endpoint(&self) -> &str;

    /// The entry stored under `key` (64 hex digits), or `None` if there is none.
    fn get_action_result(&self, key: &str) -> Result<Option<re::ActionResult>, Failure>;

    /// Stores `result` under `key`.
    fn put_action_result(&self, key: &str, result: &re::ActionResult) -> Result<(), Failure>;

    /// True if the CAS holds the blob `sha256` with this size.
    fn has_blob(&self, sha256: &str, size: u64) -> Result<bool, Failure>;

    /// Streams the blob `sha256` (expected to be `size` bytes; more is refused) into
    /// `dest`; its length, or `None` if the CAS does not have it.
    fn get_blob(
        &self,
        sha256: &str,
        size: u64,
        dest: &mut dyn Write,
    ) -> Result<Option<u64>, Failure>;

    /// Uploads the file `path` as the blob `sha256` of `size` bytes.
    fn put_blob(&self, sha256: &str, size: u64, path: &Path) -> Result<(), Failure>;

    /// Uploads `bytes` as the blob `sha256` (a small blob made in memory: a REAPI `Tree`).
    fn put_blob_bytes(&self, sha256: &str, bytes: &[u8]) -> Result<(), Failure>;
}
