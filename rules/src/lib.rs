//! # flavor-rules — what `flavor.toml` means
//!
//! The manifest schema with span-carrying diagnostics ([`manifest`]), and planning a manifest
//! into build-engine actions.

pub mod actions;
pub mod collect;
pub mod diagnostic;
pub mod manifest;
pub mod plan;
pub mod signing;
pub mod workspace;

pub use diagnostic::{ManifestErrors, Problem};
pub use manifest::Manifest;
