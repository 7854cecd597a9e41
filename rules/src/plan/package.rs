//! Planning a package: its steps and slots, its signing key, and one `package` action per
//! output (`dist/<name>.psp`, or one per `[[target]]`).

use super::slot::{target_or, under};
use super::{PlannedOutput, Planner};
use crate::Error;
use crate::actions::{PackageAction, PackageSpecParams};
use crate::manifest::{Manifest, Package, SlotSource};
use crate::signing;
use flavor_engine::Input;
use std::path::PathBuf;

/// One output of a package: its target name, where it goes, and the launcher in front.
struct Output {
    target: Option<String>,
    path: PathBuf,
    launcher: PathBuf,
}

impl Planner<'_> {
    /// Plan the package of manifest `m`.
    pub(super) fn package(&mut self, m: &Manifest, pkg: &Package) -> Result<(), Error> {
        let steps = self.steps(m, pkg)?;
        check_command(m, pkg)?;
        // Never collected into a slot: what builds write.
        let mut never = vec![
            m.dir.join("dist"),
            self.root.join(".flavor"),
            m.dir.join(".flavor"),
        ];
        never.extend(
            (pkg.targets.iter())
                .filter_map(|t| t.output.as_ref())
                .map(|o| m.dir.join(&o.value)),
        );
        let mut slots = Vec::with_capacity(pkg.slots.len());
        for slot in &pkg.slots {
            slots.push(self.slot(m, pkg, slot, &steps, &never)?);
        }
        let key = signing::resolve(pkg, &m.dir, self.opts.create_user_key)?;
        self.notices.extend(key.announcement);
        let spec = spec(pkg, self.opts.timestamp);
        let name = &pkg.name.value;
        for out in self.outputs_of(m, pkg) {
            let label = match &out.target {
                Some(t) => format!("package {name} ({t})"),
                None => format!("package {name}"),
            };
            let action = PackageAction {
                label,
                spec: spec.clone(),
                slots: slots.clone(),
                launcher: Input::File(out.launcher),
                key: key.key.clone(),
            };
            let id = self.add(Box::new(action))?;
            self.outputs.push(PlannedOutput {
                package: name.clone(),
                target: out.target,
                action: id,
                path: out.path,
                manifest: m.path.clone(),
            });
        }
        Ok(())
    }

    /// `dist/<name>.psp` with the builtin launcher, or one output per `[[target]]`.
    fn outputs_of(&self, m: &Manifest, pkg: &Package) -> Vec<Output> {
        let name = &pkg.name.value;
        let dist = m.dir.join("dist");
        if pkg.targets.is_empty() {
            return vec![Output {
                target: None,
                path: dist.join(format!("{name}.psp")),
                launcher: self.opts.builtin_launcher.clone(),
            }];
        }
        (pkg.targets.iter())
            .map(|t| Output {
                target: Some(t.name.value.clone()),
                path: match &t.output {
                    Some(o) => m.dir.join(&o.value),
                    None => dist.join(format!("{name}-{}.psp", t.name.value)),
                },
                launcher: match t.launcher.as_ref().map(|l| l.value.as_str()) {
                    None | Some("builtin") => self.opts.builtin_launcher.clone(),
                    Some(path) => m.dir.join(path),
                },
            })
            .collect()
    }
}

/// Checks that the program `[execution] command` names under `{workenv}/` is put there by
/// a slot: a file slot at that path, a directory slot holding it, or a step output at that
/// path or a directory above it. Skipped when setup commands run (they may create it).
fn check_command(m: &Manifest, pkg: &Package) -> Result<(), Error> {
    let program = pkg.command.value.split_whitespace().next().unwrap_or("");
    let program = program.trim_matches(['"', '\'']);
    let Some(wanted) = program.strip_prefix("{workenv}/") else {
        return Ok(());
    };
    if wanted.contains('{') || !pkg.setup.is_empty() {
        return Ok(());
    }
    let wanted = wanted.trim_start_matches("./");
    let mut provided = Vec::new();
    for slot in &pkg.slots {
        match &slot.source {
            SlotSource::Path(src) => {
                let path = m.dir.join(&src.value);
                let at = under(&target_or(slot, &src.value), "");
                let at = at.trim_end_matches('/').trim_start_matches("./");
                if path.is_dir() {
                    let rest = if at.is_empty() {
                        Some(wanted)
                    } else {
                        wanted.strip_prefix(&format!("{at}/"))
                    };
                    if rest.is_some_and(|r| path.join(r).is_file()) {
                        return Ok(());
                    }
                    provided.push(format!("{}/… (slot {})", display(at), slot.id.value));
                } else {
                    if at == wanted {
                        return Ok(());
                    }
                    provided.push(format!("{at} (slot {})", slot.id.value));
                }
            }
            SlotSource::Step(step) => {
                let Some(step) = pkg.steps.iter().find(|s| s.id.value == step.value) else {
                    continue;
                };
                let prefix = target_or(slot, "");
                for out in &step.outputs {
                    let at = under(&prefix, &out.dest);
                    let at = at.trim_end_matches('/').trim_start_matches("./");
                    if at.is_empty() || at == wanted || wanted.starts_with(&format!("{at}/")) {
                        return Ok(());
                    }
                    provided.push(format!("{at} (step {})", step.id.value));
                }
            }
        }
    }
    Err(Error::CommandNotProvided {
        path: wanted.to_string(),
        provided,
    })
}

fn display(at: &str) -> &str {
    if at.is_empty() { "." } else { at }
}

/// Everything of the package's metadata that does not come from slots.
fn spec(pkg: &Package, timestamp: u64) -> PackageSpecParams {
    PackageSpecParams {
        name: pkg.name.value.clone(),
        version: pkg.version.clone(),
        description: pkg.description.clone(),
        command: pkg.command.value.clone(),
        env: pkg.env.clone(),
        runtime_env: pkg.runtime_env.clone(),
        workenv_dirs: (pkg.workenv_dirs.iter())
            .map(|d| {
                (
                    d.path.value.clone(),
                    d.mode.as_ref().map(|m| m.value.clone()),
                )
            })
            .collect(),
        workenv_env: pkg.workenv_env.clone(),
        setup: pkg.setup.clone(),
        timestamp,
    }
}
