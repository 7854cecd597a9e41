//! Running the command: `execve` by default, or a child process with `FLAVOR_EXEC_MODE=spawn`
//! (signals forwarded, exit code passed through, killed by signal N → 128+N).

use crate::error::{Failure, exit};
use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
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
    let mut child = command(program, args, env)
        .spawn()
        .map_err(|e| Failure::new(exit::EXEC, format!("cannot execute {program}: {e}")))?;
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    for sig in [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGWINCH,
    ] {
        // SAFETY: installing a handler that only calls kill(2) on a stored pid.
        unsafe {
            libc::signal(sig, forward as *const () as libc::sighandler_t);
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
