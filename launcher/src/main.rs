//! `flavor-launcher`: the program at the front of every flavor package.
//!
//! It reads the package it is part of from the end of its own file, verifies it, unpacks it
//! once into a per-user cache and replaces itself with the packaged command. Every argument is
//! passed to that command untouched; the launcher's own commands exist only in CLI mode
//! (`FLAVOR_LAUNCHER_CLI=1`). The runtime contract is PSPF.md §7.

mod checks;
mod cli;
mod config;
mod env;
mod error;
mod firstrun;
mod launch;
mod layout;
mod log;
mod plan;
mod run;
mod setup;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = std::env::args_os().skip(1).collect();
    let result = if config::cli_mode() {
        cli::run(args)
    } else {
        launch::launch(args)
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if log::enabled(config::LogLevel::Error) {
                eprintln!("flavor: {failure}");
            }
            ExitCode::from(failure.code)
        }
    }
}
