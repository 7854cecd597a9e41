//! `flavor completions SHELL`: the script that registers `flavor`'s completion with the shell.
//! The shell then asks `flavor` as the user types (clap_complete's dynamic completion), so it
//! completes subcommands and flags, and the package and target names of the workspace at hand.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap_complete::env::Shells;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

/// Print the registration script of `command` (the whole `flavor` CLI) for the shell.
pub fn run(args: Args, command: clap::Command) -> anyhow::Result<ExitCode> {
    let shell = args.shell.to_string();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&shell)
        .with_context(|| format!("no completion for {shell}"))?;
    // The shell runs this program to complete: as it was started, made absolute if it was
    // started by a path (not found on PATH).
    let exe = std::env::args_os()
        .next()
        .unwrap_or_else(|| "flavor".into());
    let mut exe = PathBuf::from(exe);
    if exe.components().count() > 1 {
        exe = std::path::absolute(&exe)?;
    }
    let name = command.get_name();
    let mut script = Vec::new();
    completer.write_registration("COMPLETE", name, name, &exe.to_string_lossy(), &mut script)?;
    std::io::stdout().write_all(&script)?;
    Ok(ExitCode::SUCCESS)
}
