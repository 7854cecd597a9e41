//! Planning: manifests → a graph of engine actions, plus where each package goes.
//!
//! Per slot: collect (at plan time) → `archive` (directories, step outputs, or a file with a
//! tar codec; tar.gz/tar.zst compress inside the same streaming action) → `compress` for a
//! single file with gzip/zstd. Per package and target: `package`, signed with
//! the package's key. Identical actions are planned once (a slot shared by ten packages is
//! archived and compressed once), because the planner interns actions by kind, parameters and
//! inputs before they reach the graph.

use crate::actions::*;
use crate::collect::{Collected, collect_dir, glob_files};
use crate::manifest::{Manifest, Package, SetupValue, Slot, SlotSource};
use crate::signing;
use flavor_engine::{Action, ActionId, Graph, Input};
use pspf::Codec;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Settings of one build.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// `--release`: zstd level 19 by default instead of 3.
    pub release: bool,
    /// `SOURCE_DATE_EPOCH`, or 0.
    pub timestamp: u64,
    /// The launcher used for `launcher = "builtin"` (and when no target names one).
    pub builtin_launcher: PathBuf,
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
    pub package: String,
    pub target: Option<String>,
    pub action: ActionId,
    pub path: PathBuf,
    pub manifest: PathBuf,
}

/// A planned build.
pub struct Plan {
    pub graph: Graph,
    pub outputs: Vec<PlannedOutput>,
    /// Lines to show the user once (e.g. a signing key was created).
    pub notices: Vec<String>,
    /// Every source file the plan reads (for `flavor watch`).
    pub sources: Vec<PathBuf>,
}

/// An error while planning (after the manifest itself was accepted).
#[derive(Debug, thiserror::Error)]
#[error("{package}: {message}")]
pub struct PlanError {
    pub package: String,
    pub message: String,
}

struct Planner<'a> {
    opts: &'a PlanOptions,
    root: &'a Path,
    graph: Graph,
    interned: HashMap<(String, Vec<u8>, String), ActionId>,
    sources: Vec<PathBuf>,
}

fn inputs_key(inputs: &[Input]) -> String {
    format!("{inputs:?}")
}

/// `path` without `.` components and with each `..` applied to the component before it (the
/// manifest directories it is joined to are canonical, so this names the same file).
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn label_path(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

impl Planner<'_> {
    fn add(&mut self, action: Box<dyn Action>) -> Result<ActionId, String> {
        let key = (
            action.kind().to_string(),
            action.params(),
            inputs_key(&action.inputs()),
        );
        if let Some(id) = self.interned.get(&key) {
            return Ok(*id);
        }
        for i in action.inputs() {
            if let Input::File(p) = &i {
                self.sources.push(p.clone());
            }
        }
        let id = self.graph.add(action).map_err(|e| e.to_string())?;
        self.interned.insert(key, id);
        Ok(id)
    }

    fn step_env(&self, step: &crate::manifest::Step) -> BTreeMap<String, String> {
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

    /// Plan every step of a package; returns step id → action.
    fn steps(&mut self, m: &Manifest, pkg: &Package) -> Result<HashMap<String, ActionId>, String> {
        let mut planned: HashMap<String, ActionId> = HashMap::new();
        // Steps in dependency order (the manifest check rejected cycles).
        let mut remaining: Vec<&crate::manifest::Step> = pkg.steps.iter().collect();
        while !remaining.is_empty() {
            let ready = remaining
                .iter()
                .position(|s| s.needs.iter().all(|n| planned.contains_key(&n.value)))
                .ok_or("steps form a cycle")?;
            let step = remaining.remove(ready);
            let cwd = match &step.cwd {
                Some(c) => m.dir.join(&c.value),
                None => m.dir.clone(),
            };
            let patterns: Vec<String> = step.inputs.iter().map(|s| s.value.clone()).collect();
            let files = glob_files(&m.dir, &patterns)?;
            let mut needed = Vec::new();
            for need in &step.needs {
                let dep = &pkg
                    .steps
                    .iter()
                    .find(|s| s.id.value == need.value)
                    .ok_or("unknown step")?;
                let dep_cwd = dep
                    .cwd
                    .as_ref()
                    .map(|c| m.dir.join(&c.value))
                    .unwrap_or_else(|| m.dir.clone());
                for (i, out) in dep.outputs.iter().enumerate() {
                    needed.push((
                        Input::Output {
                            action: planned[&need.value],
                            index: i,
                        },
                        dep_cwd.join(&out.value),
                    ));
                }
            }
            let action = StepAction {
                id: step.id.value.clone(),
                command: step.command.value.clone(),
                cwd_label: label_path(self.root, &cwd),
                cwd,
                env: self.step_env(step),
                outputs: step.outputs.iter().map(|o| o.value.clone()).collect(),
                sources: files.into_iter().map(Input::File).collect(),
                needed,
            };
            let id = self.add(Box::new(action))?;
            planned.insert(step.id.value.clone(), id);
        }
        Ok(planned)
    }

    /// Plan one slot: returns the package-slot description with its stored/decoded inputs.
    fn slot(
        &mut self,
        m: &Manifest,
        pkg: &Package,
        slot: &Slot,
        steps: &HashMap<String, ActionId>,
        never: &[PathBuf],
    ) -> Result<PackageSlot, String> {
        let id = slot.id.value.clone();
        let lifecycle = match &slot.lifecycle {
            Some(l) => pspf::Lifecycle::from_name(&l.value)
                .ok_or(format!("slot {id}: unknown lifecycle {}", l.value))?,
            None => pspf::Lifecycle::Cache,
        };
        let purpose = match &slot.purpose {
            Some(p) => pspf::Purpose::from_name(&p.value)
                .ok_or(format!("slot {id}: unknown purpose {}", p.value))?,
            None => pspf::Purpose::Payload,
        };
        let explicit_codec = slot
            .codec
            .as_ref()
            .map(|c| {
                Codec::from_name(&c.value).ok_or(format!("slot {id}: unknown codec {}", c.value))
            })
            .transpose()?;
        let target_of = |default: &str| -> String {
            slot.target
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_else(|| default.to_string())
        };
        // What goes in: either one plain file, or archive entries.
        let (file, entries, inputs, source_label, default_codec, mode): (
            Option<Input>,
            Vec<ArchiveEntry>,
            Vec<Input>,
            String,
            Codec,
            u32,
        ) = match &slot.source {
            SlotSource::Path(src) => {
                // Lexically normal, so the same source reached from several manifests
                // (`../../shared/lib`) is the same input and its actions are planned once.
                let path = normalize(&m.dir.join(&src.value));
                let meta = std::fs::metadata(&path)
                    .map_err(|e| format!("slot {id}: {}: {e}", path.display()))?;
                if meta.is_dir() {
                    let prefix = target_of(&src.value);
                    let prefix = prefix.trim_matches('/').trim_start_matches("./");
                    let prefix = if prefix == "." { "" } else { prefix };
                    let include: Vec<String> =
                        slot.include.iter().map(|s| s.value.clone()).collect();
                    let exclude: Vec<String> =
                        slot.exclude.iter().map(|s| s.value.clone()).collect();
                    let collected = collect_dir(&path, &include, &exclude, never)
                        .map_err(|e| format!("slot {id}: {e}"))?;
                    let mut entries = Vec::new();
                    let mut inputs = Vec::new();
                    let join = |rel: &str| {
                        if prefix.is_empty() {
                            rel.to_string()
                        } else {
                            format!("{prefix}/{rel}")
                        }
                    };
                    for c in collected {
                        match c {
                            Collected::File { rel, path, mode } => {
                                entries.push(ArchiveEntry {
                                    path: join(&rel),
                                    kind: EntryKind::File {
                                        input: inputs.len(),
                                    },
                                    mode,
                                });
                                inputs.push(Input::File(path));
                            }
                            Collected::Dir { rel, mode } => entries.push(ArchiveEntry {
                                path: join(&rel),
                                kind: EntryKind::Dir,
                                mode,
                            }),
                            Collected::Symlink { rel, target } => entries.push(ArchiveEntry {
                                path: join(&rel),
                                kind: EntryKind::Symlink { target },
                                mode: 0o777,
                            }),
                        }
                    }
                    (
                        None,
                        entries,
                        inputs,
                        src.value.clone(),
                        Codec::TarZst,
                        0o755,
                    )
                } else {
                    let exec = meta.permissions().mode() & 0o111 != 0;
                    let mode = match &slot.permissions {
                        Some(p) => pspf::metadata::parse_mode(&p.value).ok_or("bad permissions")?,
                        None if exec => 0o755,
                        None => 0o644,
                    };
                    let target = target_of(&src.value);
                    let entries = vec![ArchiveEntry {
                        path: target.trim_start_matches("./").to_string(),
                        kind: EntryKind::File { input: 0 },
                        mode,
                    }];
                    (
                        Some(Input::File(path.clone())),
                        entries,
                        vec![Input::File(path)],
                        src.value.clone(),
                        Codec::Raw,
                        mode,
                    )
                }
            }
            SlotSource::Step(step_id) => {
                let action = *steps
                    .get(&step_id.value)
                    .ok_or(format!("slot {id}: unknown step {}", step_id.value))?;
                let step = pkg
                    .steps
                    .iter()
                    .find(|s| s.id.value == step_id.value)
                    .ok_or("unknown step")?;
                let prefix = target_of("");
                let prefix = prefix.trim_matches('/');
                let mut entries = Vec::new();
                let mut inputs = Vec::new();
                for (i, out) in step.outputs.iter().enumerate() {
                    let rel = out.value.trim_start_matches("./");
                    let p = if prefix.is_empty() || prefix == "." {
                        rel.to_string()
                    } else {
                        format!("{prefix}/{rel}")
                    };
                    entries.push(ArchiveEntry {
                        path: p,
                        kind: EntryKind::File {
                            input: inputs.len(),
                        },
                        mode: 0o755,
                    });
                    inputs.push(Input::Output { action, index: i });
                }
                let single =
                    (step.outputs.len() == 1).then_some(Input::Output { action, index: 0 });
                let codec = if single.is_some() && explicit_codec.is_some_and(|c| !c.is_tar()) {
                    Codec::Raw
                } else {
                    Codec::TarZst
                };
                (
                    single,
                    entries,
                    inputs,
                    format!("step:{}", step_id.value),
                    codec,
                    0o755,
                )
            }
        };
        let codec = explicit_codec.unwrap_or(default_codec);
        let level = match (&slot.level, codec) {
            (Some(l), _) => l.value as i32,
            (None, Codec::Gzip | Codec::TarGz) => {
                if self.opts.release {
                    9
                } else {
                    6
                }
            }
            (None, _) => {
                if self.opts.release {
                    19
                } else {
                    3
                }
            }
        };
        // A compressed tar is archived and compressed in one streaming action; anything else
        // is archived (tar) or taken as is (one file), then compressed separately.
        let (stored, decoded, decoded_size_file) = if matches!(codec, Codec::TarGz | Codec::TarZst)
        {
            let archive = ArchiveAction {
                label: format!("archive slot {id} ({codec})"),
                entries: entries.clone(),
                inputs,
                mtime: self.opts.timestamp,
                compression: Some((codec, level)),
            };
            let action = self.add(Box::new(archive))?;
            (
                Input::Output { action, index: 0 },
                Input::Output { action, index: 1 },
                true,
            )
        } else {
            let decoded: Input = if codec.is_tar() {
                let archive = ArchiveAction {
                    label: format!("archive slot {id}"),
                    entries: entries.clone(),
                    inputs,
                    mtime: self.opts.timestamp,
                    compression: None,
                };
                Input::Output {
                    action: self.add(Box::new(archive))?,
                    index: 0,
                }
            } else {
                file.clone().ok_or(format!(
                    "slot {id}: codec {codec} needs a single file, but the source is a directory or several step outputs; use tar, tar.gz or tar.zst"
                ))?
            };
            let stored = match codec {
                Codec::Raw | Codec::Tar => decoded.clone(),
                _ => {
                    let action = CompressAction {
                        label: format!("compress slot {id} ({codec})"),
                        codec,
                        level,
                        input: decoded.clone(),
                    };
                    Input::Output {
                        action: self.add(Box::new(action))?,
                        index: 0,
                    }
                }
            };
            (stored, decoded, false)
        };
        let target = if codec.is_tar() {
            "{workenv}".to_string()
        } else {
            entries
                .first()
                .map(|e| e.path.clone())
                .unwrap_or_else(|| id.clone())
        };
        Ok(PackageSlot {
            id,
            source: source_label,
            target,
            codec,
            purpose,
            lifecycle,
            permissions: mode,
            stored,
            decoded,
            decoded_size_file,
        })
    }

    fn package(
        &mut self,
        m: &Manifest,
        out: &mut Vec<PlannedOutput>,
        notices: &mut Vec<String>,
    ) -> Result<(), String> {
        let pkg = m.package.as_ref().ok_or("not a package manifest")?;
        let steps = self.steps(m, pkg)?;
        let mut never = vec![
            m.dir.join("dist"),
            self.root.join(".flavor"),
            m.dir.join(".flavor"),
        ];
        for t in &pkg.targets {
            if let Some(o) = &t.output {
                never.push(m.dir.join(&o.value));
            }
        }
        let mut slots = Vec::new();
        for slot in &pkg.slots {
            slots.push(self.slot(m, pkg, slot, &steps, &never)?);
        }
        let key = signing::resolve(pkg, &m.dir, self.opts.create_user_key)?;
        notices.extend(key.announcement);
        let spec = PackageSpecParams {
            name: pkg.name.value.clone(),
            version: pkg.version.clone(),
            description: pkg.description.clone(),
            command: pkg.command.value.clone(),
            env: pkg.env.clone(),
            runtime_env: pkg
                .runtime_env
                .as_ref()
                .map(|r| pspf::metadata::RuntimeEnv {
                    unset: r.unset.clone(),
                    pass: r.pass.clone(),
                    set: r.set.clone(),
                    map: r.map.clone(),
                }),
            workenv_dirs: pkg
                .workenv_dirs
                .iter()
                .map(|(p, m)| (p.clone(), m.as_ref().map(|m| m.value.clone())))
                .collect(),
            workenv_env: pkg.workenv_env.clone(),
            setup: pkg.setup.iter().map(setup_json).collect(),
            timestamp: self.opts.timestamp,
        };
        let name = &pkg.name.value;
        let targets: Vec<(Option<String>, PathBuf, PathBuf)> = if pkg.targets.is_empty() {
            vec![(
                None,
                m.dir.join("dist").join(format!("{name}.psp")),
                self.opts.builtin_launcher.clone(),
            )]
        } else {
            pkg.targets
                .iter()
                .map(|t| {
                    let output = t
                        .output
                        .as_ref()
                        .map(|o| m.dir.join(&o.value))
                        .unwrap_or_else(|| {
                            m.dir
                                .join("dist")
                                .join(format!("{name}-{}.psp", t.name.value))
                        });
                    let launcher = match t.launcher.as_ref().map(|l| l.value.as_str()) {
                        None | Some("builtin") => self.opts.builtin_launcher.clone(),
                        Some(path) => m.dir.join(path),
                    };
                    (Some(t.name.value.clone()), output, launcher)
                })
                .collect()
        };
        for (target, path, launcher) in targets {
            let label = match &target {
                Some(t) => format!("package {name} ({t})"),
                None => format!("package {name}"),
            };
            let action = PackageAction {
                label,
                spec: spec.clone(),
                slots: slots.clone(),
                launcher: Input::File(launcher),
                key: key.key.clone(),
            };
            let id = self.add(Box::new(action))?;
            out.push(PlannedOutput {
                package: name.clone(),
                target,
                action: id,
                path,
                manifest: m.path.clone(),
            });
        }
        Ok(())
    }
}

fn setup_json(s: &crate::manifest::SetupCommand) -> Value {
    let mut obj = serde_json::Map::new();
    obj.insert("type".into(), json!(s.kind.value));
    for (k, v) in &s.fields {
        let value = match v {
            SetupValue::String(s) => json!(s),
            SetupValue::Integer(i) => json!(i),
            SetupValue::Table(t) => json!(t),
        };
        obj.insert(k.clone(), value);
    }
    Value::Object(obj)
}

/// Plan `packages` (manifests of one workspace rooted at `root`).
pub fn plan(packages: &[&Manifest], root: &Path, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let mut planner = Planner {
        opts,
        root,
        graph: Graph::new(),
        interned: HashMap::new(),
        sources: Vec::new(),
    };
    let mut outputs = Vec::new();
    let mut notices = Vec::new();
    for m in packages {
        let name = m
            .package
            .as_ref()
            .map(|p| p.name.value.clone())
            .unwrap_or_default();
        planner
            .package(m, &mut outputs, &mut notices)
            .map_err(|message| PlanError {
                package: name,
                message,
            })?;
    }
    let mut sources = planner.sources;
    sources.sort();
    sources.dedup();
    Ok(Plan {
        graph: planner.graph,
        outputs,
        notices,
        sources,
    })
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalize_applies_dot_dot_lexically() {
        assert_eq!(
            normalize(Path::new("/ws/apps/greet/../../shared/./lib")),
            Path::new("/ws/shared/lib")
        );
        assert_eq!(normalize(Path::new("/ws/a/./b")), Path::new("/ws/a/b"));
    }
}
