//! Real PyPI applications nobody here wrote, as pinned wheel sets for CPython 3.12 on x86_64
//! Linux: `test-support/pins/<app>.txt` lists every wheel as `name==version
//! --hash=sha256:<the one file>` (pip's `--require-hashes` format, usable as is by
//! `uv pip install --require-hashes --no-index --find-links`).
//!
//! [`app`] downloads a set once with pip (`--require-hashes`, only binary wheels for
//! cp312/manylinux x86_64) into the shared find-links directory
//! `target/flavor-fixtures/wheels/`, under a lock, and then checks every file's sha256 on
//! every call — so after one online run (`.ci/run`) the tests and benchmarks work offline.

use crate::fixture_cache::{kind_dir, locked, run_checked, sha256_file, staging};
use crate::need;
use std::fs;
use std::path::{Path, PathBuf};

/// The pinned apps: `cowsay` 6.1 (no dependencies), `tabulate` 0.10.0 (entry `tabulate:_main`),
/// `pyfiglet` 1.0.4 (package data), `httpie` 3.2.4 (16 wheels, two with C extensions).
pub const APPS: [&str; 4] = ["cowsay", "tabulate", "pyfiglet", "httpie"];

/// One pinned wheel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wheel {
    /// The requirement name as pinned (`requests-toolbelt`).
    pub name: String,
    /// `1.0.0`.
    pub version: String,
    /// The wheel's file name, as pip downloads it.
    pub file: String,
    /// Lowercase hex sha256 of that file.
    pub sha256: String,
}

/// An app's wheel set, present and checked.
#[derive(Debug, Clone)]
pub struct WheelSet {
    /// `cowsay`, `httpie`, …
    pub app: &'static str,
    /// The pins file (`test-support/pins/<app>.txt`), a hash-pinned requirements file.
    pub requirements: PathBuf,
    /// The find-links directory holding the wheels (shared by every app).
    pub dir: PathBuf,
    /// Every wheel of the set, in the pins file's order.
    pub wheels: Vec<Wheel>,
}

impl WheelSet {
    /// The path of each wheel file.
    pub fn paths(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.wheels.iter().map(|w| self.dir.join(&w.file))
    }
}

/// `test-support/pins/<app>.txt`.
pub fn pins_file(app: &str) -> PathBuf {
    crate::workspace_root().join(format!("test-support/pins/{app}.txt"))
}

/// Parse a pins file: `name==version --hash=sha256:<hex>  # <file name>` per line.
pub fn parse_pins(path: &Path) -> Vec<Wheel> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let bad = || format!("{}: malformed pin line {line:?}", path.display());
            let (req, comment) = line.split_once('#').unwrap_or_else(|| panic!("{}", bad()));
            let mut words = req.split_whitespace();
            let (name, version) = words
                .next()
                .and_then(|r| r.split_once("=="))
                .unwrap_or_else(|| panic!("{}", bad()));
            let sha256 = words
                .next()
                .and_then(|h| h.strip_prefix("--hash=sha256:"))
                .unwrap_or_else(|| panic!("{}", bad()));
            Wheel {
                name: name.to_string(),
                version: version.to_string(),
                file: comment.trim().to_string(),
                sha256: sha256.to_string(),
            }
        })
        .collect()
}

/// The wheel set of `app` (one of [`APPS`]), downloaded on first use; `None` by the [`need`]
/// rule when PyPI cannot be reached. Panics when a cached or downloaded file's sha256 differs
/// from its pin.
pub fn app(app: &str) -> Option<WheelSet> {
    let app = APPS
        .iter()
        .copied()
        .find(|a| *a == app)
        .unwrap_or_else(|| panic!("no pinned app {app:?}; pinned: {}", APPS.join(", ")));
    let requirements = pins_file(app);
    let wheels = parse_pins(&requirements);
    let dir = kind_dir("wheels");
    if !all_present(&dir, &wheels) {
        let fetched = locked(&dir, app, || {
            all_present(&dir, &wheels) || download(&requirements, &dir, &wheels)
        });
        if !fetched {
            return None;
        }
    }
    for w in &wheels {
        let path = dir.join(&w.file);
        let sha = sha256_file(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        assert_eq!(
            sha,
            w.sha256,
            "{} has sha256 {sha}, {} pins {}; delete it to fetch it again",
            path.display(),
            requirements.display(),
            w.sha256
        );
    }
    Some(WheelSet {
        app,
        requirements,
        dir,
        wheels,
    })
}

fn all_present(dir: &Path, wheels: &[Wheel]) -> bool {
    wheels.iter().all(|w| dir.join(&w.file).is_file())
}

/// The pip arguments that select CPython 3.12 wheels for x86_64 manylinux (pure
/// `py3-none-any` wheels always qualify).
pub const PIP_PLATFORM_ARGS: [&str; 13] = [
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "--implementation",
    "cp",
    "--abi",
    "cp312",
    "--platform",
    "manylinux_2_28_x86_64",
    "--platform",
    "manylinux_2_17_x86_64",
    "--platform",
    "manylinux2014_x86_64",
];

/// Download the set with pip into a staging directory (pip checks every hash), then move
/// each pinned file into `dir`. `false` (after the [`need`] rule) if pip or PyPI failed.
fn download(requirements: &Path, dir: &Path, wheels: &[Wheel]) -> bool {
    let stage = staging(dir);
    let Some(mut pip) = crate::ci_tools::pip() else {
        return false;
    };
    pip.args(["download", "--quiet", "--no-deps", "--require-hashes"])
        .args(PIP_PLATFORM_ARGS)
        .arg("--requirement")
        .arg(requirements)
        .arg("--dest")
        .arg(stage.path());
    if let Err(e) = run_checked(&mut pip) {
        return need::missing::<()>(
            format_args!(
                "cannot download the wheels of {}: {e}",
                requirements.display()
            ),
            "CI reaches PyPI; elsewhere check the network",
        )
        .is_some();
    }
    for w in wheels {
        let from = stage.path().join(&w.file);
        let to = dir.join(&w.file);
        fs::rename(&from, &to).unwrap_or_else(|e| {
            panic!(
                "pip did not leave {} (pinned in {}): {e}",
                w.file,
                requirements.display()
            )
        });
    }
    true
}
