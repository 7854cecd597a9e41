//! Which packages and targets a command builds, from the names on its command line:
//!
//! - no name: the package of the current directory (inside a member), else every package;
//! - `NAME`: a package (all its targets), else the targets of that name in any package, else
//!   the targets of that platform (`linux-aarch64`, also a package's one output when it
//!   declares no `[[target]]` and is built for this machine's platform);
//! - `PACKAGE:TARGET`: one package's targets of that name, else of that platform;
//! - `--target NAME|PLATFORM` (repeatable): of what the names selected, only the targets with
//!   that name or platform.
//!
//! A name that matches nothing is an error listing the packages and targets there are.

use crate::Error;
use crate::manifest::{Manifest, Package, Target};
use crate::workspace::Workspace;
use pspf::Platform;

/// A package to build, and which of its outputs.
#[derive(Debug, Clone)]
pub struct Selected<'a> {
    /// Its manifest (which has a `[package]`).
    pub manifest: &'a Manifest,
    /// The `[[target]]`s to build, as indices in manifest order; `None`: every output (all
    /// targets, or the one output of a package without targets).
    pub targets: Option<Vec<usize>>,
}

impl Selected<'_> {
    /// The package.
    pub fn package(&self) -> Option<&Package> {
        self.manifest.package.as_ref()
    }

    /// Whether target `i` of the package is to be built.
    pub fn builds_target(&self, i: usize) -> bool {
        self.targets.as_ref().is_none_or(|t| t.contains(&i))
    }
}

/// What the command line asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// Positional names: packages, targets, platforms, `package:target`.
    pub names: &'a [String],
    /// `--target` values: target names or platforms.
    pub targets: &'a [String],
}

/// Does `spec` (a target name or a platform) name target `t` (by name only when `by_name`)?
fn names_target(spec: &str, t: &Target, by_name: bool) -> bool {
    if by_name {
        return t.name.value == spec;
    }
    match (Platform::from_flavor_name(spec), Platform::host()) {
        (Some(p), Some(host)) => t.platform_or(host) == p,
        (Some(p), None) => t.platform.as_ref().is_some_and(|tp| tp.value == p),
        (None, _) => false,
    }
}

/// Whether a package without `[[target]]` is built for the platform `spec` names.
fn implicit_output_is(spec: &str) -> bool {
    Platform::from_flavor_name(spec).is_some_and(|p| Platform::host() == Some(p))
}

/// The targets of `pkg` that `spec` names: by name if any has that name, else by platform.
/// `None` for a package without targets whose one output `spec` names.
fn matching(pkg: &Package, spec: &str) -> Option<Vec<usize>> {
    let by = |by_name: bool| -> Vec<usize> {
        (pkg.targets.iter().enumerate())
            .filter(|(_, t)| names_target(spec, t, by_name))
            .map(|(i, _)| i)
            .collect()
    };
    let named = by(true);
    if !named.is_empty() {
        return Some(named);
    }
    if pkg.targets.is_empty() {
        return implicit_output_is(spec).then(Vec::new);
    }
    let found = by(false);
    (!found.is_empty()).then_some(found)
}

/// Every target of the workspace as `package:target`.
fn all_targets(ws: &Workspace) -> Vec<String> {
    let mut out = Vec::new();
    for pkg in packages(ws) {
        for t in &pkg.targets {
            out.push(format!("{}:{}", pkg.name.value, t.name.value));
        }
    }
    out
}

fn packages(ws: &Workspace) -> impl Iterator<Item = &Package> {
    ws.packages.iter().filter_map(|m| m.package.as_ref())
}

/// Add `targets` of `manifest` to `out` (merging with what is there; `None` = every output).
fn add<'a>(out: &mut Vec<Selected<'a>>, manifest: &'a Manifest, targets: Option<Vec<usize>>) {
    if let Some(s) = out.iter_mut().find(|s| s.manifest.path == manifest.path) {
        match (&mut s.targets, targets) {
            (Some(have), Some(more)) => {
                for i in more {
                    if !have.contains(&i) {
                        have.push(i);
                    }
                }
                have.sort_unstable();
            }
            (have, _) => *have = None,
        }
        return;
    }
    out.push(Selected { manifest, targets });
}

/// The packages and targets `request` selects in `ws`.
pub fn select<'a>(ws: &'a Workspace, request: &Request<'_>) -> Result<Vec<Selected<'a>>, Error> {
    let mut out = by_names(ws, request.names)?;
    if request.targets.is_empty() {
        return Ok(out);
    }
    let mut filtered: Vec<Selected<'a>> = Vec::new();
    for spec in request.targets {
        let mut matched = false;
        for s in &out {
            let Some(pkg) = s.package() else { continue };
            let found = if pkg.targets.is_empty() {
                implicit_output_is(spec).then_some(None)
            } else {
                let ts: Vec<usize> = (pkg.targets.iter().enumerate())
                    .filter(|(i, t)| {
                        s.builds_target(*i)
                            && (names_target(spec, t, true) || names_target(spec, t, false))
                    })
                    .map(|(i, _)| i)
                    .collect();
                (!ts.is_empty()).then_some(Some(ts))
            };
            if let Some(ts) = found {
                matched = true;
                add(&mut filtered, s.manifest, ts);
            }
        }
        if !matched {
            return Err(no_target(ws, &out, spec));
        }
    }
    // In the order the names selected them.
    out.retain(|s| filtered.iter().any(|f| f.manifest.path == s.manifest.path));
    for s in &mut out {
        if let Some(f) = filtered.iter().find(|f| f.manifest.path == s.manifest.path) {
            s.targets = f.targets.clone();
        }
    }
    Ok(out)
}

/// The error for a `--target` value that matches nothing in the selected packages.
fn no_target(ws: &Workspace, selected: &[Selected<'_>], spec: &str) -> Error {
    let where_ = match selected {
        [one] => format!(
            "package `{}`",
            one.package().map_or("", |p| p.name.value.as_str())
        ),
        _ if selected.len() == ws.packages.len() => "the workspace".to_string(),
        _ => "the packages selected".to_string(),
    };
    let mut targets = Vec::new();
    for s in selected {
        let Some(pkg) = s.package() else { continue };
        if pkg.targets.is_empty()
            && let Some(host) = Platform::host()
        {
            targets.push(format!("{} ({host})", pkg.name.value));
        }
        for t in &pkg.targets {
            let platform = Platform::host().map(|h| t.platform_or(h).to_string());
            targets.push(format!(
                "{}:{}{}",
                pkg.name.value,
                t.name.value,
                platform.map(|p| format!(" ({p})")).unwrap_or_default()
            ));
        }
    }
    Error::NoTargetMatches {
        target: spec.to_string(),
        where_,
        targets,
    }
}

/// What the positional names select (before `--target`).
fn by_names<'a>(ws: &'a Workspace, names: &[String]) -> Result<Vec<Selected<'a>>, Error> {
    let with_package = || ws.packages.iter().filter(|m| m.package.is_some());
    if names.is_empty() {
        if let Some(current) = &ws.current {
            let here = with_package().filter(|m| &m.path == current);
            return Ok(here
                .map(|manifest| Selected {
                    manifest,
                    targets: None,
                })
                .collect());
        }
        let all = with_package().map(|manifest| Selected {
            manifest,
            targets: None,
        });
        return Ok(all.collect());
    }
    let mut out = Vec::new();
    for name in names {
        if let Some((package, target)) = name.split_once(':') {
            let manifest = with_package()
                .find(|m| m.package.as_ref().is_some_and(|p| p.name.value == package))
                .ok_or_else(|| no_such_name(ws, package))?;
            let pkg = manifest
                .package
                .as_ref()
                .ok_or_else(|| no_such_name(ws, package))?;
            let targets = matching(pkg, target).ok_or_else(|| Error::NoSuchTarget {
                package: package.to_string(),
                target: target.to_string(),
                targets: (pkg.targets.iter())
                    .map(|t| match (&t.platform, Platform::host()) {
                        (Some(p), _) => format!("{} ({})", t.name.value, p.value),
                        (None, Some(h)) => format!("{} ({h})", t.name.value),
                        (None, None) => t.name.value.clone(),
                    })
                    .collect(),
            })?;
            add(&mut out, manifest, (!targets.is_empty()).then_some(targets));
            continue;
        }
        if let Some(m) =
            with_package().find(|m| m.package.as_ref().is_some_and(|p| &p.name.value == name))
        {
            add(&mut out, m, None);
            continue;
        }
        let mut found = false;
        for by_name in [true, false] {
            for m in with_package() {
                let Some(pkg) = &m.package else { continue };
                let ts: Vec<usize> = (pkg.targets.iter().enumerate())
                    .filter(|(_, t)| names_target(name, t, by_name))
                    .map(|(i, _)| i)
                    .collect();
                if !ts.is_empty() {
                    add(&mut out, m, Some(ts));
                    found = true;
                } else if !by_name && pkg.targets.is_empty() && implicit_output_is(name) {
                    add(&mut out, m, None);
                    found = true;
                }
            }
            if found {
                break;
            }
        }
        if !found {
            return Err(no_such_name(ws, name));
        }
    }
    Ok(out)
}

fn no_such_name(ws: &Workspace, name: &str) -> Error {
    Error::NoSuchName {
        name: name.to_string(),
        packages: packages(ws).map(|p| p.name.value.clone()).collect(),
        targets: all_targets(ws),
    }
}

// The expectations are for builds on linux-x86_64 (targets without a platform are for it).
#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    use super::*;
    use std::path::Path;

    fn workspace(manifests: &[(&str, &str)]) -> Workspace {
        let packages = manifests
            .iter()
            .map(|(path, text)| Manifest::parse(Path::new(path), text).unwrap())
            .collect();
        Workspace {
            root: "/ws".into(),
            root_manifest: Manifest::default(),
            packages,
            current: None,
        }
    }

    const HEAD: &str = "[execution]\ncommand = \"x\"\n[package]\nversion = \"1\"\n";

    fn ws() -> Workspace {
        let greet = format!("{HEAD}name = \"greet\"\n");
        let tool = format!(
            "{HEAD}name = \"tool\"\n[[target]]\nname = \"linux-x86_64\"\n[[target]]\nname = \
             \"linux-aarch64\"\n[[target]]\nname = \"portable\"\noutput = \"dist/p.psp\"\n"
        );
        workspace(&[
            ("/ws/greet/flavor.toml", &greet),
            ("/ws/tool/flavor.toml", &tool),
        ])
    }

    fn picked(ws: &Workspace, names: &[&str], targets: &[&str]) -> Result<Vec<String>, String> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let targets: Vec<String> = targets.iter().map(|s| s.to_string()).collect();
        let request = Request {
            names: &names,
            targets: &targets,
        };
        let selected = select(ws, &request).map_err(|e| e.to_string())?;
        Ok(selected
            .iter()
            .map(|s| {
                let pkg = s.package().unwrap();
                match &s.targets {
                    None => pkg.name.value.clone(),
                    Some(ts) => format!(
                        "{}:{}",
                        pkg.name.value,
                        ts.iter()
                            .map(|i| pkg.targets[*i].name.value.as_str())
                            .collect::<Vec<_>>()
                            .join("+")
                    ),
                }
            })
            .collect())
    }

    #[test]
    fn names_select_packages_targets_and_platforms() {
        let ws = ws();
        assert_eq!(picked(&ws, &[], &[]).unwrap(), ["greet", "tool"]);
        assert_eq!(picked(&ws, &["tool"], &[]).unwrap(), ["tool"]);
        assert_eq!(picked(&ws, &["portable"], &[]).unwrap(), ["tool:portable"]);
        // A target name wins over the platform of the same spelling.
        assert_eq!(
            picked(&ws, &["linux-x86_64"], &[]).unwrap(),
            ["tool:linux-x86_64"]
        );
        // A platform alias no target is named: the targets of that platform.
        assert_eq!(
            picked(&ws, &["linux-arm64"], &[]).unwrap(),
            ["tool:linux-aarch64"]
        );
        assert_eq!(
            picked(&ws, &["tool:linux-aarch64", "tool:portable"], &[]).unwrap(),
            ["tool:linux-aarch64+portable"]
        );
        assert_eq!(
            picked(&ws, &["tool:linux-arm64"], &[]).unwrap(),
            ["tool:linux-aarch64"]
        );
        assert_eq!(
            picked(&ws, &["greet:linux-x86_64"], &[]).unwrap(),
            ["greet"]
        );
        assert_eq!(
            picked(&ws, &["tool", "tool:portable"], &[]).unwrap(),
            ["tool"]
        );
    }

    #[test]
    fn target_flags_keep_the_targets_of_that_name_or_platform() {
        let ws = ws();
        assert_eq!(
            picked(&ws, &[], &["linux-x86_64"]).unwrap(),
            ["greet", "tool:linux-x86_64+portable"]
        );
        assert_eq!(
            picked(&ws, &[], &["linux-aarch64"]).unwrap(),
            ["tool:linux-aarch64"]
        );
        assert_eq!(
            picked(&ws, &["tool"], &["portable", "linux-aarch64"]).unwrap(),
            ["tool:linux-aarch64+portable"]
        );
    }

    #[test]
    fn what_matches_nothing_lists_what_there_is() {
        let ws = ws();
        let err = picked(&ws, &["nosuch"], &[]).unwrap_err();
        assert_eq!(
            err,
            "no package or target named `nosuch` (packages: greet, tool; targets: \
             tool:linux-x86_64, tool:linux-aarch64, tool:portable)"
        );
        let err = picked(&ws, &["tool:nosuch"], &[]).unwrap_err();
        assert!(
            err.starts_with("package `tool` has no target `nosuch` (its targets: linux-x86_64 (linux-x86_64), linux-aarch64 (linux-aarch64), portable ("),
            "{err}"
        );
        let err = picked(&ws, &["nosuch:x"], &[]).unwrap_err();
        assert!(
            err.starts_with("no package or target named `nosuch`"),
            "{err}"
        );
        let err = picked(&ws, &["greet"], &["linux-aarch64"]).unwrap_err();
        assert!(
            err.starts_with("no target `linux-aarch64` in package `greet` (targets: greet ("),
            "{err}"
        );
        let err = picked(&ws, &[], &["windows-x86_64"]).unwrap_err();
        assert!(
            err.starts_with("no target `windows-x86_64` in the workspace"),
            "{err}"
        );
    }
}
