//! `flavor workenv remove NAME`: one workenv removed entirely.

use super::NameArgs;
use super::removal::{apply, whole};
use super::scan::find;
use crate::messages::{WorkenvRemoved, print_document};
use crate::report::human_bytes;
use crate::stdout::outln;
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn remove(root: &Path, args: NameArgs) -> anyhow::Result<ExitCode> {
    let w = find(root, &args.name)?;
    let r = whole(&w, "removed on request".into());
    let hashes: Vec<&str> = w.versions.iter().map(|v| v.build.hash.as_str()).collect();
    if !apply(&w, &r, &hashes)? {
        bail!(
            "{}: in use — a program runs from it, or a launcher is unpacking it; try again \
             when it has exited",
            w.paths.name
        );
    }
    if args.json {
        print_document(&WorkenvRemoved {
            name: w.paths.name.clone(),
            removed: true,
            bytes: r.bytes,
            paths: r.paths.iter().map(|p| p.display().to_string()).collect(),
        })?;
    } else {
        outln!(
            "removed {} ({}); it unpacks again on its next run",
            w.paths.name,
            human_bytes(r.bytes)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
