//! `flavor` — build self-contained PSPF/2025 executables.
//!
//! This binary only wires subcommands to the library crates; each subcommand lives in its own
//! module under `commands/` and never uses another command. What several commands share sits
//! beside them: [`session`] (load, plan, build, install), [`build_cache`] (the cache
//! directory's layout), [`diagnostics`] (showing errors), [`messages`] (the `--json`
//! contract), [`progress`], [`remote`] (remote cache flags and settings) and [`report`]
//! (human formatting).

// Doc comments on clap types are the command's `--help` text, read as plain text: `DIR/<target>`
// and bare URLs are meant literally there.
#![allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]

mod build_cache;
mod builtin_launcher;
mod commands;
mod completion;
mod diagnostics;
mod messages;
mod progress;
mod remote;
mod report;
mod session;

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Rebuild on every change (only what changed); optionally rerun the package.
    ///
    /// Example: flavor watch --run -- world
    Watch(commands::watch::Args),
    /// Print the planned action graph (Graphviz dot or JSON) without building.
    ///
    /// Example: flavor graph --format dot | dot -Tsvg > graph.svg
    Graph(commands::graph::Args),
    /// List the workspace's packages and targets: platform, output, launcher.
    ///
    /// Example: flavor list --json
    List(commands::list::Args),
    /// Add, list and remove the launchers packages of each platform get.
    ///
    /// Example: flavor launcher add ./flavor-rs-launcher-linux_arm64
    Launcher(commands::launcher::Args),
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
    /// Decode one slot into a new directory (verified while it streams; all or nothing).
    ///
    /// SLOT is the slot's number or id. A tar slot is unpacked into DIR, a file slot lands at
    /// DIR/<target>.
    ///
    /// Example: flavor extract dist/hello.psp app ./app-files
    Extract(commands::extract::Args),
    /// Decode every slot into a new directory, as the launcher lays out a work environment.
    ///
    /// Example: flavor extract-all dist/hello.psp ./hello-workenv
    ExtractAll(commands::extract::AllArgs),
    /// Create an Ed25519 signing key pair (PEM files, readable by openssl).
    ///
    /// Example: flavor keygen --out-dir keys
    Keygen(commands::keygen::Args),
    /// Manage the public keys launchers trust under FLAVOR_VALIDATION=strict.
    ///
    /// Example: flavor key trust keys/flavor-public.key
    Key(commands::key::Args),
    /// List, inspect and clean the work environments packages unpacked into the cache.
    ///
    /// Example: flavor workenv list
    Workenv(commands::workenv::Args),
    /// Statistics and garbage collection of the build cache.
    ///
    /// Example: flavor cache gc --max-size 1G
    Cache(commands::cache::Args),
    /// Remove the workspace's built packages and its build cache.
    ///
    /// Example: flavor clean --dry-run
    Clean(commands::clean::Args),
    /// Start a package here: a commented flavor.toml and a runnable hello program.
    ///
    /// Example: flavor init --template python && flavor run -- world
    Init(commands::init::Args),
    /// Turn an upstream FlavorPack JSON manifest into a flavor.toml, saying what changed.
    ///
    /// Example: flavor import pretaster.json -o flavor.toml
    Import(commands::import::Args),
    /// Print a shell completion script.
    ///
    /// Example: flavor completions bash > ~/.local/share/bash-completion/completions/flavor
    Completions(commands::completions::Args),
}

fn main() -> ExitCode {
    // `COMPLETE=<shell> flavor …`: the shell asking for completions (`flavor completions`).
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => commands::build::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Watch(args) => commands::watch::run(args),
        Command::Graph(args) => commands::graph::run(args),
        Command::List(args) => commands::list::run(args),
        Command::Launcher(args) => commands::launcher::run(args),
        Command::Inspect(args) => commands::inspect::run(args),
        Command::Verify(args) => commands::verify::run(args),
        Command::Repack(args) => commands::repack::run(args),
        Command::Extract(args) => commands::extract::run(args),
        Command::ExtractAll(args) => commands::extract::run_all(args),
        Command::Keygen(args) => commands::keygen::run(args),
        Command::Key(args) => commands::key::run(args),
        Command::Workenv(args) => commands::workenv::run(args),
        Command::Cache(args) => commands::cache::run(args),
        Command::Clean(args) => commands::clean::run(args),
        Command::Init(args) => commands::init::run(args),
        Command::Import(args) => commands::import::run(args),
        Command::Completions(args) => commands::completions::run(args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(err) if err.root_cause().is::<diagnostics::Reported>() => {
            // The details are printed; say only what was added on top of them, if anything.
            if err.chain().count() > 1 {
                eprintln!("error: {err}");
            }
            ExitCode::from(1)
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
