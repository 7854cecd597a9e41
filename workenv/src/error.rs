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
    /// A cache directory or file another user owns: they could have put anything there.
    #[error(
        "refusing to use {path}: it belongs to uid {owner}, not to you (uid {uid}), so it may hold anything; remove it, or set FLAVOR_CACHE to a directory of your own"
    )]
    NotOwned {
        /// The directory or file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current (effective) user.
        uid: u32,
    },
    /// A cache directory or file that every user may write to.
    #[error(
        "refusing to use {path}: it is writable by other users (mode {mode:04o}); run `chmod o-w {path}`, or set FLAVOR_CACHE to a directory of your own"
    )]
    WritableByOthers {
        /// The directory or file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A path where a real directory of the current user was expected (a private fallback
    /// cache root must not be a link).
    #[error(
        "refusing to use {path}: it is not a directory of yours (a symbolic link or a file); remove it, or set FLAVOR_CACHE to a directory of your own"
    )]
    NotADirectory {
        /// The path.
        path: PathBuf,
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
