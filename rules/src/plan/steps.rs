//! Planning a package's build steps: one `step` action each, in dependency order (the first
//! ready step in manifest order first, so the plan does not depend on hashing).

use super::Planner;
use crate::Error;
use crate::actions::StepAction;
use crate::collect::glob_files;
use crate::manifest::{Manifest, Package, Step};
use flavor_engine::{ActionId, Input};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// `path` relative to `root`, for labels and keys.
pub(super) fn label_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

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
        let cwd = step_dir(m, step);
        let patterns: Vec<String> = step.inputs.iter().map(|s| s.value.clone()).collect();
        let what = format!("step `{}` inputs", step.id.value);
        let files = glob_files(&what, &m.dir, &patterns)?;
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
            let dep_cwd = step_dir(m, dep);
            for (index, out) in dep.outputs.iter().enumerate() {
                needed.push((Input::Output { action, index }, dep_cwd.join(&out.value)));
            }
        }
        let action = StepAction {
            id: step.id.value.clone(),
            command: step.command.value.clone(),
            cwd_label: label_path(self.root, &cwd),
            cwd,
            root: self.root.to_path_buf(),
            env: self.step_env(step),
            outputs: step.outputs.iter().map(|o| o.value.clone()).collect(),
            sources: files.into_iter().map(Input::File).collect(),
            needed,
        };
        self.add(Box::new(action))
    }

    /// `PATH` and `HOME` from the build's environment, the `pass_env` variables, then the
    /// step's own `env`.
    fn step_env(&self, step: &Step) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for k in ["PATH", "HOME"] {
            if let Some(v) = self.opts.env.get(k) {
                env.insert(k.to_string(), v.clone());
            }
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
