//! Planning: manifests → a graph of engine actions, plus where each package goes.
//!
//! Per package output (`target`): its platform, path and launcher, and each slot's codec there.
//! Per slot (`slot`): collect (at plan time) → `archive` (directories, step outputs, or a file
//! with a tar codec; tar.gz/tar.zst compress inside the same streaming action) → `compress` for
//! a single file with gzip/zstd. Per step (`steps`): a `step` action — once per package, or
//! once per target for a step that builds platform code. Per package and target (`package`):
//! `package`, signed with the package's key. Identical actions are planned once (a slot shared
//! by ten packages, or by the targets of one, is archived and compressed once): the planner
//! interns actions by kind, parameters and inputs (`ActionKey`) before they reach the graph.

mod package;
mod python;
mod slot;
mod steps;
mod target;

use crate::Error;
use crate::launcher::{Chosen, Launchers};
use crate::select::Selected;
use flavor_engine::{Action, ActionId, Graph, Input};
use pspf::Platform;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

pub use steps::{PER_TARGET_MARKERS, per_target_steps};
pub use target::{OutputInfo, outputs_of};

/// Settings of one build.
#[derive(Debug)]
pub struct PlanOptions {
    /// `--release`: zstd level 19 by default instead of 3.
    pub release: bool,
    /// `SOURCE_DATE_EPOCH`, or 0.
    pub timestamp: u64,
    /// The launchers targets choose from (builtin, registry, `--launcher`).
    pub launchers: Launchers,
    /// Environment for build steps' `pass_env` and defaults (normally the process's).
    pub env: BTreeMap<String, String>,
    /// Create the per-user signing key if a package needs it and it does not exist yet.
    /// Commands that only look at the plan (`graph`, `cache gc`) pass false: a throwaway
    /// key stands in, and nothing is written.
    pub create_user_key: bool,
}

/// One package file the build produces.
#[derive(Debug, Clone)]
pub struct PlannedOutput {
    /// The package's name.
    pub package: String,
    /// The `[[target]]` it is for, if any.
    pub target: Option<String>,
    /// The platform it is for.
    pub platform: Platform,
    /// The launcher in front of it, and why that one.
    pub launcher: Chosen,
    /// The `package` action that writes it.
    pub action: ActionId,
    /// Where it is installed.
    pub path: PathBuf,
    /// The manifest it comes from.
    pub manifest: PathBuf,
}

/// A planned build: the action graph and the packages it produces.
pub struct BuildPlan {
    /// Every action, deduplicated.
    pub graph: Graph,
    /// The package files, in manifest and target order.
    pub outputs: Vec<PlannedOutput>,
    /// Lines to show the user once (e.g. a signing key was created).
    pub notices: Vec<String>,
    /// Things that look wrong but do not stop the build (a step input matching nothing).
    pub warnings: Vec<String>,
    /// Every source file the plan reads (for `flavor watch`).
    pub sources: Vec<PathBuf>,
}

/// An action's identity for deduplication: two actions with the same kind, parameters and
/// inputs are the same action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ActionKey {
    kind: &'static str,
    params: Vec<u8>,
    inputs: Vec<InputKey>,
}

/// [`Input`] as a hashable key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum InputKey {
    File(PathBuf),
    Output(ActionId, usize),
}

impl From<&Input> for InputKey {
    fn from(input: &Input) -> Self {
        match input {
            Input::File(p) => InputKey::File(p.clone()),
            Input::Output { action, index } => InputKey::Output(*action, *index),
        }
    }
}

struct Planner<'a> {
    opts: &'a PlanOptions,
    root: &'a Path,
    graph: Graph,
    interned: HashMap<ActionKey, ActionId>,
    sources: Vec<PathBuf>,
    outputs: Vec<PlannedOutput>,
    notices: Vec<String>,
    warnings: Vec<String>,
    /// The minor version of each interpreter archive, read once.
    python_minors: HashMap<PathBuf, u32>,
    /// The uv `[python]` packages are built with, found once.
    uv: Option<crate::python::uv::UvTool>,
    /// The root of each uv-managed interpreter asked for (`{ uv = "3.12" }`), found once.
    uv_pythons: HashMap<String, PathBuf>,
}

impl Planner<'_> {
    /// Add `action` to the graph unless the same action is there already; its id either way.
    fn add(&mut self, action: Box<dyn Action>) -> Result<ActionId, Error> {
        let inputs = action.inputs();
        let key = ActionKey {
            kind: action.kind(),
            params: action.params(),
            inputs: inputs.iter().map(InputKey::from).collect(),
        };
        if let Some(id) = self.interned.get(&key) {
            return Ok(*id);
        }
        for i in &inputs {
            if let Input::File(p) = i {
                self.sources.push(p.clone());
            }
        }
        let id = self.graph.add(action)?;
        self.interned.insert(key, id);
        Ok(id)
    }
}

/// Plan the `packages` selected (of one workspace rooted at `root`).
pub fn plan(
    packages: &[Selected<'_>],
    root: &Path,
    opts: &PlanOptions,
) -> Result<BuildPlan, Error> {
    let mut planner = Planner {
        opts,
        root,
        graph: Graph::new(),
        interned: HashMap::new(),
        sources: Vec::new(),
        outputs: Vec::new(),
        notices: Vec::new(),
        warnings: Vec::new(),
        python_minors: HashMap::new(),
        uv: None,
        uv_pythons: HashMap::new(),
    };
    for selected in packages {
        let m = selected.manifest;
        let Some(pkg) = &m.package else {
            continue;
        };
        planner
            .package(m, pkg, selected)
            .map_err(|e| e.in_package(&pkg.name.value))?;
    }
    let mut sources = planner.sources;
    sources.sort();
    sources.dedup();
    Ok(BuildPlan {
        graph: planner.graph,
        outputs: planner.outputs,
        notices: planner.notices,
        warnings: planner.warnings,
        sources,
    })
}
