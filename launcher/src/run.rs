//! Running the command: `execve` by default, or a child process with `FLAVOR_EXEC_MODE=spawn`
//! (signals forwarded, exit code passed through, killed by signal N → 128+N).

use crate::error::{Failure, exit};
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

static CHILD: AtomicI32 = AtomicI32::new(0);
/// A signal that arrived before the child's pid was known, forwarded right after the spawn.
static PENDING: AtomicI32 = AtomicI32::new(0);

/// Signals forwarded to the child in spawn mode.
const FORWARDED: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    } else {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

fn command(program: &str, args: &[OsString], env: Vec<(OsString, OsString)>) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear().envs(env);
    cmd
}

/// Replace this process with the command. Returns only on failure.
pub fn exec(program: &str, args: &[OsString], env: Vec<(OsString, OsString)>) -> Failure {
    let err = command(program, args, env).exec();
    Failure::new(exit::EXEC, format!("cannot execute {program}: {err}"))
}

/// Run the command as a child, forwarding signals; returns its exit code.
pub fn spawn(
    program: &str,
    args: &[OsString],
    env: Vec<(OsString, OsString)>,
) -> Result<u8, Failure> {
    // Handlers go in before the spawn, so a signal arriving between the spawn and the moment
    // the pid is known is held and forwarded instead of killing the launcher (and orphaning
    // the child). The child starts with default dispositions: exec resets caught signals.
    for sig in FORWARDED {
        // SAFETY: installing a handler that only calls kill(2) or stores to an atomic.
        unsafe {
            libc::signal(sig, forward as *const () as libc::sighandler_t);
        }
    }
    let mut child = command(program, args, env)
        .spawn()
        .map_err(|e| Failure::new(exit::EXEC, format!("cannot execute {program}: {e}")))?;
    let pid = child.id() as i32;
    CHILD.store(pid, Ordering::SeqCst);
    let early = PENDING.swap(0, Ordering::SeqCst);
    if early != 0 {
        // SAFETY: signalling the child we just spawned.
        unsafe {
            libc::kill(pid, early);
        }
    }
    let status = child
        .wait()
        .map_err(|e| Failure::new(exit::EXEC, format!("waiting for {program}: {e}")))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => (128 + sig) as u8,
        _ => 1,
    })
}
