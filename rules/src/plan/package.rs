//! Planning a package: for each output (`dist/<name>.psp`, or one per selected `[[target]]`)
//! its steps and slots, then one `package` action, signed with the package's key. Steps and
//! slots that are the same for every target are the same actions, planned once.

use super::target::TargetPlan;
use super::{PlannedOutput, Planner};
use crate::Error;
use crate::actions::{PackageAction, PackageSpecParams};
use crate::manifest::{Manifest, Package};
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
        let targets = self.targets(m, pkg, selected)?;
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
            let action = PackageAction {
                label,
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
