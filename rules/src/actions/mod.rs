//! The action kinds a manifest plans into: archive files, compress a blob, run a build step,
//! assemble a signed package. Each is a pure function of its parameters and input bytes, so
//! the engine can cache it by key.

mod archive;
mod compress;
mod package;
pub mod python;
mod sandbox;
mod step;
mod stream;

pub use archive::{ArchiveAction, ArchiveEntry, EntryKind, SlotSummary};
pub use compress::CompressAction;
pub use package::{PackageAction, PackageSlot, PackageSpecParams};
pub use python::{FetchAction, InstallAction, InterpreterAction, ProjectWheelAction, RuntimeFacts};
pub use step::StepAction;

/// Canonical bytes of a JSON value (sorted keys), for action parameters.
pub(crate) fn canonical(value: &serde_json::Value) -> Vec<u8> {
    pspf::metadata::canonical_json(value).unwrap_or_default()
}
