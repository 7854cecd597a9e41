//! `flavor` — build self-contained PSPF/2025 executables.
//!
//! This binary only wires subcommands to the library crates; each subcommand lives in its own
//! module under `commands/`.

mod builtin_launcher;
mod commands;
mod progress;
mod report;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Build, inspect and verify self-contained PSPF/2025 executables.
#[derive(Parser)]
#[command(name = "flavor", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the packages of the workspace (only what changed).
    ///
    /// Example: flavor build --release hello
    Build(commands::build::Args),
    /// Build a package, then run it with the arguments after `--`.
    ///
    /// Example: flavor run hello -- world
    Run(commands::run::Args),
    /// Print the planned action graph (Graphviz dot or JSON) without building.
    ///
    /// Example: flavor graph --format dot | dot -Tsvg > graph.svg
    Graph(commands::graph::Args),
    /// Show what a package holds: index, slots, metadata, upstream compatibility.
    ///
    /// Example: flavor inspect dist/hello.psp --json
    Inspect(commands::inspect::Args),
    /// Check a package's integrity: index, metadata, signature, every slot.
    ///
    /// Exits 0 only when every check passes, 1 when one fails.
    /// Example: flavor verify dist/hello.psp --trusted-key keys/flavor-public.key
    Verify(commands::verify::Args),
    /// Replace the launcher of a package, keeping metadata and signature.
    ///
    /// Example: flavor repack old.psp --launcher target/release/flavor-launcher -o new.psp
    Repack(commands::repack::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => commands::build::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Graph(args) => commands::graph::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Repack(args) => commands::repack::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
