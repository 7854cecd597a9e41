//! `flavor.toml`: loading, with every problem reported as a span-carrying diagnostic.

mod check;
mod parse;
pub mod schema;

pub use schema::*;

use crate::diagnostic::{ManifestErrors, Problem};
use std::path::Path;

/// The manifest file name.
pub const MANIFEST: &str = "flavor.toml";

impl Manifest {
    /// Read and check a manifest. All problems come back together.
    pub fn load(path: &Path) -> Result<Manifest, ManifestErrors> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ManifestErrors::new(
                &display,
                "",
                vec![Problem::new(format!("cannot read {display}: {e}"), None)],
            )
        })?;
        Manifest::parse(path, &text)
    }

    /// Check manifest `text` as if it were the file at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestErrors> {
        let display = path.display().to_string();
        let doc = match toml_edit::Document::parse(text.to_string()) {
            Ok(doc) => doc,
            Err(e) => {
                let problem = Problem::new(format!("TOML syntax error: {}", e.message()), e.span())
                    .label("here")
                    .help("fix the syntax; flavor.toml.example shows every key");
                return Err(ManifestErrors::new(&display, text, vec![problem]));
            }
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let mut manifest = Manifest {
            path: path.to_path_buf(),
            dir: dir.clone(),
            ..Default::default()
        };
        let mut reader = parse::Reader {
            problems: Vec::new(),
        };
        parse::read(&doc, &mut reader, &mut manifest);
        let mut problems = reader.problems;
        if let Some(pkg) = &manifest.package {
            check::check_package(pkg, &dir, &mut problems);
        }
        if problems.is_empty() {
            Ok(manifest)
        } else {
            Err(ManifestErrors::new(&display, text, problems))
        }
    }
}
