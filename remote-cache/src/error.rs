//! The one error type of the crate: what can be wrong with a remote cache's configuration.
//! Failures while a build talks to the server are never errors of the build: they become
//! misses, statistics and a warning ([`crate::Remote`]).

/// A remote cache that cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The URL cannot name a remote cache.
    #[error("`{url}` {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it ("is not an http:// or https:// URL", …).
        reason: String,
    },
}
