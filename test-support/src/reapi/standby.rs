//! BuildGrid servers started fast: `test-support/reapi/server.py` (the `bgd server start`
//! command without its per-start schema check) and one *standby* server per test process
//! that has done its Python imports ahead of time and waits for a configuration on stdin.
//!
//! [`warm`] makes sure a standby is importing (the first cluster calls it before it sets up
//! PostgreSQL, so the two overlap); [`start`] hands a configuration to the standby, or starts
//! a server from scratch if there is none ready, and warms the next one. A standby left over
//! at the end reads end of file on stdin and exits (its watchdog also stops it).

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

static STANDBY: Mutex<Option<Standby>> = Mutex::new(None);

/// Start a standby unless one is waiting already.
pub(crate) fn warm(bg: &BuildGrid) {
    let mut slot = STANDBY.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(standby) = slot.as_mut()
        && standby.proc.exited().is_none()
    {
        return;
    }
    *slot = spawn_standby(bg);
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
    let standby = STANDBY.lock().unwrap_or_else(|e| e.into_inner()).take();
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
