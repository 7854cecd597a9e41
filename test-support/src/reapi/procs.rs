//! The cluster's long-running processes, stopped by PID and never leaked.
//!
//! Each [`Guarded`] process leads its own process group, so one signal reaches it and whatever
//! it forked. Beside it runs a *watchdog* (`sh`, in a group of its own, deaf to terminal
//! signals) that blocks reading a pipe whose only writer is this test process: when the test
//! process ends in any way — tests done, `process::exit`, a panic that aborts, SIGKILL — the
//! kernel closes the pipe and the watchdog stops the group (a gentle signal, then SIGKILL) and
//! removes the directory it was given. That is what stops the shared cluster, which lives in
//! a `static` and is never dropped. Dropping a [`Guarded`] disarms the watchdog first (so it
//! can never signal a process group whose id was reused), then stops the tree itself.
//!
//! Stopping a tree ([`Guarded::kill_tree`]) freezes the group, collects from `/proc` the
//! process groups of every descendant (the test worker runs each action in a session of its
//! own), and SIGKILLs them all: a worker killed mid-action leaves no `sleep` behind.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// The watchdog: waits for end of file on stdin, then stops process group `$2` with signal
/// `$1` (up to 2 s), SIGKILLs what is left and removes directory `$3` (if not empty; again
/// a second later if other processes were still writing into it).
const WATCHDOG: &str = r#"trap '' INT HUP QUIT TERM PIPE
read _ignored || :
kill -s "$1" -- "-$2" 2>/dev/null
i=0
while [ "$i" -lt 20 ] && kill -0 -- "-$2" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -s KILL -- "-$2" 2>/dev/null
[ -z "$3" ] || rm -rf -- "$3" 2>/dev/null || { sleep 1; rm -rf -- "$3"; }
"#;

/// A process leading its own process group, stopped when dropped or when the test process
/// ends.
pub(crate) struct Guarded {
    child: Child,
    watchdog: Option<(Child, ChildStdin)>,
}

impl Guarded {
    /// Spawn `cmd` as the leader of a new process group. When the test process ends, its
    /// watchdog sends `exit_signal` (a `kill -s` name such as `TERM` or `QUIT`), then SIGKILL,
    /// then removes `remove_after` if given.
    pub(crate) fn spawn(
        cmd: &mut Command,
        exit_signal: &str,
        remove_after: Option<&Path>,
    ) -> io::Result<Guarded> {
        let child = cmd.process_group(0).spawn()?;
        let pid = child.id().to_string();
        let dir = remove_after
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let watchdog = Command::new("sh")
            .args([
                "-c",
                WATCHDOG,
                "flavor-reapi-watchdog",
                exit_signal,
                &pid,
                &dir,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut guarded = Guarded {
            child,
            watchdog: None,
        };
        match watchdog {
            Ok(mut w) => {
                let stdin = w.stdin.take().expect("the watchdog's stdin is piped");
                guarded.watchdog = Some((w, stdin));
                Ok(guarded)
            }
            Err(e) => Err(e), // `guarded` drops here and kills the child
        }
    }

    /// The leader's stdin, if it was piped.
    pub(crate) fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// The leader's PID (also the process group's id).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the leader has exited (and how), without waiting.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Send `sig` to the whole process group.
    pub(crate) fn signal_group(&self, sig: i32) {
        signal_group(self.pid(), sig);
    }

    /// Send `sig` to the group and to every process group of its descendants (a child that
    /// made its own group must not keep answering while the tree is frozen).
    pub(crate) fn signal_tree(&self, sig: i32) {
        signal_group(self.pid(), sig);
        for group in descendant_groups(self.pid()) {
            signal_group(group, sig);
        }
    }

    /// Stop the tree gently: `sig` to the group, wait up to `grace` for the leader to exit,
    /// then [`Guarded::kill_tree`].
    pub(crate) fn stop(&mut self, sig: i32, grace: Duration) {
        if self.exited().is_none() {
            self.signal_group(sig);
            let start = Instant::now();
            while self.exited().is_none() && start.elapsed() < grace {
                thread::sleep(Duration::from_millis(10));
            }
        }
        self.kill_tree();
    }

    /// SIGKILL the group and every process group of its descendants, reap the leader, and
    /// disarm the watchdog. Idempotent.
    pub(crate) fn kill_tree(&mut self) {
        if let Some((mut watchdog, stdin)) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
            drop(stdin);
        }
        if self.exited().is_some() {
            return;
        }
        let pid = self.pid();
        // Frozen, the tree cannot fork while its members are collected.
        signal_group(pid, libc::SIGSTOP);
        for group in descendant_groups(pid) {
            signal_group(group, libc::SIGKILL);
        }
        signal_group(pid, libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Simulate the end of the test process for this one process: close the watchdog's pipe
    /// without stopping anything, so the watchdog does its work (for the harness's own tests).
    pub(crate) fn orphan(mut self) -> (u32, u32) {
        let (watchdog, stdin) = self.watchdog.take().expect("a live watchdog");
        let ids = (self.pid(), watchdog.id());
        drop(stdin);
        // The watchdog and the tree are no longer ours to reap: let init have them.
        std::mem::forget(watchdog);
        std::mem::forget(self);
        ids
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill_tree();
    }
}

/// `kill(-pgid, sig)`; errors (group already gone) are ignored.
pub(crate) fn signal_group(pgid: u32, sig: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// Whether process `pid` exists and is not a zombie.
pub(crate) fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => parse_stat(&stat).is_some_and(|(state, _, _)| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

/// CPU seconds (user + system) process `pid` has used so far; 0 if it is gone.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    // After the command: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime(11) stime(12), in clock ticks.
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf(3) has no memory arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) as f64 / hz
}

/// (state, ppid, pgrp) from the text of `/proc/<pid>/stat` (the command name may hold
/// spaces and parentheses, so parse after the last `)`).
fn parse_stat(stat: &str) -> Option<(char, u32, u32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

/// The process groups of every descendant of `pid` other than `pid`'s own group and this
/// test process's group.
fn descendant_groups(pid: u32) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((_, ppid, pgrp)) = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat)
            {
                children.entry(ppid).or_default().push((p, pgrp));
            }
        }
    }
    // SAFETY: getpgrp(2) has no arguments and cannot fail.
    let own = unsafe { libc::getpgrp() } as u32;
    let mut groups = BTreeSet::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        for &(child, pgrp) in children.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            if pgrp != pid && pgrp != own {
                groups.insert(pgrp);
            }
            stack.push(child);
        }
    }
    groups
}

/// This test process's directory for everything the harness writes (PostgreSQL's data in
/// `pg/`, one `cluster-*` directory per cluster), mode 0755 so the `postgres` user can reach
/// its part; PostgreSQL's watchdog removes it when the process ends.
pub(crate) fn process_dir() -> Result<&'static Path, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("flavor-reapi-")
            .permissions(std::fs::Permissions::from_mode(0o755))
            .tempdir()
            .map_err(|e| format!("temporary directory for the REAPI harness: {e}"))?;
        Ok(dir.keep())
    });
    dir.as_deref().map_err(Clone::clone)
}

/// A loopback port that was free a moment ago and that this process has not handed out
/// before (the caller retries if another process takes it first).
pub(crate) fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("bind an ephemeral loopback port")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// A command with no stdin and both output streams appended to `log`.
pub(crate) fn logged(program: &Path, log: &Path) -> io::Result<Command> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut cmd = Command::new(program);
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    Ok(cmd)
}
