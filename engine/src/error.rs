//! The one error type of the crate.
//!
//! Failures of individual actions are not errors of the engine: they are [`ActionError`]s
//! recorded in the build [`Report`]. [`EngineError`] covers misuse of the graph API and
//! malformed values handed to the engine (a digest that is not 64 hex digits, …), source files
//! that cannot be read or that change while a build uses them, and store operations.
//!
//! [`ActionError`]: crate::ActionError
//! [`Report`]: crate::Report

use std::path::PathBuf;

use crate::ActionId;

/// An error building a graph or parsing engine values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// An input of the action being added names an action that is not (yet) in the graph.
    #[error(
        "action {adding:?} ({label}) reads an output of action {missing:?}, which is not in the graph"
    )]
    UnknownAction {
        /// The id the new action would have had.
        adding: ActionId,
        /// Label of the action being added.
        label: String,
        /// The id its input names.
        missing: ActionId,
    },

    /// An input names an output index the producing action does not have.
    #[error(
        "action {adding:?} ({label}) reads output {index} of action {producer:?}, which has only {count} output(s)"
    )]
    UnknownOutput {
        /// The id the new action would have had.
        adding: ActionId,
        /// Label of the action being added.
        label: String,
        /// The producing action.
        producer: ActionId,
        /// The output index asked for.
        index: usize,
        /// How many outputs the producer declares.
        count: usize,
    },

    /// A digest in text form is not 64 lowercase or uppercase hex digits.
    #[error("not a blake3 digest (64 hex digits): {text:?}")]
    InvalidDigest {
        /// The text that failed to parse (cut to a reasonable length).
        text: String,
    },

    /// A source file an action reads cannot be read.
    #[error("cannot read source file {}: {source}", path.display())]
    SourceUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A source file changed while the build used it (between computing the action key and
    /// running the action, or while it was read), so the result would not match its key.
    #[error(
        "source file {} changed during the build, so this result was not stored; \
         build again once it is saved",
        path.display()
    )]
    SourceChanged {
        /// The file.
        path: PathBuf,
    },

    /// Reading or writing the store failed.
    #[error("build cache {}: {source}", path.display())]
    Store {
        /// The file or directory concerned.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
