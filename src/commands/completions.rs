//! `flavor completions bash|zsh|fish`: a shell completion script on stdout (clap_complete).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The shell to complete for.
    shell: clap_complete::Shell,
}

/// Print the completion script for `command` (the whole `flavor` CLI).
pub fn run(args: Args, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    let name = command.get_name().to_string();
    clap_complete::generate(args.shell, &mut command, name, &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
