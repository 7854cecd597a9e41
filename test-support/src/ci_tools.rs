//! The PyPI tools `.ci/tools.sh` installs — uv and PyInstaller, pinned with hashes in
//! `.ci/tools.txt` — in a venv at `<cache>/tools`, where `<cache>` is `$FLAVOR_CI_CACHE`, else
//! `$XDG_CACHE_HOME/flavor-ci`, else `~/.cache/flavor-ci` (the same rule as the script).
//!
//! Each accessor checks that the venv was made from the current `.ci/tools.txt` (the script
//! stamps its sha256) and otherwise follows the [`need`] rule: skip outside CI,
//! fail under CI.

use crate::fixture_cache::sha256_file;
use crate::need::{self, RUN_TOOLS};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The cache directory of the CI tools (see the module documentation).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLAVOR_CI_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("$HOME is set")).join(".cache")
        });
    base.join("flavor-ci")
}

/// The tools venv (`<cache>/tools`).
pub fn venv() -> PathBuf {
    cache_dir().join("tools")
}

/// `.ci/tools.txt`, the pinned requirements of the tools venv.
pub fn pins_file() -> PathBuf {
    crate::workspace_root().join(".ci/tools.txt")
}

/// The version `.ci/tools.txt` pins for `package` (`uv==0.13.9` → `0.13.9`).
pub fn pinned_version(package: &str) -> String {
    let text = std::fs::read_to_string(pins_file()).expect("read .ci/tools.txt");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{package}==")))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest).to_string())
        .unwrap_or_else(|| panic!(".ci/tools.txt pins no {package}"))
}

/// Whether the venv exists and was made from the current `.ci/tools.txt`; the reason if not.
fn venv_state() -> &'static Result<(), String> {
    static STATE: OnceLock<Result<(), String>> = OnceLock::new();
    STATE.get_or_init(|| {
        let stamp = venv().join(".pins-sha256");
        let Ok(made_from) = std::fs::read_to_string(&stamp) else {
            return Err(format!("the CI tools venv {} is missing", venv().display()));
        };
        let current = sha256_file(&pins_file()).expect("hash .ci/tools.txt");
        if made_from.trim() != current {
            return Err(format!(
                "the CI tools venv {} was made from another .ci/tools.txt",
                venv().display()
            ));
        }
        Ok(())
    })
}

/// A program of the tools venv's `bin/`, or the [`need`] rule.
fn venv_program(name: &str) -> Option<PathBuf> {
    if let Err(why) = venv_state() {
        return need::missing(format_args!("{why} (it provides {name})"), RUN_TOOLS);
    }
    let path = venv().join("bin").join(name);
    if need::is_executable(&path) {
        Some(path)
    } else {
        need::missing(format_args!("{} is missing", path.display()), RUN_TOOLS)
    }
}

/// uv, at the version `.ci/tools.txt` pins ([`pinned_version`]`("uv")`).
pub fn uv() -> Option<PathBuf> {
    venv_program("uv")
}

/// PyInstaller's command, at the pinned version.
pub fn pyinstaller() -> Option<PathBuf> {
    venv_program("pyinstaller")
}

/// `python -m pip` with the tools venv's pinned pip, else the host `python3`'s pip (enough to
/// download fixtures before `.ci/tools.sh` ran), else the [`need`] rule.
pub fn pip() -> Option<Command> {
    let python = match venv_state() {
        Ok(()) => venv().join("bin/python"),
        Err(_) => match need::on_path("python3") {
            Some(python3) => python3,
            None => return need::missing("no python3 (for pip) on PATH", RUN_TOOLS),
        },
    };
    let mut cmd = Command::new(python);
    cmd.args(["-m", "pip", "--disable-pip-version-check", "--no-input"]);
    Some(cmd)
}
