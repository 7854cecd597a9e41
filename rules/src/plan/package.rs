//! Planning a package: its steps and slots, its signing key, and one `package` action per
//! output (`dist/<name>.psp`, or one per `[[target]]`; debug builds write into `debug/` beside
//! it, see [`crate::outputs`]).

use super::{PlannedOutput, Planner};
use crate::Error;
use crate::actions::{PackageAction, PackageSpecParams};
use crate::manifest::{Manifest, Package};
use crate::outputs::{Profile, all_package_paths, configured_path, profile_path};
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
        // Never collected into a slot: what builds write.
        let mut never = vec![
            m.dir.join("dist"),
            self.root.join(".flavor"),
            m.dir.join(".flavor"),
        ];
        never.extend(all_package_paths(m));
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

    /// `dist/<name>.psp` with the builtin launcher, or one output per `[[target]]` (in
    /// `debug/` beside the configured path for a debug build).
    fn outputs_of(&self, m: &Manifest, pkg: &Package) -> Vec<Output> {
        let profile = Profile::of(self.opts.release);
        if pkg.targets.is_empty() {
            return vec![Output {
                target: None,
                path: profile_path(&configured_path(m, pkg, None), profile),
                launcher: self.opts.builtin_launcher.clone(),
            }];
        }
        (pkg.targets.iter())
            .map(|t| Output {
                target: Some(t.name.value.clone()),
                path: profile_path(&configured_path(m, pkg, Some(t)), profile),
                launcher: match t.launcher.as_ref().map(|l| l.value.as_str()) {
                    None | Some("builtin") => self.opts.builtin_launcher.clone(),
                    Some(path) => m.dir.join(path),
                },
            })
            .collect()
    }
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
