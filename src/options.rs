//! Command-line options several commands share: [`GlobalArgs`] (`-q`, `-v`, `--color`,
//! `--manifest-path`: accepted by every command, before or after its name, as cargo does) and
//! [`BuildArgs`] (`--release`, `--force`, `-j`: every command that builds). They are turned
//! into the plain settings the shared modules take.

use std::path::{Path, PathBuf};

use crate::progress::Mode;
use crate::session::BuildSettings;
use crate::style::Color;

/// Options of every command.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct GlobalArgs {
    /// Print nothing but warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: every action a build runs, with its time.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// When to colour messages: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t, value_name = "WHEN")]
    pub color: Color,
    /// Use this flavor.toml (or the one in this directory) instead of searching upwards from
    /// the current directory. For the commands that read manifests.
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

impl GlobalArgs {
    /// Where to look for the workspace: `--manifest-path` (a `flavor.toml` or a directory),
    /// else the current directory.
    pub fn start_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.manifest_path {
            Some(p) if p.is_file() => Ok(p.parent().map(Path::to_path_buf).unwrap_or_default()),
            Some(p) if p.is_dir() => Ok(p.clone()),
            Some(p) => anyhow::bail!("--manifest-path {}: no such file or directory", p.display()),
            None => Ok(std::env::current_dir()?),
        }
    }

    /// How a command that reports progress shows it: JSON events with `--json`, nothing
    /// but problems with `-q`, else for humans.
    pub fn mode(&self, json: bool) -> Mode {
        match (json, self.quiet) {
            (true, _) => Mode::Json,
            (false, true) => Mode::Quiet,
            (false, false) => Mode::Human,
        }
    }
}

/// How to build: the options of `build`, `run` and `watch`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct BuildArgs {
    /// Release build: zstd level 19 unless a slot sets `level`; packages are written to the
    /// configured path (`dist/<name>.psp`), debug builds beside it in `debug/`.
    #[arg(long)]
    pub release: bool,
    /// Ignore the build cache and run every action.
    #[arg(long)]
    pub force: bool,
    /// Parallel jobs (default: the number of CPUs).
    #[arg(short, long, default_value_t = 0, value_name = "N")]
    pub jobs: usize,
}

impl BuildArgs {
    /// The settings of the engine run.
    pub fn settings(&self) -> BuildSettings {
        BuildSettings {
            force: self.force,
            jobs: self.jobs,
        }
    }
}
