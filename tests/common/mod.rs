//! Helpers shared by the end-to-end tests (`tests/launcher_*.rs`, `tests/build_*.rs`).
//!
//! - [`Sandbox`] (`sandbox`): a private directory per test with its own cache root, `$HOME`,
//!   XDG directories and `$TMPDIR`; every package runs there as a real process with a cleared
//!   environment, so nothing touches the real home or cache.
//! - [`Run`], [`run`], [`wait`] and friends (`process`): child processes started, awaited
//!   with a hang guard, and signalled.
//! - [`PackageBuilder`] and [`Slot`] (`packages`): real packages written by
//!   `pspf::write_package` with the launcher that `build.rs` builds (`FLAVOR_LAUNCHER_BIN`),
//!   slots encoded by `pspf::encode::compress`.
//! - [`Tar`] (`tar`): tar archives assembled byte by byte, so hostile entry names (`../x`,
//!   absolute paths, links leading outside) reach the launcher exactly as written.
//! - File helpers (`files`): tampering ([`flip_byte`], [`find_bytes`]), listing and counting;
//!   and, here, the binaries under test and the conformance kit ([`kit_dir`]).
//! - [`project`]: for the build tests (`tests/build_*.rs`), example projects copied into a
//!   sandbox and built there with `flavor build --json`.
//! - [`tools`]: for the package and cache tool tests (`tests/tools_*.rs`), `flavor` run in a
//!   sandbox and the conformance kit's per-slot facts.
//! - [`nginx`]: for the remote cache tests, a real nginx on loopback serving a WebDAV store
//!   (`PUT`/`GET`/`HEAD`, optional bearer token) and an always-500 endpoint.
//! - [`remote`]: for the remote cache tests (`tests/remote_*.rs`), builds against a server,
//!   the packages a build installed, and the server's `/ac/` entries decoded as REAPI
//!   `ActionResult`s.
//!
//! Every helper is re-exported here, so tests use `common::Sandbox`, `common::run`, ….
#![allow(dead_code)]

mod files;
pub mod nginx;
mod packages;
mod process;
pub mod project;
pub mod remote;
mod sandbox;
mod tar;
pub mod tools;

// Every test binary compiles this module but uses only some of these (as with dead_code).
#[allow(unused_imports)]
pub use self::{
    files::{copy_package, count_lines, files_under, find_bytes, flip_byte},
    packages::{Content, PackageBuilder, Slot, TEST_SEED, policy, sh, test_key},
    process::{
        PROCESS_DEADLINE, Run, line_channel, parse_env, run, send_signal, start, wait, wait_until,
    },
    sandbox::Sandbox,
    tar::Tar,
};

use std::path::{Path, PathBuf};

/// The static launcher `build.rs` built for this workspace.
pub fn launcher() -> PathBuf {
    PathBuf::from(env!("FLAVOR_LAUNCHER_BIN"))
}

/// The `flavor` command of this package.
pub fn flavor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flavor"))
}

/// The conformance kit: `$FLAVOR_SHARED_DIR/conformance`, else `shared/conformance` beside
/// the workspace.
pub fn kit_dir() -> PathBuf {
    let dir = match std::env::var_os("FLAVOR_SHARED_DIR") {
        Some(shared) => PathBuf::from(shared).join("conformance"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    };
    assert!(
        dir.join("packages").is_dir(),
        "conformance kit not found at {}; set FLAVOR_SHARED_DIR to the directory that holds \
         conformance/",
        dir.display()
    );
    dir
}
