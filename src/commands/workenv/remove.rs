//! `flavor workenv remove NAME`: one workenv removed entirely.

use super::NameArgs;
use super::removal::{apply, whole};
use super::scan::find;
use crate::report::{human_bytes, print_json};
use anyhow::bail;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn remove(root: &Path, args: NameArgs) -> anyhow::Result<ExitCode> {
    let w = find(root, &args.name)?;
    let r = whole(&w, "removed on request".into());
    let hashes: Vec<&str> = w.versions.iter().map(|v| v.build.hash.as_str()).collect();
    if !apply(&w, &r, &hashes)? {
        bail!(
            "{}: a launcher is unpacking it right now; try again when it has started",
            w.paths.name
        );
    }
    if args.json {
        print_json(&json!({
            "name": w.paths.name, "removed": true, "bytes": r.bytes,
            "paths": r.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "removed {} ({}); it unpacks again on its next run",
            w.paths.name,
            human_bytes(r.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}
