//! Setup commands, run once by the first launch in the published workenv.
//!
//! Types: `execute {command}`, `enumerate_and_execute {command, enumerate{path, pattern}}`
//! (the command once per match, the match appended), `write_file {path, content[, mode]}`
//! and `chmod {path, mode}` (`*` as the last path component = every file in that directory).
//! Placeholders are expanded in every string field. An unknown type is an error, never
//! silently skipped.

use crate::env::{Placeholders, glob_match};
use crate::error::{Failure, Result, exit};
use pspf::setup::SetupMode;
use pspf::{SetupCommand, SetupEntry};
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The mode bits of `mode`, or `default` when none is given (the reader checked the bits).
fn bits(mode: &Option<SetupMode>, default: u32) -> u32 {
    mode.as_ref().and_then(SetupMode::bits).unwrap_or(default)
}

fn run_command(words: Vec<String>, env: &[(OsString, OsString)], i: usize) -> Result<()> {
    let Some((program, args)) = words.split_first() else {
        return Err(Failure::extract(format!(
            "setup command {i}: empty command"
        )));
    };
    let output = Command::new(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .map_err(|e| Failure::extract(format!("setup command {i}: cannot run {program}: {e}")))?;
    if !output.status.success() {
        let mut detail = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if detail.is_empty() {
            detail = String::from_utf8_lossy(&output.stdout).trim().to_string();
        }
        return Err(Failure::extract(format!(
            "setup command {i} ({}) failed with {}: {detail}",
            words.join(" "),
            output.status
        )));
    }
    Ok(())
}

fn split(command: &str, i: usize) -> Result<Vec<String>> {
    shlex::split(command)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| Failure::extract(format!("setup command {i}: cannot parse {command:?}")))
}

fn chmod(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| Failure::io(format!("chmod {:o} {}", mode, path.display()), e))
}

/// Run every setup command in order; the first failure stops and is returned. A malformed
/// entry (unknown type, missing field, bad mode) is an error, never silently skipped.
pub fn run_all(
    commands: &[SetupEntry],
    ph: &Placeholders<'_>,
    env: &[(OsString, OsString)],
) -> Result<()> {
    for (i, entry) in commands.iter().enumerate() {
        match entry {
            SetupEntry::Command(cmd) => run_one(cmd, i, ph, env)?,
            SetupEntry::Invalid { problem, .. } => {
                return Err(Failure::new(
                    exit::EXTRACT,
                    format!("setup command {i}: {problem}"),
                ));
            }
        }
    }
    Ok(())
}

fn run_one(
    cmd: &SetupCommand,
    i: usize,
    ph: &Placeholders<'_>,
    env: &[(OsString, OsString)],
) -> Result<()> {
    match cmd {
        SetupCommand::Execute { command } => run_command(split(&ph.expand(command), i)?, env, i),
        SetupCommand::EnumerateAndExecute {
            command,
            path,
            pattern,
        } => {
            let dir = PathBuf::from(ph.expand(path));
            let pattern = pattern.as_deref().unwrap_or("*");
            let mut matches: Vec<PathBuf> = fs::read_dir(&dir)
                .map_err(|e| Failure::io(format!("setup command {i}: {}", dir.display()), e))?
                .filter_map(|e| e.ok())
                .filter(|e| glob_match(pattern.as_bytes(), e.file_name().as_bytes()))
                .map(|e| e.path())
                .collect();
            matches.sort();
            for m in matches {
                let mut words = split(&ph.expand(command), i)?;
                words.push(m.to_string_lossy().into_owned());
                run_command(words, env, i)?;
            }
            Ok(())
        }
        SetupCommand::WriteFile {
            path,
            content,
            mode,
        } => {
            let path = PathBuf::from(ph.expand(path));
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(|e| Failure::io(parent.display(), e))?;
            }
            fs::write(&path, ph.expand(content)).map_err(|e| Failure::io(path.display(), e))?;
            if mode.is_some() {
                chmod(&path, bits(mode, 0o644))?;
            }
            Ok(())
        }
        SetupCommand::Chmod { path, mode } => {
            let path = PathBuf::from(ph.expand(path));
            let mode = bits(mode, 0o700);
            if path.file_name().is_some_and(|n| n == "*") {
                let dir = path.parent().unwrap_or(Path::new("."));
                let entries = fs::read_dir(dir).map_err(|e| Failure::io(dir.display(), e))?;
                for entry in entries.flatten() {
                    if entry.file_type().is_ok_and(|t| t.is_file()) {
                        chmod(&entry.path(), mode)?;
                    }
                }
                Ok(())
            } else {
                chmod(&path, mode)
            }
        }
    }
}
