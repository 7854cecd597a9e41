//! Setup commands, run once by the first launch in the published workenv.
//!
//! Types: `execute {command}`, `enumerate_and_execute {command, enumerate{path, pattern}}`
//! (the command once per match, the match appended), `write_file {path, content[, mode]}`
//! and `chmod {path, mode}` (`*` as the last path component = every file in that directory).
//! Placeholders are expanded in every string field. An unknown type is an error, never
//! silently skipped.

use crate::env::{Placeholders, glob_match};
use crate::error::{Failure, Result, exit};
use serde_json::Value;
use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn field<'a>(cmd: &'a Value, name: &str, i: usize) -> Result<&'a str> {
    cmd.get(name).and_then(Value::as_str).ok_or_else(|| {
        Failure::extract(format!(
            "setup command {i}: missing string field {name:?} in {cmd}"
        ))
    })
}

fn mode_of(cmd: &Value, default: u32) -> Option<u32> {
    match cmd.get("mode") {
        None | Some(Value::Null) => Some(default),
        Some(Value::Number(n)) => n.as_u64().and_then(|m| u32::try_from(m).ok()),
        Some(Value::String(s)) => pspf::metadata::parse_mode(s),
        Some(_) => None,
    }
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

/// Run every setup command in order; the first failure stops and is returned.
pub fn run_all(
    commands: &[Value],
    ph: &Placeholders<'_>,
    env: &[(OsString, OsString)],
) -> Result<()> {
    for (i, cmd) in commands.iter().enumerate() {
        let kind = cmd.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "execute" => run_command(split(&ph.expand(field(cmd, "command", i)?), i)?, env, i)?,
            "enumerate_and_execute" => {
                let base = field(cmd, "command", i)?;
                let spec = cmd.get("enumerate").unwrap_or(&Value::Null);
                let dir = PathBuf::from(ph.expand(field(spec, "path", i)?));
                let pattern = spec.get("pattern").and_then(Value::as_str).unwrap_or("*");
                let mut matches: Vec<PathBuf> = fs::read_dir(&dir)
                    .map_err(|e| Failure::io(format!("setup command {i}: {}", dir.display()), e))?
                    .filter_map(|e| e.ok())
                    .filter(|e| glob_match(pattern.as_bytes(), e.file_name().as_bytes()))
                    .map(|e| e.path())
                    .collect();
                matches.sort();
                for m in matches {
                    let mut words = split(&ph.expand(base), i)?;
                    words.push(m.to_string_lossy().into_owned());
                    run_command(words, env, i)?;
                }
            }
            "write_file" => {
                let path = PathBuf::from(ph.expand(field(cmd, "path", i)?));
                let content = ph.expand(cmd.get("content").and_then(Value::as_str).unwrap_or(""));
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(|e| Failure::io(parent.display(), e))?;
                }
                fs::write(&path, content).map_err(|e| Failure::io(path.display(), e))?;
                if cmd.get("mode").is_some() {
                    let mode = mode_of(cmd, 0o644).ok_or_else(|| {
                        Failure::extract(format!("setup command {i}: bad mode in {cmd}"))
                    })?;
                    chmod(&path, mode)?;
                }
            }
            "chmod" => {
                let path = PathBuf::from(ph.expand(field(cmd, "path", i)?));
                let mode = mode_of(cmd, 0o700).ok_or_else(|| {
                    Failure::extract(format!("setup command {i}: bad mode in {cmd}"))
                })?;
                if path.file_name().is_some_and(|n| n == "*") {
                    let dir = path.parent().unwrap_or(Path::new("."));
                    let entries = fs::read_dir(dir).map_err(|e| Failure::io(dir.display(), e))?;
                    for entry in entries.flatten() {
                        if entry.file_type().is_ok_and(|t| t.is_file()) {
                            chmod(&entry.path(), mode)?;
                        }
                    }
                } else {
                    chmod(&path, mode)?;
                }
            }
            other => {
                return Err(Failure::new(
                    exit::EXTRACT,
                    format!(
                        "setup command {i}: unknown type {other:?} (known: execute, enumerate_and_execute, write_file, chmod)"
                    ),
                ));
            }
        }
    }
    Ok(())
}
