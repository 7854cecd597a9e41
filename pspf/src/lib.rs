//! # pspf — the PSPF/2025 package format
//!
//! Everything about the bytes of a PSPF/2025 package, and nothing else: no policy, a small
//! set of dependencies (the launcher links this crate), and no threads of its own but the
//! writers an extraction uses while it decodes (see [`extract::unpack_tar`]).
//!
//! A package is `launcher | gzip(metadata JSON) | slot table | slots | 📦 index 🪄`. The
//! index is found from the end of the file; everything in it is little-endian.
//!
//! - [`Package`] opens a package (any upstream writer's, leniently) and streams its slots;
//! - [`Package::verify`] reports every integrity check separately ([`verify::Report`]);
//! - [`Package::slot_reader`] decodes a slot as a `Read`, verifying its digest as it streams;
//! - [`Package::extract_slot`] / [`extract::unpack_tar`] extract without ever writing outside
//!   the destination, never decoding a slot past its signed decoded size;
//! - [`archive::for_each_member`] walks a tar stream with every header bounded before it is
//!   read;
//! - [`write_package`] writes a reproducible, signed package (feature `write`);
//! - [`keys`] derives keys from seeds and reads/writes PEM key files;
//! - [`Platform`] names the platforms packages are built for, and [`identity`] how flavor's
//!   launcher binary says which codecs it decodes.
//!
//! ```no_run
//! use pspf::{Package, VerifyOptions};
//!
//! let pkg = Package::open("dist/hello.psp")?;
//! let report = pkg.verify(&VerifyOptions::default());
//! assert!(report.is_ok());
//! println!("{} {}", pkg.metadata()?.package.name, pkg.metadata()?.package.version);
//! let mut slot = pkg.slot_reader(0)?;           // decoded bytes, verified as they stream
//! std::io::copy(&mut slot, &mut std::io::sink())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod archive;
pub mod compat;
pub mod descriptor;
#[cfg(feature = "write")]
pub mod encode;
pub mod error;
pub mod extract;
pub mod identity;
pub mod index;
pub mod keys;
pub mod metadata;
pub mod ops;
mod parallel;
pub mod pieces;
pub mod platform;
pub mod reader;
#[cfg(feature = "write")]
pub mod repack;
pub mod seekable;
pub mod setup;
pub mod stream;
mod untar;
pub mod verify;
pub mod vocabulary;
#[cfg(feature = "write")]
pub mod writer;
mod writers;

pub use descriptor::SlotDescriptor;
pub use error::{Error, ErrorKind, Result};
pub use index::Index;
pub use metadata::Metadata;
pub use ops::{Codec, Operations};
pub use platform::Platform;
pub use reader::{Package, read_trailer};
#[cfg(feature = "write")]
pub use repack::repack;
pub use setup::{SetupCommand, SetupEntry, SetupKind};
pub use stream::SlotReader;
pub use verify::{Report, VerifyOptions};
pub use vocabulary::{Lenient, Lifecycle, Purpose, Term};

/// serde, for the [`vocabulary!`] macro's expansion in other crates.
#[doc(hidden)]
pub use serde as __serde;
#[cfg(feature = "write")]
pub use writer::{
    PackagePlan, PackageSpec, SlotInput, WriteSummary, flavor_metadata, plan_package, write_package,
};
