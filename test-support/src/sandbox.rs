//! [`Sandbox`]: a private world for one test (cache root, home, XDG directories, temp dir,
//! packages), the commands that run packages inside it with a cleared environment, and the
//! launcher's bookkeeping found in its cache.

use super::process::{Run, run};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A private world for one test: cache root, home, XDG directories, temp dir, packages.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("flavor-e2e-")
            .tempdir()
            .expect("create a sandbox");
        for sub in ["cache", "home", "xdg-cache", "xdg-config", "tmp", "pkgs"] {
            fs::create_dir(dir.path().join(sub)).expect("create a sandbox directory");
        }
        Sandbox { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    /// The cache root every launch uses (`FLAVOR_CACHE`).
    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root().join("tmp")
    }
    /// Where a test puts its package files.
    pub fn pkg(&self, file: &str) -> PathBuf {
        self.root().join("pkgs").join(file)
    }
    /// A path in the sandbox (for counters and flags outside any workenv).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// A command running `pkg` with a cleared environment: `PATH`, the sandbox's `HOME`,
    /// `XDG_CACHE_HOME`, `XDG_CONFIG_HOME`, `TMPDIR` and `FLAVOR_CACHE`, cwd = the sandbox.
    pub fn command(&self, pkg: &Path) -> Command {
        let mut cmd = Command::new(pkg);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.home())
            .env("XDG_CACHE_HOME", self.root().join("xdg-cache"))
            .env("XDG_CONFIG_HOME", self.root().join("xdg-config"))
            .env("TMPDIR", self.tmp())
            .env("FLAVOR_CACHE", self.cache())
            .current_dir(self.root());
        cmd
    }

    /// Run `pkg` with `args` in the sandbox.
    pub fn run(&self, pkg: &Path, args: &[&str]) -> Run {
        run(self.command(pkg).args(args))
    }

    /// Run `pkg` with extra environment variables.
    pub fn run_env(&self, pkg: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(pkg);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// `<cache>/workenv/.<name>.pspf`: the bookkeeping of package file `<name>`.
    pub fn meta_dir(&self, name: &str) -> PathBuf {
        self.cache().join("workenv").join(format!(".{name}.pspf"))
    }

    fn versions_matching(&self, name: &str, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(self.meta_dir(name).join("versions"))
            .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| keep(p)).collect())
            .unwrap_or_default();
        found.sort();
        found
    }

    /// Completion markers (`versions/<hash>.ready`) of package file `<name>`.
    pub fn ready_markers(&self, name: &str) -> Vec<PathBuf> {
        self.versions_matching(name, |p| p.extension().is_some_and(|e| e == "ready"))
    }

    /// Version directories (workenvs) of package file `<name>`.
    pub fn workenvs(&self, name: &str) -> Vec<PathBuf> {
        self.versions_matching(name, |p| p.is_dir())
    }

    /// Private staging directories left under `.<name>.pspf/tmp`.
    pub fn staging_dirs(&self, name: &str) -> Vec<PathBuf> {
        fs::read_dir(self.meta_dir(name).join("tmp"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}
