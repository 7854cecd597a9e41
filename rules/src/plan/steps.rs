//! Planning a package's build steps: one `step` action each, in dependency order (the first
//! ready step in manifest order first, so the plan does not depend on hashing).

use super::Planner;
use crate::Error;
use crate::actions::StepAction;
use crate::collect::glob_files;
use crate::manifest::{Manifest, Package, Step};
use crate::paths::lexical;
use flavor_engine::{ActionId, Input};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The working directory of `step`.
pub(super) fn step_dir(m: &Manifest, step: &Step) -> PathBuf {
    match &step.cwd {
        Some(c) => m.dir.join(&c.value),
        None => m.dir.clone(),
    }
}

impl Planner<'_> {
    /// Plan every step of a package; returns step id → action.
    pub(super) fn steps(
        &mut self,
        m: &Manifest,
        pkg: &Package,
    ) -> Result<HashMap<String, ActionId>, Error> {
        let mut planned: HashMap<String, ActionId> = HashMap::new();
        let mut remaining: Vec<&Step> = pkg.steps.iter().collect();
        while !remaining.is_empty() {
            let ready = remaining
                .iter()
                .position(|s| s.needs.iter().all(|n| planned.contains_key(&n.value)))
                .ok_or_else(|| Error::StepCycle {
                    steps: remaining.iter().map(|s| s.id.value.clone()).collect(),
                })?;
            let step = remaining.remove(ready);
            let id = self.step(m, pkg, step, &planned)?;
            planned.insert(step.id.value.clone(), id);
        }
        Ok(planned)
    }

    fn step(
        &mut self,
        m: &Manifest,
        pkg: &Package,
        step: &Step,
        planned: &HashMap<String, ActionId>,
    ) -> Result<ActionId, Error> {
        let id = &step.id.value;
        let cwd = step_dir(m, step);
        let patterns: Vec<String> = step.inputs.iter().map(|s| s.value.clone()).collect();
        let what = format!("step `{id}` inputs");
        let files = glob_files(&what, &m.dir, &patterns)?;
        if files.is_empty() || step.inputs.len() > 1 {
            self.warn_unmatched(m, step);
        }
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            let rel = self.relative(id, &file)?;
            sources.push((Input::File(file), rel));
        }
        let mut needed = Vec::new();
        for need in &step.needs {
            let unknown = || Error::UnknownStep {
                step: need.value.clone(),
            };
            let dep = pkg
                .steps
                .iter()
                .find(|s| s.id.value == need.value)
                .ok_or_else(unknown)?;
            let action = *planned.get(&need.value).ok_or_else(unknown)?;
            for (index, out) in dep.outputs.iter().enumerate() {
                let rel = self.relative(id, &m.dir.join(&out.path.value))?;
                needed.push((Input::Output { action, index }, rel));
            }
        }
        let mut outputs = Vec::with_capacity(step.outputs.len());
        for out in &step.outputs {
            outputs.push(self.relative(id, &m.dir.join(&out.path.value))?);
        }
        let action = StepAction {
            id: id.clone(),
            command: step.command.value.clone(),
            root: self.root.to_path_buf(),
            cwd: self.relative(id, &cwd)?,
            env: self.step_env(step),
            outputs,
            declared: step.outputs.iter().map(|o| o.path.value.clone()).collect(),
            sources,
            needed,
            tools: self.tools(step)?,
            sandbox: step.sandbox,
        };
        self.add(Box::new(action))
    }

    /// `path` relative to the workspace root, as the step's actions record it.
    fn relative(&self, step: &str, path: &Path) -> Result<String, Error> {
        let path = lexical(path);
        let rel = path
            .strip_prefix(self.root)
            .map_err(|_| Error::StepPathOutside {
                step: step.to_string(),
                path: path.clone(),
                root: self.root.to_path_buf(),
            })?;
        Ok(rel.display().to_string())
    }

    /// A warning for each of the step's input globs that matches no file (a typo, or a path
    /// written relative to `cwd` instead of the manifest): the step would not rerun when the
    /// files it meant change.
    fn warn_unmatched(&mut self, m: &Manifest, step: &Step) {
        for pattern in &step.inputs {
            let what = format!("step `{}` inputs", step.id.value);
            let Ok(found) = glob_files(&what, &m.dir, std::slice::from_ref(&pattern.value)) else {
                continue;
            };
            if found.is_empty() {
                self.warnings.push(format!(
                    "{}: step `{}`: input `{}` matches no file (inputs, outputs and cwd are \
                     relative to the directory of the flavor.toml)",
                    m.path.display(),
                    step.id.value,
                    pattern.value
                ));
            }
        }
    }

    /// The step's `tools`, found on the build's `PATH`: each name and the file it resolves to
    /// (links followed, so the key changes when the program behind a link does).
    fn tools(&self, step: &Step) -> Result<Vec<(String, PathBuf)>, Error> {
        let path = self.opts.env.get("PATH").cloned().unwrap_or_default();
        let mut tools = Vec::with_capacity(step.tools.len());
        for tool in &step.tools {
            let found = std::env::split_paths(&path)
                .filter(|dir| dir.is_absolute())
                .map(|dir| dir.join(&tool.value))
                .find(|p| is_executable(p));
            let Some(found) = found else {
                return Err(Error::ToolNotFound {
                    step: step.id.value.clone(),
                    tool: tool.value.clone(),
                    path,
                });
            };
            let real = found.canonicalize().unwrap_or_else(|_| found.clone());
            tools.push((tool.value.clone(), real));
        }
        Ok(tools)
    }

    /// A fixed `PATH` (or `HOME` for a step outside the sandbox), the `pass_env` variables,
    /// then the step's own `env`: the same on every machine unless the step asks otherwise.
    fn step_env(&self, step: &Step) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        env.insert("PATH".to_string(), DEFAULT_PATH.to_string());
        if !step.sandbox
            && let Some(home) = self.opts.env.get("HOME")
        {
            env.insert("HOME".to_string(), home.clone());
        }
        for k in &step.pass_env {
            if let Some(v) = self.opts.env.get(k) {
                env.insert(k.clone(), v.clone());
            }
        }
        env.extend(step.env.clone());
        env
    }
}

/// `PATH` of a step unless it sets or passes its own.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
