//! Launchers: what a launcher binary is ([`identify()`]), the per-user registry of launchers for
//! other platforms ([`registry`]), and which launcher a target's package gets ([`choose`]).

pub mod choose;
pub mod identify;
pub mod registry;

pub use choose::{Asked, Chosen, Launchers, Refusal, Source};
pub use identify::{Identity, Kind, UPSTREAM_CODECS, identify, identify_file};
pub use registry::{Entry, Registry};
