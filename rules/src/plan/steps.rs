//! Planning a package's build steps: one `step` action each, in dependency order (the first
//! ready step in manifest order first, so the plan does not depend on hashing).
//!
//! A step that builds platform code runs once per target: a step whose `command`, `env` or
//! `outputs` mention `FLAVOR_TARGET…`, `FLAVOR_PLATFORM` or `{platform}` (see
//! [`PER_TARGET_MARKERS`]), or that needs such a step, gets the target's platform variables in
//! its environment ([`TargetVars`]) and `{platform}` replaced in its command, env and outputs.
//! Every other step is the same action for every target, so it runs once.

use super::Planner;
use crate::Error;
use crate::actions::StepAction;
use crate::collect::glob_files;
use crate::manifest::{Manifest, Package, Step};
use flavor_engine::{ActionId, Input};
use pspf::Platform;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// What makes a step per-target when its `command`, `env` (names or values) or `outputs`
/// mention it: the variables `FLAVOR_TARGET`, `FLAVOR_TARGET_OS`, `FLAVOR_TARGET_ARCH`,
/// `FLAVOR_TARGET_TRIPLE` (all starting `FLAVOR_TARGET`), `FLAVOR_PLATFORM`, and `{platform}`.
pub const PER_TARGET_MARKERS: [&str; 3] = ["FLAVOR_TARGET", "FLAVOR_PLATFORM", "{platform}"];

/// The ids of the steps of `pkg` that run once per target: those mentioning one of
/// [`PER_TARGET_MARKERS`], and those that need one of them (directly or not).
pub fn per_target_steps(pkg: &Package) -> BTreeSet<String> {
    let mentions = |s: &str| PER_TARGET_MARKERS.iter().any(|m| s.contains(m));
    let mut out: BTreeSet<String> = (pkg.steps.iter())
        .filter(|s| {
            mentions(&s.command.value)
                || s.env.iter().any(|(k, v)| mentions(k) || mentions(v))
                || s.outputs.iter().any(|o| mentions(&o.value))
        })
        .map(|s| s.id.value.clone())
        .collect();
    loop {
        let more: Vec<String> = (pkg.steps.iter())
            .filter(|s| !out.contains(&s.id.value))
            .filter(|s| s.needs.iter().any(|n| out.contains(&n.value)))
            .map(|s| s.id.value.clone())
            .collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

/// The target a package is being planned for, as its per-target steps see it.
pub(super) struct TargetVars {
    /// The target's name (the platform's for a package without targets).
    pub name: String,
    /// Its platform.
    pub platform: Platform,
}

impl TargetVars {
    /// The variables a per-target step runs with.
    fn env(&self) -> [(&'static str, &str); 5] {
        let p = self.platform;
        [
            ("FLAVOR_TARGET", self.name.as_str()),
            ("FLAVOR_PLATFORM", p.name()),
            ("FLAVOR_TARGET_OS", p.os()),
            ("FLAVOR_TARGET_ARCH", p.arch()),
            ("FLAVOR_TARGET_TRIPLE", p.triple()),
        ]
    }

    /// `s` with `{platform}` replaced.
    fn expand(&self, s: &str) -> String {
        s.replace("{platform}", self.platform.name())
    }
}

/// A planned step: its action and its outputs (`{platform}` replaced).
#[derive(Debug, Clone)]
pub(super) struct PlannedStep {
    /// The `step` action.
    pub action: ActionId,
    /// Its outputs, relative to its working directory.
    pub outputs: Vec<String>,
}

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
    /// Plan every step of a package for the target `vars`; returns step id → planned step.
    pub(super) fn steps(
        &mut self,
        m: &Manifest,
        pkg: &Package,
        vars: &TargetVars,
    ) -> Result<HashMap<String, PlannedStep>, Error> {
        let per_target = per_target_steps(pkg);
        let mut planned: HashMap<String, PlannedStep> = HashMap::new();
        let mut remaining: Vec<&Step> = pkg.steps.iter().collect();
        while !remaining.is_empty() {
            let ready = remaining
                .iter()
                .position(|s| s.needs.iter().all(|n| planned.contains_key(&n.value)))
                .ok_or_else(|| Error::StepCycle {
                    steps: remaining.iter().map(|s| s.id.value.clone()).collect(),
                })?;
            let step = remaining.remove(ready);
            let vars = per_target.contains(&step.id.value).then_some(vars);
            let done = self.step(m, pkg, step, &planned, vars)?;
            planned.insert(step.id.value.clone(), done);
        }
        Ok(planned)
    }

    /// Plan one step; `vars` for a per-target step.
    fn step(
        &mut self,
        m: &Manifest,
        pkg: &Package,
        step: &Step,
        planned: &HashMap<String, PlannedStep>,
        vars: Option<&TargetVars>,
    ) -> Result<PlannedStep, Error> {
        let expand = |s: &str| vars.map_or_else(|| s.to_string(), |v| v.expand(s));
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
            let done = planned.get(&need.value).ok_or_else(unknown)?;
            let dep_cwd = step_dir(m, dep);
            for (index, out) in done.outputs.iter().enumerate() {
                let input = Input::Output {
                    action: done.action,
                    index,
                };
                needed.push((input, dep_cwd.join(out)));
            }
        }
        let outputs: Vec<String> = step.outputs.iter().map(|o| expand(&o.value)).collect();
        let mut env = self.step_env(step);
        if let Some(vars) = vars {
            for v in env.values_mut() {
                *v = vars.expand(v);
            }
            for (k, v) in vars.env() {
                env.insert(k.to_string(), v.to_string());
            }
        }
        let action = StepAction {
            id: step.id.value.clone(),
            target: vars.map(|v| v.name.clone()),
            command: expand(&step.command.value),
            cwd_label: label_path(self.root, &cwd),
            cwd,
            root: self.root.to_path_buf(),
            env,
            outputs: outputs.clone(),
            sources: files.into_iter().map(Input::File).collect(),
            needed,
        };
        let action = self.add(Box::new(action))?;
        Ok(PlannedStep { action, outputs })
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
