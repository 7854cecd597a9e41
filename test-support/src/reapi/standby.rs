//! BuildGrid servers started fast: `test-support/reapi/server.py` (the `bgd server start`
//! command without its per-start schema check) and a pool of *standby* server processes per
//! test process that have done their Python imports ahead of time and wait for a
//! configuration on stdin.
//!
//! [`warm`] fills the pool (the first cluster calls it before it sets up PostgreSQL, so the
//! two overlap); [`start`] hands a configuration to a standby, or starts a server from
//! scratch if there is none, and refills the pool. Standbys left over at the end read end of
//! file on stdin and exit (their watchdogs also stop them).

use super::install::{BuildGrid, server_script};
use super::procs::Guarded;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Mutex;

/// A server process waiting for its configuration.
struct Standby {
    proc: Guarded,
    stdin: ChildStdin,
}

/// Standbys kept ready: two, as two tests may start servers at the same time (cargo runs two
/// test threads on this machine); each waits idle (~100 MB) once imported.
const POOL: usize = 2;

static STANDBY: Mutex<Vec<Standby>> = Mutex::new(Vec::new());

/// Start standbys until [`POOL`] are waiting or importing.
pub(crate) fn warm(bg: &BuildGrid) {
    let mut pool = STANDBY.lock().unwrap_or_else(|e| e.into_inner());
    pool.retain_mut(|s| s.proc.exited().is_none());
    while pool.len() < POOL {
        match spawn_standby(bg) {
            Some(standby) => pool.push(standby),
            None => break,
        }
    }
}

fn spawn_standby(bg: &BuildGrid) -> Option<Standby> {
    let mut cmd = Command::new(bg.python());
    cmd.arg("-u")
        .arg(server_script())
        .arg("--standby")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut proc = Guarded::spawn(&mut cmd, "KILL", None).ok()?;
    let stdin = proc.take_stdin()?;
    Some(Standby { proc, stdin })
}

/// A server for `config`, its output appended to `log`: the standby if one is ready, else a
/// new process. Not waiting for it to answer.
pub(crate) fn start(bg: &BuildGrid, config: &Path, log: &Path) -> Result<Guarded, String> {
    let (config_text, log_text) = (config.display().to_string(), log.display().to_string());
    let plain = |s: &str| !s.contains(['\t', '\n']);
    // The oldest standby has had the most time to import.
    let standby = {
        let mut pool = STANDBY.lock().unwrap_or_else(|e| e.into_inner());
        (!pool.is_empty()).then(|| pool.remove(0))
    };
    if let Some(Standby {
        mut proc,
        mut stdin,
    }) = standby
        && plain(&config_text)
        && plain(&log_text)
        && proc.exited().is_none()
        && writeln!(stdin, "{config_text}\t{log_text}").is_ok()
    {
        warm(bg);
        return Ok(proc);
    }
    warm(bg);
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(bg.python());
    cmd.arg("-u")
        .arg(server_script())
        .arg(config)
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out);
    Guarded::spawn(&mut cmd, "KILL", None).map_err(|e| format!("cannot start the server: {e}"))
}
