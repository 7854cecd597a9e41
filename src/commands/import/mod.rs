//! `flavor import manifest.json`: an upstream FlavorPack JSON manifest → `flavor.toml`.
//!
//! Reads both forms the upstream builders accept — flat (`name`, `version`, `command`,
//! `environment` at the top) and nested (`package`, `execution`, `slots`), preferring the nested
//! values where both are given — and writes the equivalent `flavor.toml`, printed or written
//! with `-o`. Everything it cannot carry over unchanged is said twice: as a warning on stderr
//! and as a comment at the top of the result. Among those:
//!
//! - the Rust and Go builders store a slot file as given, so an `operations = "tgz"` slot
//!   names a ready-made `.tgz`; flavor archives and compresses a *source* itself, so the slot
//!   now names the directory the archive unpacks to (the warning says how to make it);
//! - `{workenv}` at the start of a source path is the builder's base directory; here it
//!   becomes the manifest's directory, and every source is made relative to the output file;
//! - values flavor has no key for (`execution.args` folded into the command, a `shell` setup
//!   command run through `sh -c`, unknown purposes, `dependencies`, …).
//!
//! The result is checked with the manifest loader before it is printed: apart from sources
//! that do not exist yet, it always loads.

mod convert;
mod importer;
mod paths;
mod setup;
mod slot;
mod toml_out;

use crate::report::print_json;
use anyhow::{Context, bail};
use importer::Importer;
use paths::absolute;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The upstream FlavorPack manifest (JSON, flat or nested form).
    manifest: PathBuf,
    /// Write the flavor.toml to FILE instead of printing it (sources are made relative to
    /// FILE's directory).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
    /// Print the result and the warnings as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bytes =
        fs::read(&args.manifest).with_context(|| format!("reading {}", args.manifest.display()))?;
    let doc: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not JSON", args.manifest.display()))?;
    let base = absolute(args.manifest.parent().unwrap_or(Path::new("")));
    let out_path = match &args.output {
        Some(o) => {
            if fs::symlink_metadata(o).is_ok() && !args.force {
                bail!("{} already exists; use --force to replace it", o.display());
            }
            absolute(o)
        }
        None => base.join("flavor.toml"),
    };
    let out_dir = out_path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut importer = Importer {
        base,
        out_dir: out_dir.clone(),
        warnings: Vec::new(),
        workenv_sources: false,
    };
    let name = args
        .manifest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let toml = importer
        .convert(&doc, &name)
        .with_context(|| args.manifest.display().to_string())?;

    // The result must load; only sources that do not exist yet may be missing.
    if let Err(errors) = flavor_rules::Manifest::parse(&out_path, &toml) {
        let mut missing = Vec::new();
        for m in errors.messages() {
            if m.contains("does not exist") {
                missing.push(m);
            } else {
                bail!(
                    "flavor import wrote a manifest that does not load ({m}); please report this"
                );
            }
        }
        for m in missing {
            importer.warn(format!("{m} (relative to {})", out_dir.display()));
        }
    }

    if let Some(o) = &args.output {
        let dir = o.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(d) = dir {
            fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        let tmp = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
        fs::write(tmp.path(), &toml)?;
        tmp.persist(o)
            .with_context(|| format!("writing {}", o.display()))?;
    }
    if args.json {
        print_json(&json!({
            "manifest": args.manifest.display().to_string(),
            "output": args.output.as_ref().map(|o| o.display().to_string()),
            "toml": toml,
            "warnings": importer.warnings,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    for w in &importer.warnings {
        eprintln!("warning: {w}");
    }
    match &args.output {
        Some(o) => eprintln!(
            "wrote {} ({} warning{})",
            o.display(),
            importer.warnings.len(),
            if importer.warnings.len() == 1 {
                ""
            } else {
                "s"
            }
        ),
        None => print!("{toml}"),
    }
    Ok(ExitCode::SUCCESS)
}
