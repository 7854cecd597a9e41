//! Resolving an action's inputs: where their bytes are ([`Source`]) and the action key over
//! their digests ([`key_of`]). The build's workers and the live set of garbage collection
//! ([`LiveSet`](crate::LiveSet)) both go through here, so they can never disagree about which
//! key an action has.

use std::path::PathBuf;

use crate::action::action_key;
use crate::{Action, ActionError, ActionId, Digest, Input, Output, SourceDigests, SourceVersion};

/// Where an input's bytes are, once the actions it depends on have finished.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// A source file.
    File(PathBuf),
    /// An output of another action: a blob (or a tree) in the store.
    Blob(Output),
}

/// The sources of `action`'s inputs, given `output(action, index)`: a finished action's
/// output. `None` if an output it reads is unknown.
pub(crate) fn sources_of(
    action: &dyn Action,
    output: impl Fn(ActionId, usize) -> Option<Output>,
) -> Option<Vec<Source>> {
    action
        .inputs()
        .into_iter()
        .map(|input| match input {
            Input::File(path) => Some(Source::File(path)),
            Input::Output { action, index } => output(action, index).map(Source::Blob),
        })
        .collect()
}

/// An action's key, with the versions of the source files it was computed from (to check
/// after the action ran that they did not change).
pub(crate) struct Keyed {
    pub(crate) key: Digest,
    pub(crate) files: Vec<SourceVersion>,
}

/// Digests `sources` (source files through `digests`) and computes `action`'s key.
///
/// # Errors
/// A source file that cannot be read or kept changing while it was read.
pub(crate) fn key_of(
    action: &dyn Action,
    sources: &[Source],
    digests: &SourceDigests,
) -> Result<Keyed, ActionError> {
    let mut input_digests = Vec::with_capacity(sources.len());
    let mut files = Vec::new();
    for source in sources {
        match source {
            Source::File(path) => {
                let version = digests
                    .version(path)
                    .map_err(|e| ActionError::new(e.to_string()))?;
                input_digests.push(version.digest());
                files.push(version);
            }
            Source::Blob(output) => input_digests.push(output.digest),
        }
    }
    Ok(Keyed {
        key: action_key(action, &input_digests),
        files,
    })
}
