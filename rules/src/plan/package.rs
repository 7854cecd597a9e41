//! Planning a package: for each output (`dist/<name>.psp`, or one per selected `[[target]]`;
//! debug builds write into `debug/` beside it, see [`crate::outputs`]) its steps and slots, then one `package` action, signed with the package's key. Steps and
//! slots that are the same for every target are the same actions, planned once.

use super::slot::{target_or, under};
use super::target::TargetPlan;
use super::{PlannedOutput, Planner};
use crate::Error;
use crate::actions::{PackageAction, PackageSpecParams};
use crate::manifest::{Manifest, Package, PythonPart, SlotSource};
use crate::outputs::all_package_paths;
use crate::select::Selected;
use crate::signing;
use flavor_engine::Input;
use pspf::Platform;

impl Planner<'_> {
    /// Plan the outputs of the package of manifest `m` that `selected` asks for.
    pub(super) fn package(
        &mut self,
        m: &Manifest,
        pkg: &Package,
        selected: &Selected<'_>,
    ) -> Result<(), Error> {
        check_command(m, pkg)?;
        let targets = self.targets(m, pkg, selected)?;
        // Never collected into a slot: what builds write.
        let mut never = vec![
            m.dir.join("dist"),
            self.root.join(".flavor"),
            m.dir.join(".flavor"),
        ];
        never.extend(all_package_paths(m));
        let key = signing::resolve(pkg, &m.dir, self.opts.create_user_key)?;
        self.notices.extend(key.announcement);
        let name = &pkg.name.value;
        for out in targets {
            let TargetPlan {
                name: target,
                platform,
                path,
                launcher,
                codecs,
            } = out;
            if pkg.python.is_some() && platform != Platform::LinuxX86_64 {
                return Err(Error::Python(format!(
                    "target `{}` is {platform}, and [python] packages are built for \
                     linux-x86_64 only so far (wheels are chosen for x86_64 manylinux and the \
                     interpreter is precompiled by running it); remove the target or build it \
                     from hand-written [[slot]]s",
                    target.as_deref().unwrap_or("")
                )));
            }
            let vars = super::steps::TargetVars {
                name: target.clone().unwrap_or_else(|| platform.to_string()),
                platform,
            };
            let steps = self.steps(m, pkg, &vars)?;
            let mut slots = Vec::with_capacity(pkg.slots.len());
            for (slot, codec) in pkg.slots.iter().zip(&codecs) {
                slots.push(self.slot(m, pkg, slot, &steps, &never, codec)?);
            }
            let label = match &target {
                Some(t) => format!("package {name} ({t})"),
                None => format!("package {name}"),
            };
            let facts = self.python_facts(m, pkg)?;
            let action = PackageAction {
                label,
                facts,
                spec: spec(pkg, self.opts.timestamp, platform),
                slots,
                launcher: Input::File(launcher.path.clone()),
                key: key.key.clone(),
            };
            let id = self.add(Box::new(action))?;
            self.outputs.push(PlannedOutput {
                package: name.clone(),
                target,
                platform,
                launcher,
                action: id,
                path,
                manifest: m.path.clone(),
            });
        }
        Ok(())
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
            SlotSource::Python(PythonPart::Interpreter) => {
                if wanted.starts_with("python/") {
                    return Ok(());
                }
                provided.push(format!("python/… (slot {})", slot.id.value));
            }
            SlotSource::Python(PythonPart::Site) => {
                if wanted.starts_with("site/") {
                    return Ok(());
                }
                provided.push(format!("site/… (slot {})", slot.id.value));
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
fn spec(pkg: &Package, timestamp: u64, platform: Platform) -> PackageSpecParams {
    PackageSpecParams {
        platform: Some(platform),
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
