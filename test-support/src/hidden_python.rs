//! Run a command on a machine without Python: `unshare -m` gives the child a private mount
//! namespace in which every host Python tree is covered by an empty tmpfs and every `python*`
//! executable on `$PATH` by `/dev/null`, so a package that "works" only because it silently
//! uses the host's interpreter or standard library fails here, as it would on a bare machine.
//!
//! What is hidden ([`HiddenPython::hidden`]): the pyenv root (`$PYENV_ROOT`, else
//! `~/.pyenv`), `/usr/lib/python[23]*`, `/usr/local/lib/python[23]*`, every directory of the
//! host `python3`'s `sys.path` outside those, and the `python`, `python3`, `python3.X`, …
//! files of each `$PATH` directory. Before every command, the namespace's shell checks that
//! neither `python3` nor `python` runs; if one does, it exits [`STILL_RUNS`] with a message.
//! Needs root (or `CAP_SYS_ADMIN`) and util-linux's `unshare`; else the [`need`] rule.

use crate::need;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The exit code of a hidden-Python command whose namespace still had a runnable Python.
pub const STILL_RUNS: i32 = 97;

/// The set of host Python locations to hide, found once per test process.
#[derive(Debug, Clone)]
pub struct HiddenPython {
    /// Directories covered by an empty tmpfs.
    pub dirs: Vec<PathBuf>,
    /// Files covered by `/dev/null` (exec then fails with "permission denied").
    pub files: Vec<PathBuf>,
    /// util-linux's `unshare`.
    unshare: PathBuf,
}

/// The host Python locations, if this process may hide them (`unshare -m` works); else the
/// [`need`] rule.
pub fn hidden_python() -> Option<&'static HiddenPython> {
    static FOUND: OnceLock<Result<HiddenPython, String>> = OnceLock::new();
    match FOUND.get_or_init(find) {
        Ok(h) => Some(h),
        Err(why) => need::missing(
            format_args!("cannot hide the host Python: {why}"),
            "run the tests as root (CI does) with util-linux's unshare",
        ),
    }
}

fn find() -> Result<HiddenPython, String> {
    let unshare = need::on_path("unshare").ok_or("util-linux's `unshare` is not on PATH")?;
    let probe = Command::new(&unshare)
        .args(["-m", "--propagation", "private", "true"])
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "`unshare -m` is not permitted here: {}",
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pyenv")));
    dirs.extend(pyenv.filter(|p| p.is_dir()));
    for parent in ["/usr/lib", "/usr/local/lib"] {
        dirs.extend(children(Path::new(parent), |n| {
            n.starts_with("python3") || n.starts_with("python2")
        }));
    }
    for entry in host_sys_path() {
        if entry.is_dir() && !dirs.iter().any(|d| entry.starts_with(d)) {
            dirs.push(entry);
        }
    }
    let mut files = Vec::new();
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        if dirs.iter().any(|d| dir.starts_with(d)) {
            continue;
        }
        files.extend(children(&dir, is_python_name).filter(|p| p.is_file()));
    }
    Ok(HiddenPython {
        dirs,
        files,
        unshare,
    })
}

/// `python`, `python3`, `python3.12`, `python2.7` — not `python3-config` or `pythonw`.
fn is_python_name(name: &str) -> bool {
    name.strip_prefix("python")
        .is_some_and(|rest| rest.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// The entries of `dir` whose names pass `keep`, sorted.
fn children(dir: &Path, keep: impl Fn(&str) -> bool) -> impl Iterator<Item = PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(&keep))
        .map(|e| e.path())
        .collect();
    found.sort();
    found.into_iter()
}

/// The host `python3`'s `sys.path` (empty when there is none).
fn host_sys_path() -> Vec<PathBuf> {
    let Some(py) = need::on_path("python3") else {
        return Vec::new();
    };
    let out = Command::new(py)
        .args([
            "-c",
            "import sys; print('\\n'.join(p for p in sys.path if p))",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .collect(),
        _ => Vec::new(),
    }
}

/// Quote `s` for a POSIX shell.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl HiddenPython {
    /// Everything hidden, directories then files.
    pub fn hidden(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().chain(&self.files).map(PathBuf::as_path)
    }

    /// The shell script that hides everything, checks no Python runs, then `exec "$@"`.
    fn script(&self) -> String {
        let mut s = String::from("set -e\n");
        for d in &self.dirs {
            let d = sh_quote(&d.to_string_lossy());
            s.push_str(&format!(
                "mount -t tmpfs -o size=1m,mode=0755 flavor-nopython {d}\n"
            ));
        }
        for f in &self.files {
            let f = sh_quote(&f.to_string_lossy());
            s.push_str(&format!("mount --bind /dev/null {f}\n"));
        }
        s.push_str(&format!(
            "for py in python3 python; do\n  if \"$py\" -c '' >/dev/null 2>&1; then\n    \
             echo \"flavor-test-support: $py still runs with the host Python hidden: \
             $(command -v \"$py\")\" >&2\n    exit {STILL_RUNS}\n  fi\ndone\nexec \"$@\"\n"
        ));
        s
    }

    /// A command that runs `program` in a mount namespace with every host Python hidden.
    /// Arguments, environment and working directory are set on the returned `Command` as
    /// usual; the working directory must not be inside a hidden directory.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(&self.unshare);
        cmd.args(["-m", "--propagation", "private", "--", "/bin/sh", "-c"])
            .arg(self.script())
            .arg("flavor-nopython")
            .arg(program);
        cmd
    }

    /// `cmd` (program, arguments, working directory, environment changes) run with every
    /// host Python hidden. `std` does not tell whether `cmd` cleared its environment: say so
    /// with `env_cleared` (a [`Sandbox`](crate::Sandbox) command does).
    pub fn wrap(&self, cmd: &Command, env_cleared: bool) -> Command {
        let mut hidden = self.command(cmd.get_program());
        hidden.args(cmd.get_args());
        if env_cleared {
            hidden.env_clear();
        }
        for (key, value) in cmd.get_envs() {
            match value {
                Some(v) => hidden.env(key, v),
                None => hidden.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            hidden.current_dir(dir);
        }
        hidden
    }

    /// [`Sandbox::command`](crate::Sandbox::command) for `pkg`, with every host Python hidden.
    pub fn sandbox_command(&self, sandbox: &crate::Sandbox, pkg: &Path) -> Command {
        self.wrap(&sandbox.command(pkg), true)
    }
}
