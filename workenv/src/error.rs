//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong handling the per-user cache and its files.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A path that would lead outside the directory it must stay in (a `..`, an absolute
    /// path, or a symbolic link on the way).
    #[error("{path}: {reason}")]
    Outside {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// An exec plan that cannot be used (unreadable, or written by another plan version).
    #[error("exec plan {path}: {reason}")]
    Plan {
        /// The plan file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
