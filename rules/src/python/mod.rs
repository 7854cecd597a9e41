//! `[python]`: a Python application from its `pyproject.toml` and `uv.lock`.
//!
//! When a manifest is loaded, `complete` reads the pyproject ([`pyproject`]) and the lock
//! ([`lock`]), fills `[package] name`/`version` and `[execution] command` where the manifest
//! leaves them out (the command from `python.entry`, see [`entry`]), adds the isolation
//! defaults to `[runtime.env]` ([`ISOLATION_UNSET`]), and reports a missing or stale lock at
//! the manifest's `[python]` table, saying to run `uv lock`. [`tags`] picks the wheel of each
//! locked package that fits the interpreter, [`fetch`] downloads it with its sha256 checked,
//! [`interpreter`] unpacks, normalises and precompiles the interpreter archive,
//! and [`audit`] reads the shared libraries of a tree for the glibc it needs.

pub mod audit;
pub mod entry;
pub mod fetch;
pub mod interpreter;
pub mod lock;
pub mod pyproject;
pub mod tags;
pub mod uv;

use crate::diagnostic::Problem;
use crate::manifest::{
    Bytecode, Interpreter, Package, PythonApp, PythonPart, Slot, SlotSource, Spanned,
};
use entry::Entry;
use lock::{LockProblem, UvLock};
use pyproject::PyProject;
use std::path::Path;

/// Variables the launcher removes from a Python package's environment unless `[runtime.env]`
/// passes them: each would make the interpreter (or a child process it starts) read code or
/// settings from outside the package. (`-I` already ignores the `PYTHON*` ones for the
/// interpreter itself; unsetting them also protects the programs it runs.)
pub const ISOLATION_UNSET: [&str; 7] = [
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONSAFEPATH",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
];

/// compileall's `--invalidation-mode` for `mode` (`None`: no bytecode).
pub(crate) fn model_bytecode_mode(mode: Bytecode) -> Option<&'static str> {
    match mode {
        Bytecode::UncheckedHash => Some("unchecked-hash"),
        Bytecode::CheckedHash => Some("checked-hash"),
        Bytecode::None => None,
    }
}

/// What the pyproject and the lock of a `[python]` package say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The pyproject.
    pub pyproject: PyProject,
    /// The lock, checked fresh against the pyproject.
    pub lock: UvLock,
    /// What the package runs.
    pub entry: Entry,
}

/// Fill `pkg` (in manifest directory `dir`) from its `[python]` table; problems are located
/// at the table or key they come from.
pub(crate) fn complete(pkg: &mut Package, dir: &Path, problems: &mut Vec<Problem>) {
    let Some(py) = pkg.python.as_mut() else {
        return;
    };
    // The two slots [python] adds, ahead of the manifest's own (whose ids must differ).
    let span = py.span.clone();
    let slots = [PythonPart::Interpreter, PythonPart::Site].map(|part| Slot {
        id: Spanned::new(part.id().to_string(), span.clone()),
        source: SlotSource::Python(part),
        target: None,
        codec: None,
        codec_span: None,
        level: None,
        include: Vec::new(),
        exclude: Vec::new(),
        lifecycle: pspf::Lifecycle::Cache,
        permissions: None,
        purpose: pspf::Purpose::Payload,
        span: span.clone(),
    });
    pkg.slots.splice(0..0, slots);
    for t in &pkg.targets {
        let Some(platform) = &t.platform else {
            continue;
        };
        if platform.value != pspf::Platform::LinuxX86_64 {
            problems.push(
                Problem::new(
                    format!(
                        "target `{}` is for {}, and [python] packages are built for \
                         linux-x86_64 only so far",
                        t.name.value, platform.value
                    ),
                    platform.span.clone().or(t.span.clone()),
                )
                .label("not linux-x86_64")
                .help(
                    "wheels are chosen for x86_64 manylinux and the interpreter is \
                     precompiled by running it; remove this target",
                ),
            );
        }
    }
    let project_dir = match py.project.value.as_str() {
        "." | "" => dir.to_path_buf(),
        project => dir.join(project),
    };
    let pyproject = match PyProject::load(&project_dir) {
        Ok(p) => p,
        Err(why) => {
            let span = py.project.span.clone().or(py.span.clone());
            problems.push(
                Problem::new(format!("[python]: {why}"), span)
                    .label("the project")
                    .help("python.project names the directory holding pyproject.toml"),
            );
            return;
        }
    };
    let entry = Entry::parse(
        py.entry.as_ref().map(|e| e.value.as_str()),
        &pyproject.scripts,
    );
    let entry = match entry {
        Ok(e) => e,
        Err(why) => {
            let span = py
                .entry
                .as_ref()
                .and_then(|e| e.span.clone())
                .or(py.span.clone());
            problems.push(Problem::new(format!("[python]: {why}"), span).label("entry"));
            return;
        }
    };
    let lock = match load_lock(py, dir, &project_dir, &pyproject) {
        Ok(l) => l,
        Err(problem) => return problems.push(problem),
    };
    if pkg.name.value.is_empty() {
        pkg.name = Spanned::new(pyproject.name.clone(), None);
    }
    if pkg.version.is_empty() {
        match &pyproject.version {
            Some(v) => pkg.version = v.clone(),
            None => problems.push(
                Problem::new(
                    format!(
                        "{} has a dynamic version, so [package] needs `version`",
                        pyproject.path.display()
                    ),
                    py.span.clone(),
                )
                .help("add [package] version = \"…\""),
            ),
        }
    }
    if pkg.command.value.is_empty() {
        pkg.command = Spanned::new(entry.command(), None);
    }
    let env = pkg.runtime_env.get_or_insert_with(Default::default);
    for var in ISOLATION_UNSET {
        let passed = env.pass.iter().any(|p| p == var) || env.set.contains_key(var);
        if !passed && !env.unset.iter().any(|u| u == var) {
            env.unset.push(var.to_string());
        }
    }
    if let Interpreter::Archive(path) = &py.interpreter.value
        && !dir.join(path).is_file()
    {
        problems.push(
            Problem::new(
                format!("[python]: interpreter archive `{path}` does not exist"),
                py.interpreter.span.clone(),
            )
            .label("no such file")
            .help(format!(
                "paths are relative to the manifest's directory ({}); python-build-standalone \
                 publishes \"install_only\" archives, or use {{ uv = \"3.12\" }}",
                dir.display()
            )),
        );
    }
    py.resolved = Some(Resolved {
        pyproject,
        lock,
        entry,
    });
}

/// Read `python.lock` (relative to the manifest in `dir`; default `uv.lock` beside the
/// pyproject) and check it is fresh.
fn load_lock(
    py: &PythonApp,
    dir: &Path,
    project_dir: &Path,
    pyproject: &PyProject,
) -> Result<UvLock, Problem> {
    let (path, span) = match &py.lock {
        Some(l) => (dir.join(&l.value), l.span.clone()),
        None => (project_dir.join("uv.lock"), py.span.clone()),
    };
    let fix = format!(
        "run `uv lock` in {} and commit uv.lock (flavor never resolves dependencies itself)",
        project_dir.display()
    );
    let checked = UvLock::load(&path).and_then(|lock| {
        lock.check_fresh(pyproject)?;
        Ok(lock)
    });
    checked.map_err(|problem| {
        let label = match problem {
            LockProblem::Missing(_) => "no lock",
            LockProblem::Unreadable(..) => "unreadable lock",
            LockProblem::Stale(..) => "stale lock",
        };
        Problem::new(format!("[python]: {problem}"), span)
            .label(label)
            .help(fix)
    })
}
