//! # flavor-rules — what `flavor.toml` means
//!
//! The manifest schema with span-carrying diagnostics ([`manifest`]), finding and loading a
//! workspace ([`workspace`]), which packages and targets a build selects ([`select`]), the
//! launchers packages of each platform get ([`launcher`]), planning manifests into
//! build-engine actions ([`plan`]) of the kinds in [`actions`], and which key signs a package
//! ([`signing`]).
//!
//! ```no_run
//! use flavor_rules::Manifest;
//!
//! let manifest = Manifest::load("flavor.toml".as_ref()).map_err(|e| e.render_plain())?;
//! if let Some(pkg) = &manifest.package {
//!     println!("{} {}: {} slots", pkg.name.value, pkg.version, pkg.slots.len());
//! }
//! # Ok::<(), String>(())
//! ```

#![deny(missing_docs)]

pub mod actions;
pub mod collect;
pub mod diagnostic;
mod error;
pub mod import;
pub mod launcher;
pub mod manifest;
pub mod paths;
pub mod plan;
pub mod select;
pub mod signing;
pub mod workspace;

pub use diagnostic::{ManifestErrors, Problem};
pub use error::Error;
pub use manifest::Manifest;
