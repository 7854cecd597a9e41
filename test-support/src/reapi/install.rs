//! Where BuildGrid is, and what a test does when it is not there.
//!
//! `test-support/reapi/install-buildgrid.sh` (run by `.ci/run`) installs BuildGrid
//! [`VERSION`] into a venv and `.ci/run` exports its path as `FLAVOR_BUILDGRID`. Without that
//! variable the tests look at the script's default place,
//! `${XDG_CACHE_HOME:-$HOME/.cache}/flavor-ci/buildgrid-<version>`. A test that finds neither
//! (or no PostgreSQL server) prints one `skipped:` line and passes — unless `CI` is `true`,
//! where it fails, so CI cannot silently run none of the REAPI tests.

use std::path::{Path, PathBuf};

/// The BuildGrid release the harness is written against (configuration keys, the Bots
/// protocol details, the protos the test worker imports).
pub const VERSION: &str = "0.9.1";

/// The environment variable naming the BuildGrid venv.
pub const ENV: &str = "FLAVOR_BUILDGRID";

/// A BuildGrid venv: `bin/bgd` and the `bin/python` that can import `buildgrid`.
#[derive(Clone, Debug)]
pub struct BuildGrid {
    venv: PathBuf,
}

impl BuildGrid {
    /// The venv named by `FLAVOR_BUILDGRID`, else the installer's default place; an error
    /// saying what is missing and how to get it.
    pub fn find() -> Result<BuildGrid, String> {
        if super::postgres::bin_dir().is_none() {
            return Err(
                "PostgreSQL's server is not installed (/usr/lib/postgresql/*/bin/postgres; \
                 Debian package `postgresql`)"
                    .into(),
            );
        }
        if let Some(venv) = std::env::var_os(ENV) {
            let bg = BuildGrid {
                venv: PathBuf::from(venv),
            };
            return bg.check().map(|()| bg).map_err(|e| format!("{ENV}: {e}"));
        }
        let venv = default_venv().ok_or("neither FLAVOR_BUILDGRID nor HOME is set")?;
        let bg = BuildGrid { venv };
        bg.check().map(|()| bg)
    }

    fn check(&self) -> Result<(), String> {
        let complete = self.venv.join(".flavor-complete");
        if !self.bgd().is_file() || !complete.is_file() {
            return Err(format!(
                "no complete BuildGrid {VERSION} venv at {}",
                self.venv.display()
            ));
        }
        Ok(())
    }

    /// The venv's directory.
    pub fn venv(&self) -> &Path {
        &self.venv
    }

    /// `bin/bgd`.
    pub fn bgd(&self) -> PathBuf {
        self.venv.join("bin/bgd")
    }

    /// `bin/python`, which runs the test worker.
    pub fn python(&self) -> PathBuf {
        self.venv.join("bin/python")
    }
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/flavor-ci/buildgrid-<VERSION>` (where
/// `install-buildgrid.sh` puts it by default).
fn default_venv() -> Option<PathBuf> {
    let cache = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(cache.join(format!("flavor-ci/buildgrid-{VERSION}")))
}

/// The test worker's source (`test-support/reapi/worker.py`).
pub fn worker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reapi/worker.py")
}

/// The server wrapper (`test-support/reapi/server.py`).
pub fn server_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reapi/server.py")
}

/// Whether this is a CI run (`CI=true`), where a missing BuildGrid fails the tests.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// BuildGrid, or `None` after printing one `skipped:` line (the caller returns). Under
/// `CI=true` a missing BuildGrid panics instead.
pub fn buildgrid_or_skip() -> Option<BuildGrid> {
    match BuildGrid::find() {
        Ok(bg) => Some(bg),
        Err(why) if in_ci() => panic!(
            "CI=true but BuildGrid cannot run: {why}; .ci/run installs it \
             (test-support/reapi/install-buildgrid.sh)"
        ),
        Err(why) => {
            eprintln!(
                "skipped: BuildGrid not installed ({why}); run .ci/run or \
                 test-support/reapi/install-buildgrid.sh"
            );
            None
        }
    }
}
