//! Planning a `[python]` package's two slots. `python`: the interpreter archive (a source file
//! or a `fetch` by sha256) → `python-interpreter` (a tree). `site`: every locked wheel that
//! fits the interpreter → `fetch`; the project's own wheel (when the lock says the project is
//! a package) → `python-wheel`; all of them → `python-install` (a tree, and the runtime facts
//! the package action puts in the metadata). Each slot is then archived like a step's
//! directory output. Actions are interned, so both slots, every target and every package
//! using the same interpreter or wheel share them.

use super::Planner;
use super::slot::{Contents, output};
use crate::Error;
use crate::actions::ProjectWheelAction;
use crate::actions::{
    ArchiveAction, ArchiveEntry, EntryKind, FetchAction, InstallAction, InterpreterAction,
};
use crate::collect::{Collected, collect_dir};
use crate::manifest::{Interpreter, Manifest, Package, PythonApp, PythonPart};
use crate::paths::lexical;
use crate::python::fetch::{file_name, sha256_of};
use crate::python::interpreter::minor_of;
use crate::python::tags::WheelTarget;
use crate::python::uv::UvTool;
use flavor_engine::{ActionId, Input};
use pspf::Codec;
use std::path::PathBuf;

/// Never part of the project's wheel build: what tools and builds leave in a project.
const NOT_PROJECT_SOURCES: [&str; 12] = [
    ".venv",
    "venv",
    "dist",
    "build",
    "**/__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    "node_modules",
    "uv.lock",
];

impl Planner<'_> {
    /// What goes into slot `part` of `pkg`'s `[python]` application.
    pub(super) fn python_contents(
        &mut self,
        m: &Manifest,
        pkg: &Package,
        part: PythonPart,
    ) -> Result<Contents, Error> {
        let py = python_of(pkg)?;
        let (action, path) = match part {
            PythonPart::Interpreter => (self.python_interpreter(m, py)?.0, ""),
            PythonPart::Site => (self.python_install(m, py)?, "site"),
        };
        Ok(Contents {
            file: None,
            entries: vec![ArchiveEntry {
                path: path.to_string(),
                kind: EntryKind::Output { input: 0 },
                mode: 0o755,
            }],
            inputs: vec![output(action, 0)],
            source: format!("python:{}", part.id()),
            default_codec: Codec::TarZst,
            mode: 0o755,
        })
    }

    /// The runtime facts of `pkg`'s native code (none without `[python]`).
    pub(super) fn python_facts(
        &mut self,
        m: &Manifest,
        pkg: &Package,
    ) -> Result<Vec<Input>, Error> {
        match &pkg.python {
            Some(py) => Ok(vec![output(self.python_install(m, py)?, 1)]),
            None => Ok(Vec::new()),
        }
    }

    /// The interpreter action, and the interpreter's minor version.
    fn python_interpreter(
        &mut self,
        m: &Manifest,
        py: &PythonApp,
    ) -> Result<(ActionId, u32), Error> {
        let (archive, minor) = match &py.interpreter.value {
            Interpreter::Archive(path) => {
                let path = lexical(&m.dir.join(path));
                let minor = match self.python_minors.get(&path) {
                    Some(minor) => *minor,
                    None => {
                        let minor = minor_of(&path).map_err(|e| Error::Python(e.to_string()))?;
                        self.python_minors.insert(path.clone(), minor);
                        minor
                    }
                };
                (Input::File(path), minor)
            }
            Interpreter::Url { url, sha256 } => {
                let name = file_name(url);
                let minor = name
                    .strip_prefix("cpython-3.")
                    .and_then(|rest| rest.split(['.', '+', '-']).next()?.parse().ok())
                    .ok_or_else(|| {
                        Error::Python(format!(
                            "interpreter {url}: cannot tell the Python version from the file \
                             name; python-build-standalone archives are named cpython-3.N.…"
                        ))
                    })?;
                let fetch = FetchAction {
                    url: url.clone(),
                    sha256: sha256.clone(),
                    file_name: name,
                };
                (output(self.add(Box::new(fetch))?, 0), minor)
            }
            Interpreter::Uv(request) => self.uv_python(request)?,
        };
        let action = InterpreterAction {
            archive,
            bytecode: py.bytecode,
        };
        Ok((self.add(Box::new(action))?, minor))
    }

    /// The install action of `pkg`'s site tree.
    fn python_install(&mut self, m: &Manifest, py: &PythonApp) -> Result<ActionId, Error> {
        let resolved = py
            .resolved
            .as_ref()
            .ok_or_else(|| Error::Python("the pyproject and lock were not read (a bug)".into()))?;
        let (interp, minor) = self.python_interpreter(m, py)?;
        let uv = self.uv()?;
        let project = &resolved.pyproject.name;
        let chosen = (resolved.lock)
            .wheels_for(project, WheelTarget { minor })
            .map_err(Error::Python)?;
        let mut wheels = Vec::with_capacity(chosen.len());
        for w in chosen {
            let sha256 = w.hash.as_deref().and_then(sha256_of).ok_or_else(|| {
                Error::Python(format!(
                    "{}: the lock records no sha256 for {} {}; run `uv lock` again",
                    resolved.lock.path.display(),
                    w.package,
                    w.version
                ))
            })?;
            let name = file_name(&w.url);
            let fetch = FetchAction {
                url: w.url,
                sha256,
                file_name: name.clone(),
            };
            wheels.push((name, output(self.add(Box::new(fetch))?, 0)));
        }
        let packaged = (resolved.lock.root(project)).is_some_and(|root| {
            ["editable", "directory"]
                .iter()
                .any(|k| root.source.contains_key(*k))
        });
        let (project_wheel, requirements) = if packaged {
            let wheel = self.python_wheel(m, py, interp, &uv)?;
            (Some(output(wheel, 0)), vec![project.clone()])
        } else {
            (None, resolved.pyproject.dependencies.clone())
        };
        let action = InstallAction {
            project: project.clone(),
            interpreter: output(interp, 0),
            project_wheel,
            wheels,
            requirements,
            exclude: py.exclude.iter().map(|e| e.value.clone()).collect(),
            bytecode: py.bytecode,
            uv,
        };
        self.add(Box::new(action))
    }

    /// The action building the project's own wheel from its files.
    fn python_wheel(
        &mut self,
        m: &Manifest,
        py: &PythonApp,
        interp: ActionId,
        uv: &UvTool,
    ) -> Result<ActionId, Error> {
        let dir = lexical(&m.dir.join(&py.project.value));
        let mut never: Vec<PathBuf> = vec![
            m.dir.join("dist"),
            m.dir.join(".flavor"),
            self.root.join(".flavor"),
        ];
        if let Interpreter::Archive(archive) = &py.interpreter.value {
            never.push(lexical(&m.dir.join(archive)));
        }
        never.push(m.path.clone());
        let exclude: Vec<String> = NOT_PROJECT_SOURCES.iter().map(|s| s.to_string()).collect();
        let mut sources = Vec::new();
        for c in collect_dir("the python project", &dir, &[], &exclude, &never)? {
            if let Collected::File { rel, path, .. } = c {
                sources.push((rel, Input::File(path)));
            }
        }
        let name = py
            .resolved
            .as_ref()
            .map(|r| r.pyproject.name.clone())
            .unwrap_or_default();
        let action = ProjectWheelAction {
            project: name,
            interpreter: output(interp, 0),
            sources,
            uv: uv.clone(),
            timestamp: self.opts.timestamp,
        };
        self.add(Box::new(action))
    }

    /// A uv-managed CPython (installed first if need be) as a plain tar of its tree under
    /// `python/` — the interpreter action's input — and its minor version.
    fn uv_python(&mut self, request: &str) -> Result<(Input, u32), Error> {
        let uv = self.uv()?;
        let failed =
            |why: String| Error::Python(format!("interpreter {{ uv = \"{request}\" }}: {why}"));
        let root = match self.uv_pythons.get(request) {
            Some(root) => root.clone(),
            None => {
                let root = uv.managed_python(request).map_err(failed)?;
                self.uv_pythons.insert(request.to_string(), root.clone());
                root
            }
        };
        let minor = std::fs::read_dir(root.join("lib"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join("os.py").is_file())
            .find_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix("python3.")?
                    .parse()
                    .ok()
            })
            .ok_or_else(|| failed(format!("{} has no lib/python3.N", root.display())))?;
        let mut entries = vec![ArchiveEntry {
            path: "python".into(),
            kind: EntryKind::Dir,
            mode: 0o755,
        }];
        let mut inputs = Vec::new();
        for c in collect_dir("the uv-managed python", &root, &[], &[], &[])? {
            let (rel, kind, mode) = match c {
                Collected::File { rel, path, mode } => {
                    inputs.push(Input::File(path));
                    (
                        rel,
                        EntryKind::File {
                            input: inputs.len() - 1,
                        },
                        mode,
                    )
                }
                Collected::Dir { rel, mode } => (rel, EntryKind::Dir, mode),
                Collected::Symlink { rel, target } => (rel, EntryKind::Symlink { target }, 0o777),
            };
            entries.push(ArchiveEntry {
                path: format!("python/{rel}"),
                kind,
                mode,
            });
        }
        let tar = ArchiveAction {
            label: format!("archive python {request}"),
            entries,
            inputs,
            mtime: self.opts.timestamp,
            compression: None,
        };
        Ok((output(self.add(Box::new(tar))?, 0), minor))
    }

    /// The uv of this build, found once.
    fn uv(&mut self) -> Result<UvTool, Error> {
        if let Some(uv) = &self.uv {
            return Ok(uv.clone());
        }
        let uv = UvTool::find(&self.opts.env).map_err(Error::Python)?;
        self.uv = Some(uv.clone());
        Ok(uv)
    }
}

fn python_of(pkg: &Package) -> Result<&PythonApp, Error> {
    pkg.python
        .as_ref()
        .ok_or_else(|| Error::Python("a python slot without [python] (a bug)".into()))
}
