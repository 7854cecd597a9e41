//! `flavor.toml`: loading, with every problem reported as a span-carrying diagnostic.
//!
//! The keys are defined once, in `schema` (serde types); `de` reads TOML into them reporting
//! every wrong type and unknown key, `lower` turns them into the [`model`] reporting missing
//! keys and unknown values, and `check` looks at the package as a whole. Checks that need the
//! workspace root (paths that must stay inside the project) are [`Manifest::check_paths`].

mod check;
mod de;
mod lower;
pub mod model;
mod paths;
mod schema;

pub use check::bad_name;
pub use model::*;

use crate::diagnostic::{ManifestErrors, Problem};
use std::path::Path;

/// The manifest file name.
pub const MANIFEST: &str = "flavor.toml";

impl Manifest {
    /// Read and check a manifest. All problems come back together.
    pub fn load(path: &Path) -> Result<Manifest, ManifestErrors> {
        let display = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| {
            ManifestErrors::new(
                &display,
                "",
                vec![Problem::new(format!("cannot read {display}: {e}"), None)],
            )
        })?;
        match String::from_utf8(bytes) {
            Ok(text) => Manifest::parse(path, &text),
            Err(e) => {
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                Err(ManifestErrors::new(
                    &display,
                    &text,
                    vec![not_utf8(e.as_bytes(), e.utf8_error().valid_up_to())],
                ))
            }
        }
    }

    /// Check manifest `text` as if it were the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestErrors> {
        let display = path.display().to_string();
        let doc = de::parse(text).map_err(|p| ManifestErrors::new(&display, text, vec![p]))?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut manifest = Manifest {
            path: path.to_path_buf(),
            dir: dir.clone(),
            text: text.into(),
            ..Default::default()
        };
        let mut problems = Vec::new();
        if let Some(raw) = de::read::<schema::ManifestToml>(&doc, &mut problems) {
            lower::Lower {
                doc: &doc,
                problems: &mut problems,
            }
            .manifest(raw, &mut manifest);
        }
        if let Some(pkg) = &mut manifest.package {
            crate::python::complete(pkg, &dir, &mut problems);
        }
        if let Some(pkg) = &manifest.package {
            check::check_package(pkg, &dir, &mut problems);
        }
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(ManifestErrors::new(&display, text, sorted(problems)))
        }
    }

    /// Check the paths of this manifest against the project it belongs to (`root`: the
    /// workspace root, or the manifest's own directory): slot sources and step directories
    /// must resolve (symbolic links followed) inside it or inside a directory listed in
    /// `[package] allow_sources_outside`, and target outputs inside it.
    pub fn check_paths(&self, root: &Path) -> Result<(), ManifestErrors> {
        let problems = paths::check(self, root);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ManifestErrors::new(
                &self.path.display().to_string(),
                &self.text,
                sorted(problems),
            ))
        }
    }
}

/// Problems in the order of the file (problems without a place last).
fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| p.span.as_ref().map_or(usize::MAX, |s| s.start));
    problems
}

/// The problem for a file that is not UTF-8, at the first bad byte (`valid` bytes are fine).
fn not_utf8(bytes: &[u8], valid: usize) -> Problem {
    let before = &bytes[..valid];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    let byte = bytes.get(valid).copied().unwrap_or_default();
    // In the lossy text the bad byte became U+FFFD (3 bytes) at the same offset.
    Problem::new(
        format!(
            "the manifest is not UTF-8: byte 0x{byte:02x} at line {line}, column {column} is not \
             valid UTF-8"
        ),
        Some(valid..valid + '\u{FFFD}'.len_utf8()),
    )
    .label("not UTF-8")
    .help("flavor.toml must be UTF-8 text; re-save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)")
}

#[cfg(test)]
mod tests {
    use super::de::{Seg, allowed_keys};
    use super::schema::ManifestToml;
    use super::*;

    /// `flavor.toml.example` documents every key of the schema, and uses them well: the only
    /// problems it has are files that do not exist beside it.
    #[test]
    fn the_example_documents_every_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flavor.toml.example");
        let text = std::fs::read_to_string(&path).unwrap();
        let tables = [
            "",
            "package",
            "execution",
            "runtime",
            "runtime.env",
            "workenv",
            "workenv.directories.0",
            "slot.0",
            "step.0",
            "setup.0",
            "setup.0.enumerate",
            "signing",
            "target.0",
            "workspace",
            "cache",
            "python",
            "remote",
        ];
        for table in tables {
            let segments: Vec<Seg> = (table.split('.').filter(|s| !s.is_empty()))
                .map(|s| match s.parse() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Key(s.to_string()),
                })
                .collect();
            let keys = allowed_keys::<ManifestToml>(&segments).unwrap();
            for key in keys {
                let documented = text.contains(&format!("{key} = "))
                    || text.contains(&format!("[{key}"))
                    || text.contains(&format!(".{key}]"));
                assert!(documented, "`{table}.{key}` is not in flavor.toml.example");
            }
        }
        let uncommented = text.replace("# [workspace]", "[workspace]");
        let problems = match Manifest::parse(&path, &uncommented) {
            Ok(_) => Vec::new(),
            Err(e) => e.messages(),
        };
        for p in problems {
            assert!(
                p.contains("does not exist") || p.contains("is not a directory"),
                "{p}"
            );
        }
    }
}
