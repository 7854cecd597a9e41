//! Foreign-architecture executables that really run here: the aarch64 cross compiler
//! (`aarch64-linux-gnu-gcc`, with `-static` from Debian's `libc6-dev-arm64-cross`) and qemu's
//! aarch64 interpreter registered in binfmt_misc with the `F` flag by `.ci/tools.sh`, so an
//! aarch64 ELF is executed transparently — by a test, or by a launcher that `exec`s it.

use crate::fixture_cache::run_checked;
use crate::need::{self, RUN_TOOLS};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The registration `.ci/tools.sh` writes.
pub const BINFMT_ENTRY: &str = "/proc/sys/fs/binfmt_misc/qemu-aarch64";

/// `aarch64-linux-gnu-gcc` with its static C library, or the [`need`] rule.
pub fn aarch64_gcc() -> Option<PathBuf> {
    let gcc = need::command("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")?;
    if !Path::new("/usr/aarch64-linux-gnu/lib/libc.a").is_file() {
        return need::missing(
            "the aarch64 static C library is not installed (Debian package libc6-dev-arm64-cross)",
            RUN_TOOLS,
        );
    }
    Some(gcc)
}

/// `Some(())` when aarch64 executables run here: qemu's interpreter is registered, enabled and
/// opened at registration (flag `F`, so it also works inside other mount namespaces).
/// Otherwise the [`need`] rule — or a skip even under CI when `.ci/tools.sh` recorded that this
/// machine does not permit the registration.
pub fn aarch64_runs() -> Option<()> {
    let entry = std::fs::read_to_string(BINFMT_ENTRY).unwrap_or_default();
    let enabled = entry.lines().any(|l| l == "enabled");
    let flags = entry
        .lines()
        .find_map(|l| l.strip_prefix("flags: "))
        .unwrap_or("");
    if enabled && flags.contains('F') {
        return Some(());
    }
    let marker = crate::ci_tools::cache_dir().join("binfmt-unavailable");
    if let Ok(reason) = std::fs::read_to_string(&marker) {
        return need::impossible(format_args!(
            "aarch64 executables cannot run: {}",
            reason.trim()
        ));
    }
    let state = if entry.is_empty() {
        "not registered".to_string()
    } else {
        format!("registered but enabled={enabled}, flags '{flags}' (needs F)")
    };
    need::missing(
        format_args!("qemu's aarch64 interpreter is {state} in binfmt_misc ({BINFMT_ENTRY})"),
        RUN_TOOLS,
    )
}

/// Compile the C program `source` into the static aarch64 executable `out` (`-O2 -static`).
pub fn compile_aarch64_static(gcc: &Path, source: &str, out: &Path) -> Result<(), String> {
    let dir = out.parent().expect("the output has a directory");
    let c_file = dir.join(format!(
        "{}.c",
        out.file_name().expect("a file name").to_string_lossy()
    ));
    std::fs::write(&c_file, source).map_err(|e| format!("write {}: {e}", c_file.display()))?;
    run_checked(
        Command::new(gcc)
            .args(["-O2", "-static", "-o"])
            .arg(out)
            .arg(&c_file),
    )
    .map(drop)
}
