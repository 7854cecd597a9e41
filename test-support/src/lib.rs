//! # flavor-test-support — helpers for flavor's integration tests
//!
//! One crate, used by the end-to-end tests of the `flavor` command (`tests/it/`) and by the
//! `pspf` integration tests (`pspf/tests/it/`), instead of files included by `#[path]`.
//!
//! - [`kit`]: the conformance kit in `testdata/conformance/` (packages written by the upstream
//!   writers and the facts a reader must reproduce from each).
//! - [`Sandbox`] (`sandbox`): a private directory per test with its own cache root, `$HOME`,
//!   XDG directories and `$TMPDIR`; every package runs there as a real process with a cleared
//!   environment, so nothing touches the real home or cache.
//! - [`Run`], [`run`], [`wait`] and friends (`process`): child processes started, awaited
//!   with a hang guard, and signalled.
//! - [`PackageBuilder`] and [`Slot`] (`packages`): real packages written by
//!   `pspf::write_package` with the launcher that `build.rs` builds ([`launcher`]), slots
//!   encoded by `pspf::encode::compress`.
//! - [`Tar`] (`tar`): tar archives assembled byte by byte, so hostile entry names (`../x`,
//!   absolute paths, links leading outside) reach the launcher exactly as written.
//! - File helpers (`files`): tampering ([`flip_byte`], [`find_bytes`]), listing and counting.
//! - [`project`]: example projects copied into a sandbox and built there with
//!   `flavor build --json`.
//! - [`tools`]: `flavor` run in a sandbox and the conformance kit's per-slot facts.
//! - [`nginx`]: a real nginx on loopback serving a WebDAV store (`PUT`/`GET`/`HEAD`, optional
//!   bearer token) and an always-500 endpoint, for the remote cache tests.
//! - [`reapi`]: a real REAPI v2 cluster (BuildGrid, a private PostgreSQL, test workers) on
//!   loopback, with fault injection, a log of what the workers ran, and a small blocking
//!   REAPI client.
//! - [`remote`]: builds against a remote cache server, the packages a build installed, and the
//!   server's `/ac/` entries decoded as REAPI `ActionResult`s.
//!
//! Tools and fixtures for Python apps, other platforms and benchmarks (issues 16–18), each
//! following the [`need`] rule (skip with one line outside CI, fail under `CI=true`):
//!
//! - [`need`]: that rule, and `$PATH` lookups.
//! - [`ci_tools`]: uv and PyInstaller, pinned in `.ci/tools.txt`, from the venv `.ci/tools.sh`
//!   makes; pip for downloads.
//! - [`cross`]: the aarch64 cross compiler and qemu's aarch64 interpreter in binfmt_misc.
//! - [`upstream`]: FlavorPack 0.5.4's Rust and Go launchers for five platforms, from the
//!   PyPI wheels, header-checked ([`upstream::platform_of`]).
//! - [`cpython`]: a relocatable CPython 3.12 in python-build-standalone "install_only" layout,
//!   made from pyenv's interpreter.
//! - [`hidden_python`]: commands run with every host Python hidden (`unshare -m` + tmpfs).
//! - [`wheels`]: pinned wheel sets of real PyPI apps (cowsay, tabulate, pyfiglet, httpie).
//! - [`fixture_cache`]: where those live (`target/flavor-fixtures/`) and the build-once lock.
#![allow(dead_code, missing_docs)]

pub mod ci_tools;
pub mod cpython;
pub mod cross;
mod files;
pub mod fixture_cache;
pub mod hidden_python;
pub mod kit;
pub mod need;
pub mod nginx;
mod packages;
mod process;
pub mod project;
pub mod reapi;
pub mod remote;
mod sandbox;
mod tar;
pub mod tools;
pub mod upstream;
pub mod wheels;

pub use self::{
    files::{copy_package, count_lines, files_under, find_bytes, flip_byte},
    kit::kit_dir,
    packages::{Content, PackageBuilder, Slot, TEST_SEED, policy, sh, test_key},
    process::{
        PROCESS_DEADLINE, Run, line_channel, parse_env, run, send_signal, start, wait, wait_until,
    },
    sandbox::Sandbox,
    tar::Tar,
};

use std::path::{Path, PathBuf};

/// The workspace root (the directory of the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the workspace")
        .to_path_buf()
}

/// The directory cargo puts the test binary's profile outputs in (`target/debug`): the test
/// executable runs from `target/debug/deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("the test executable has a directory");
    if deps.ends_with("deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The `flavor` command built for these tests (`target/<profile>/flavor`).
pub fn flavor_bin() -> PathBuf {
    let bin = profile_dir().join("flavor");
    assert!(
        bin.is_file(),
        "the flavor binary is not at {}; run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// The cargo target directory (`target/`, or wherever `CARGO_TARGET_DIR` put it).
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("the profile directory sits in the target directory")
        .to_path_buf()
}

/// The static launcher `build.rs` built for this workspace (or `$FLAVOR_LAUNCHER_PREBUILT`).
pub fn launcher() -> PathBuf {
    if let Some(prebuilt) = std::env::var_os("FLAVOR_LAUNCHER_PREBUILT") {
        return PathBuf::from(prebuilt);
    }
    let target = profile_dir()
        .parent()
        .expect("the profile directory sits in the target directory")
        .to_path_buf();
    let bin = target.join("launcher-build/x86_64-unknown-linux-gnu/launcher/flavor-launcher");
    assert!(
        bin.is_file(),
        "the launcher is not at {}; `cargo build` builds it (build.rs)",
        bin.display()
    );
    bin
}

/// The names of an ELF file's sections (empty if it is not an object file `object` reads).
pub fn section_names(path: &Path) -> Vec<String> {
    use object::{Object, ObjectSection};
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Ok(file) = object::File::parse(&*data) else {
        return Vec::new();
    };
    file.sections()
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect()
}
