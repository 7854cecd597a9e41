//! `pyproject.toml`, the parts a package needs: `[project]` name, version, dependencies,
//! `requires-python` and `[project.scripts]`.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The `[project]` table of a pyproject.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PyProject {
    /// The `pyproject.toml` file.
    pub path: PathBuf,
    /// `[project].name`.
    pub name: String,
    /// `[project].version` (`None` when dynamic).
    pub version: Option<String>,
    /// `[project].dependencies`, as written (PEP 508).
    pub dependencies: Vec<String>,
    /// `[project].requires-python`.
    pub requires_python: Option<String>,
    /// `[project.scripts]`: console script name → `module:function`.
    pub scripts: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct File {
    project: Option<Project>,
}

#[derive(Deserialize)]
struct Project {
    name: Option<String>,
    version: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(rename = "requires-python")]
    requires_python: Option<String>,
    #[serde(default)]
    scripts: BTreeMap<String, String>,
}

impl PyProject {
    /// Read `dir/pyproject.toml`; the error is a sentence naming the file.
    pub fn load(dir: &Path) -> Result<PyProject, String> {
        let path = dir.join("pyproject.toml");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let file: File =
            toml::from_str(&text).map_err(|e| format!("{}: {}", path.display(), e.message()))?;
        let project = file
            .project
            .ok_or_else(|| format!("{} has no [project] table", path.display()))?;
        let name = project
            .name
            .ok_or_else(|| format!("{} has no [project] name", path.display()))?;
        Ok(PyProject {
            path,
            name,
            version: project.version,
            dependencies: project.dependencies,
            requires_python: project.requires_python,
            scripts: project.scripts,
        })
    }
}

/// A distribution name normalised as PEP 503 says (`Foo_Bar.baz` → `foo-bar-baz`).
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// A PEP 508 requirement reduced to what a lock records for it: normalised name, sorted
/// extras and the version specifier with whitespace removed and clauses sorted (markers are
/// left out: uv rewrites them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Requirement {
    /// Normalised name.
    pub name: String,
    /// Extras, sorted.
    pub extras: Vec<String>,
    /// `<2,>=1`: clauses sorted, no spaces (empty: any version).
    pub specifier: String,
}

impl Requirement {
    /// Parse `name[extra] >=1, <2 ; marker` (a URL requirement keeps its `@ url` as specifier).
    pub fn parse(text: &str) -> Requirement {
        let without_marker = text.split(';').next().unwrap_or("");
        let end = without_marker
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
            .unwrap_or(without_marker.len());
        let name = normalize_name(&without_marker[..end]);
        let mut rest = without_marker[end..].trim();
        let mut extras = Vec::new();
        if let Some(inner) = rest.strip_prefix('[')
            && let Some((list, after)) = inner.split_once(']')
        {
            extras = list
                .split(',')
                .map(normalize_name)
                .filter(|e| !e.is_empty())
                .collect();
            extras.sort();
            rest = after.trim();
        }
        let rest = rest.trim_start_matches('(').trim_end_matches(')');
        Requirement {
            name,
            extras,
            specifier: normalize_specifier(rest),
        }
    }
}

/// `>= 1, <2` → `<2,>=1`.
pub fn normalize_specifier(spec: &str) -> String {
    let mut clauses: Vec<String> = spec
        .split(',')
        .map(|c| c.chars().filter(|c| !c.is_whitespace()).collect::<String>())
        .filter(|c| !c.is_empty())
        .collect();
    clauses.sort();
    clauses.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_reduce_to_name_extras_and_sorted_specifier() {
        let r = Requirement::parse(
            "Requests_Toolbelt[Socks, security] >= 1.0, <2 ; python_version>'3'",
        );
        assert_eq!(r.name, "requests-toolbelt");
        assert_eq!(r.extras, ["security", "socks"]);
        assert_eq!(r.specifier, "<2,>=1.0");
        assert_eq!(Requirement::parse("cowsay").specifier, "");
        assert_eq!(Requirement::parse("cowsay (==6.1)").specifier, "==6.1");
    }
}
