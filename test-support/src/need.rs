//! The rule for tests that need a tool from `.ci/tools.sh` (patchelf, the aarch64 cross
//! compiler, qemu in binfmt_misc, uv, pip, `unshare`, network access to PyPI): outside CI a
//! missing tool skips the test with one line on stderr; under `CI=true` it fails the test, so
//! CI really runs what it claims to.
//!
//! Usage, at the top of a test:
//!
//! ```ignore
//! let Some(uv) = support::ci_tools::uv() else { return };
//! ```

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether this run is CI (`CI=true`, as `.ci/run` is run): then nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A tool or fixture a test needs is missing: under CI, panic with `what` and the fix;
/// elsewhere write one `skipped: …` line straight to stderr (past the test harness's capture,
/// so it shows in `cargo test` output) and return `None`.
#[track_caller]
pub fn missing<T>(what: impl Display, fix: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} (CI=true: nothing may be skipped); {fix}");
    }
    let line = format!("skipped: {what}; {fix}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// A reason the machine itself cannot provide something (recorded by `.ci/tools.sh`, e.g. a
/// container that may not register binfmt handlers): skip with that reason, even under CI.
pub fn impossible<T>(what: impl Display) -> Option<T> {
    let line = format!("skipped: {what} (this machine cannot provide it)\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    None
}

/// The fix named in every "missing" message about a `.ci/tools.sh` tool.
pub const RUN_TOOLS: &str = "run `bash .ci/tools.sh` as root (or `.ci/run`) to install it";

/// The first executable called `name` in `$PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

/// A regular file (after symlinks) with an execute bit.
pub fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` from `$PATH`, or [`missing`] naming the Debian package that provides it.
pub fn command(name: &str, debian_package: &str) -> Option<PathBuf> {
    on_path(name).or_else(|| {
        missing(
            format_args!("`{name}` is not installed (Debian package {debian_package})"),
            RUN_TOOLS,
        )
    })
}
