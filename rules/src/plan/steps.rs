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
use crate::paths::lexical;
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
                || s.outputs
                    .iter()
                    .any(|o| mentions(&o.path.value) || mentions(&o.dest))
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
    /// Its outputs, relative to the workspace root.
    pub outputs: Vec<String>,
    /// Where each output lands in a slot, relative to the slot's target.
    pub dests: Vec<String>,
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
            let done = self.step(m, step, &planned, vars)?;
            planned.insert(step.id.value.clone(), done);
        }
        Ok(planned)
    }

    /// Plan one step; `vars` for a per-target step.
    fn step(
        &mut self,
        m: &Manifest,
        step: &Step,
        planned: &HashMap<String, PlannedStep>,
        vars: Option<&TargetVars>,
    ) -> Result<PlannedStep, Error> {
        let expand = |s: &str| vars.map_or_else(|| s.to_string(), |v| v.expand(s));
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
            let done = planned.get(&need.value).ok_or_else(unknown)?;
            for (index, rel) in done.outputs.iter().enumerate() {
                let input = Input::Output {
                    action: done.action,
                    index,
                };
                needed.push((input, rel.clone()));
            }
        }
        let mut outputs = Vec::with_capacity(step.outputs.len());
        for out in &step.outputs {
            outputs.push(self.relative(id, &m.dir.join(expand(&out.path.value)))?);
        }
        let dests: Vec<String> = step.outputs.iter().map(|o| expand(&o.dest)).collect();
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
            id: id.clone(),
            target: vars.map(|v| v.name.clone()),
            command: expand(&step.command.value),
            root: self.root.to_path_buf(),
            cwd: self.relative(id, &cwd)?,
            env,
            outputs: outputs.clone(),
            declared: step.outputs.iter().map(|o| expand(&o.path.value)).collect(),
            sources,
            needed,
            tools: self.tools(step)?,
            sandbox: step.sandbox,
        };
        let action = self.add(Box::new(action))?;
        Ok(PlannedStep {
            action,
            outputs,
            dests,
        })
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
