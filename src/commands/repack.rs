//! `flavor repack PKG --launcher BIN -o OUT`: swap a package's launcher, keeping its metadata
//! and signature.

use crate::stdout::outln;
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The package whose launcher to replace.
    package: PathBuf,
    /// The launcher executable to put in front.
    #[arg(long, value_name = "BIN")]
    launcher: PathBuf,
    /// Where to write the new package.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !args.launcher.is_file() {
        anyhow::bail!("--launcher {}: no such file", args.launcher.display());
    }
    let size = pspf::repack(&args.package, &args.launcher, &args.output).with_context(|| {
        format!(
            "repacking {} with {}",
            args.package.display(),
            args.launcher.display()
        )
    })?;
    outln!(
        "wrote {} ({} bytes)",
        args.output.display(),
        crate::report::thousands(size)
    )?;
    Ok(ExitCode::SUCCESS)
}
