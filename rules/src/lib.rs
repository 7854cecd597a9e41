//! # flavor-rules — what `flavor.toml` means
//!
//! The manifest schema with span-carrying diagnostics ([`manifest`]), and planning a manifest
//! into build-engine actions.

pub mod diagnostic;
pub mod manifest;

pub use diagnostic::{ManifestErrors, Problem};
pub use manifest::Manifest;
