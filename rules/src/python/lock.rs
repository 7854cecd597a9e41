//! `uv.lock`, read directly: the packages of the resolution with their wheels (URL + sha256),
//! and whether the lock still matches the pyproject. flavor never resolves: a lock that is
//! missing or stale is an error that says to run `uv lock`.

use super::pyproject::{PyProject, Requirement, normalize_name, normalize_specifier};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A parsed `uv.lock`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UvLock {
    /// The lock file.
    pub path: PathBuf,
    /// Its top-level `requires-python`.
    pub requires_python: Option<String>,
    /// Every `[[package]]`, in file order.
    pub packages: Vec<LockedPackage>,
}

/// One `[[package]]` of a lock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LockedPackage {
    /// Its name (normalised by uv).
    pub name: String,
    /// Its version (absent for a dynamic version of the project itself).
    #[serde(default)]
    pub version: Option<String>,
    /// Where it comes from: `registry`, `editable`, `virtual`, `directory`, `path`, `url`, `git`.
    #[serde(default)]
    pub source: BTreeMap<String, String>,
    /// Its dependencies (name, optional marker and extras).
    #[serde(default)]
    pub dependencies: Vec<LockedDependency>,
    /// `[package.optional-dependencies]`: what each of its extras adds.
    #[serde(default, rename = "optional-dependencies")]
    pub optional_dependencies: BTreeMap<String, Vec<LockedDependency>>,
    /// Its wheels.
    #[serde(default)]
    pub wheels: Vec<LockedFile>,
    /// Its source distribution.
    #[serde(default)]
    pub sdist: Option<LockedFile>,
    /// `[package.metadata]`: what the project asked for, as recorded by `uv lock`.
    #[serde(default)]
    pub metadata: Option<LockedMetadata>,
}

/// An edge of the resolution.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LockedDependency {
    /// The dependency's name.
    pub name: String,
    /// The environment marker under which it applies.
    #[serde(default)]
    pub marker: Option<String>,
    /// The extras of the dependency asked for (`requests[socks]`).
    #[serde(default)]
    pub extra: Vec<String>,
}

/// A wheel or sdist of a locked package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LockedFile {
    /// Where to fetch it (absent for a local `path`/`filename` file).
    #[serde(default)]
    pub url: Option<String>,
    /// A local file, relative to the lock's directory.
    #[serde(default)]
    pub path: Option<String>,
    /// `sha256:<hex>`.
    #[serde(default)]
    pub hash: Option<String>,
    /// Its size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
}

/// `[package.metadata]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LockedMetadata {
    /// The project's requirements as `uv lock` saw them.
    #[serde(default, rename = "requires-dist")]
    pub requires_dist: Vec<LockedRequirement>,
}

/// One `requires-dist` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LockedRequirement {
    /// The name.
    pub name: String,
    /// The version specifier.
    #[serde(default)]
    pub specifier: Option<String>,
    /// Extras asked for.
    #[serde(default)]
    pub extras: Vec<String>,
    /// A URL/path/git/index source instead of a specifier.
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize)]
struct File {
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default, rename = "package")]
    packages: Vec<LockedPackage>,
}

/// Why a lock cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockProblem {
    /// There is no lock file.
    Missing(PathBuf),
    /// It cannot be read or is not a uv lock.
    Unreadable(PathBuf, String),
    /// It no longer matches the pyproject: what differs.
    Stale(PathBuf, String),
}

impl std::fmt::Display for LockProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockProblem::Missing(p) => write!(f, "there is no lock file {}", p.display()),
            LockProblem::Unreadable(p, why) => write!(f, "cannot read {}: {why}", p.display()),
            LockProblem::Stale(p, why) => write!(f, "{} is stale: {why}", p.display()),
        }
    }
}

impl UvLock {
    /// Read the lock at `path`.
    pub fn load(path: &Path) -> Result<UvLock, LockProblem> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(LockProblem::Missing(path.to_path_buf()));
            }
            Err(e) => return Err(LockProblem::Unreadable(path.to_path_buf(), e.to_string())),
        };
        let file: File = toml::from_str(&text)
            .map_err(|e| LockProblem::Unreadable(path.to_path_buf(), e.message().to_string()))?;
        Ok(UvLock {
            path: path.to_path_buf(),
            requires_python: file.requires_python,
            packages: file.packages,
        })
    }

    /// The package of the project itself (source `editable`, `virtual` or `directory`).
    pub fn root(&self, name: &str) -> Option<&LockedPackage> {
        let name = normalize_name(name);
        self.packages.iter().find(|p| {
            normalize_name(&p.name) == name
                && ["editable", "virtual", "directory"]
                    .iter()
                    .any(|k| p.source.contains_key(*k))
        })
    }

    /// Check that the lock was made from `project` as it is now (the project is in it, with
    /// the same version, `requires-python` and requirements); else what differs.
    pub fn check_fresh(&self, project: &PyProject) -> Result<(), LockProblem> {
        let stale = |why: String| Err(LockProblem::Stale(self.path.clone(), why));
        let Some(root) = self.root(&project.name) else {
            return stale(format!("it does not lock the project `{}`", project.name));
        };
        if let (Some(want), Some(have)) = (&project.version, &root.version)
            && want != have
        {
            return stale(format!(
                "it locks {} {have}, the pyproject says version {want}",
                project.name
            ));
        }
        let spec = |s: &Option<String>| s.as_deref().map(normalize_specifier);
        if spec(&project.requires_python) != spec(&self.requires_python) {
            return stale(format!(
                "requires-python is {} in the pyproject, {} in the lock",
                project.requires_python.as_deref().unwrap_or("unset"),
                self.requires_python.as_deref().unwrap_or("unset")
            ));
        }
        let wanted: BTreeSet<Requirement> = (project.dependencies.iter())
            .map(|d| Requirement::parse(d))
            .collect();
        let locked: BTreeSet<Requirement> = (root.metadata.iter())
            .flat_map(|m| &m.requires_dist)
            .map(|r| {
                let mut extras: Vec<String> = r.extras.iter().map(|e| normalize_name(e)).collect();
                extras.sort();
                Requirement {
                    name: normalize_name(&r.name),
                    extras,
                    specifier: normalize_specifier(r.specifier.as_deref().unwrap_or("")),
                }
            })
            .collect();
        let added: Vec<String> = (wanted.iter().filter(|r| !locked.contains(*r)))
            .map(describe)
            .collect();
        let removed: Vec<String> = (locked.iter().filter(|r| !wanted.contains(*r)))
            .map(describe)
            .collect();
        if added.is_empty() && removed.is_empty() {
            return Ok(());
        }
        let mut why = Vec::new();
        if !added.is_empty() {
            why.push(format!("the pyproject asks for {}", added.join(", ")));
        }
        if !removed.is_empty() {
            why.push(format!("the lock was made for {}", removed.join(", ")));
        }
        stale(why.join("; "))
    }

    /// The packages the project needs, in name order: every package reachable from the
    /// project's dependencies (markers are not evaluated here; the install does that), the
    /// project itself excluded.
    pub fn closure(&self, project: &str) -> Vec<&LockedPackage> {
        let by_name = self.by_name();
        (self.reachable(project, |_| true).iter())
            .filter_map(|n| by_name.get(n).copied())
            .collect()
    }

    fn by_name(&self) -> BTreeMap<String, &LockedPackage> {
        (self.packages.iter())
            .map(|p| (normalize_name(&p.name), p))
            .collect()
    }

    /// The names of the packages reachable from `project` over the edges `follow` accepts,
    /// an edge with extras (`requests[socks]`) also reaching what those extras add.
    fn reachable(
        &self,
        project: &str,
        follow: impl Fn(&LockedDependency) -> bool,
    ) -> BTreeSet<String> {
        let by_name = self.by_name();
        let root = normalize_name(project);
        let mut found = BTreeSet::new();
        let mut expanded = BTreeSet::new();
        let mut todo: Vec<(String, Option<String>)> = vec![(root.clone(), None)];
        while let Some(node) = todo.pop() {
            if !expanded.insert(node.clone()) {
                continue;
            }
            let (name, extra) = node;
            let Some(p) = by_name.get(&name) else {
                continue;
            };
            let edges = match &extra {
                None => &p.dependencies[..],
                Some(e) => p.optional_dependencies.get(e).map_or(&[][..], |v| &v[..]),
            };
            for d in edges.iter().filter(|d| follow(d)) {
                let target = normalize_name(&d.name);
                if target != root {
                    found.insert(target.clone());
                }
                todo.extend(d.extra.iter().map(|e| (target.clone(), Some(e.clone()))));
                todo.push((target, None));
            }
        }
        found
    }
}

fn describe(r: &Requirement) -> String {
    let extras = if r.extras.is_empty() {
        String::new()
    } else {
        format!("[{}]", r.extras.join(","))
    };
    format!("`{}{extras}{}`", r.name, r.specifier)
}

/// The wheel chosen for one locked package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenWheel {
    /// The package's name.
    pub package: String,
    /// Its version.
    pub version: String,
    /// Where to fetch the wheel.
    pub url: String,
    /// `sha256:<hex>` as locked.
    pub hash: Option<String>,
}

impl UvLock {
    /// The best-fitting wheel ([`super::tags::fit`]) of every package `project` needs. A
    /// package with no fitting wheel is an error when some path from the project reaches it
    /// without an environment marker; behind markers only it is left out (such as a
    /// Windows-only dependency; the install evaluates the markers).
    pub fn wheels_for(
        &self,
        project: &str,
        target: super::tags::WheelTarget,
    ) -> Result<Vec<ChosenWheel>, String> {
        let unconditional = self.unconditional(project);
        let mut chosen = Vec::new();
        let mut missing = Vec::new();
        for p in self.closure(project) {
            let best = (p.wheels.iter())
                .filter_map(|w| {
                    let url = w.url.as_deref()?;
                    let rank = super::tags::fit(&super::fetch::file_name(url), target)?;
                    Some((rank, url, w))
                })
                .max_by_key(|(rank, _, _)| *rank);
            match best {
                Some((_, url, w)) => chosen.push(ChosenWheel {
                    package: p.name.clone(),
                    version: p.version.clone().unwrap_or_default(),
                    url: url.to_string(),
                    hash: w.hash.clone(),
                }),
                None if unconditional.contains(&normalize_name(&p.name)) => {
                    missing.push(format!("{} {}", p.name, p.version.as_deref().unwrap_or("")));
                }
                None => {}
            }
        }
        if missing.is_empty() {
            Ok(chosen)
        } else {
            Err(format!(
                "no wheel for CPython 3.{} on x86_64 manylinux in {} for: {} (flavor installs \
                 wheels only, never builds source distributions)",
                target.minor,
                self.path.display(),
                missing.join(", ")
            ))
        }
    }

    /// Packages reached from `project` by edges without a marker only.
    fn unconditional(&self, project: &str) -> BTreeSet<String> {
        self.reachable(project, |d| d.marker.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python::tags::WheelTarget;

    const LOCK: &str = r#"
version = 1
revision = 3
requires-python = ">=3.12"

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }
sdist = { url = "https://files.example/colorama-0.4.6.tar.gz", hash = "sha256:00" }

[[package]]
name = "multidict"
version = "6.1.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example/multidict-6.1.0-cp312-cp312-win_amd64.whl", hash = "sha256:01" },
    { url = "https://files.example/multidict-6.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", hash = "sha256:02" },
    { url = "https://files.example/multidict-6.1.0-py3-none-any.whl", hash = "sha256:03" },
]

[[package]]
name = "app"
version = "1.0.0"
source = { editable = "." }
dependencies = [
    { name = "colorama", marker = "sys_platform == 'win32'" },
    { name = "multidict" },
]

[package.metadata]
requires-dist = [
    { name = "colorama", marker = "sys_platform == 'win32'" },
    { name = "multidict", specifier = ">=6" },
]
"#;

    fn lock(text: &str) -> UvLock {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("uv.lock");
        std::fs::write(&path, text).unwrap();
        UvLock::load(&path).unwrap()
    }

    #[test]
    fn extras_on_an_edge_reach_what_they_add() {
        let text = r#"
version = 1
requires-python = ">=3.12"

[[package]]
name = "app"
version = "1.0"
source = { virtual = "." }
dependencies = [{ name = "requests", extra = ["socks"] }]

[[package]]
name = "requests"
version = "2.0"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "idna" }]

[package.optional-dependencies]
socks = [{ name = "pysocks" }]
security = [{ name = "cryptography" }]

[[package]]
name = "idna"
version = "3.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "pysocks"
version = "1.7"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "cryptography"
version = "46.0"
source = { registry = "https://pypi.org/simple" }
"#;
        let lock = lock(text);
        let names: Vec<&str> = (lock.closure("app").iter())
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["idna", "pysocks", "requests"]);
    }

    #[test]
    fn the_best_wheel_of_each_needed_package_is_chosen() {
        let t = WheelTarget { minor: 12 };
        let chosen = lock(LOCK).wheels_for("app", t).unwrap();
        assert_eq!(chosen.len(), 1, "{chosen:?}");
        assert!(chosen[0].url.contains("manylinux_2_17"), "{chosen:?}");
        assert_eq!(chosen[0].hash.as_deref(), Some("sha256:02"));
        // An sdist-only package the project needs unconditionally is an error naming it.
        let needs_colorama = LOCK.replace(
            "{ name = \"colorama\", marker = \"sys_platform == 'win32'\" },\n    { name = \"multidict\" },",
            "{ name = \"colorama\" },\n    { name = \"multidict\" },",
        );
        let err = lock(&needs_colorama).wheels_for("app", t).unwrap_err();
        assert!(err.contains("colorama 0.4.6"), "{err}");
    }
}
