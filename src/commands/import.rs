//! `flavor import manifest.json`: an upstream FlavorPack JSON manifest → `flavor.toml`.
//!
//! Wiring only: the conversion (and what it warns about) is `flavor_rules::import`. This reads
//! the JSON, writes the result atomically with `-o` (never over an existing file without
//! `--force`) or prints it, and prints the warnings.

use crate::messages::{ImportOutcome, print_document};
use crate::options::GlobalArgs;
use crate::stdout::out;
use anyhow::{Context, bail};
use serde_json::Value;
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

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
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
    let name = args
        .manifest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let imported = flavor_rules::import::import(&doc, &name, &base, &out_path)
        .with_context(|| args.manifest.display().to_string())?;
    let (toml, warnings) = (imported.toml, imported.warnings);

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
        print_document(&ImportOutcome {
            manifest: args.manifest.clone(),
            output: args.output.clone(),
            toml,
            warnings,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    for w in &warnings {
        crate::style::warning(w);
    }
    match &args.output {
        Some(_) if global.quiet => {}
        Some(o) => eprintln!(
            "wrote {} ({} warning{})",
            o.display(),
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        ),
        None => out!("{toml}")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `p` made absolute (against the current directory) and canonical where it exists.
fn absolute(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().unwrap_or_default().join(p)
    };
    abs.canonicalize()
        .unwrap_or_else(|_| flavor_rules::paths::lexical(&abs))
}
