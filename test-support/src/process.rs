//! Child processes of the tests: [`start`] one with its output piped, [`wait`] for it with a
//! hang guard ([`PROCESS_DEADLINE`]) into a [`Run`], follow a long-running one's output
//! ([`line_channel`]), poll for a condition ([`wait_until`]), signal it ([`send_signal`]),
//! and parse what `env` printed ([`parse_env`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single launch may take before the test gives up on it (a hang, not a timing
/// assertion: healthy launches take milliseconds).
pub const PROCESS_DEADLINE: Duration = Duration::from_secs(180);

/// What one finished process did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout_bytes: Vec<u8>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panic with everything the process printed unless it exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}, got {:?} (signal {:?})\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.signal,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Exit 0.
    pub fn ok(&self) -> &Run {
        self.expect_code(0)
    }

    /// Exit 0 with exactly this stdout and nothing on stderr.
    pub fn clean(&self, stdout: &str) -> &Run {
        self.ok();
        assert_eq!(self.stdout, stdout, "stderr:\n{}", self.stderr);
        assert_eq!(
            self.stderr, "",
            "a healthy launch must print nothing to stderr"
        );
        self
    }

    /// The stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }
}

/// Wait for `child` (stdout/stderr piped) with [`PROCESS_DEADLINE`]; kills it and panics on a
/// hang.
pub fn wait(mut child: Child) -> Run {
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a child") {
            break status;
        }
        if start.elapsed() > PROCESS_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} hung for {PROCESS_DEADLINE:?}", child.id());
        }
        thread::sleep(Duration::from_millis(5));
    };
    let stdout_bytes = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    Run {
        code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stdout_bytes,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Start `cmd` with stdout and stderr piped.
///
/// A package written moments ago by this test process can be briefly "busy" (ETXTBSY): a
/// process that another test thread forks at that moment inherits the writer's descriptor
/// until it execs. Spawning is retried for that case only.
pub fn start(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut attempts = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return child,
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && attempts < 200 => {
                attempts += 1;
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot start {:?}: {e}", cmd.get_program()),
        }
    }
}

/// Run `cmd` to completion (see [`wait`]).
pub fn run(cmd: &mut Command) -> Run {
    wait(start(cmd))
}

/// The lines of a long-running process's output (e.g. `child.stdout.take()`), read on a
/// thread and sent one by one (without the newline); the channel closes at end of file.
pub fn line_channel(reader: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        for line in std::io::BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Poll `cond` every few milliseconds until it holds; panics after `limit` (a hang guard).
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Send signal `sig` (a name such as `TERM` or `KILL`) to process `pid`.
pub fn send_signal(pid: u32, sig: &str) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "kill -s \"$1\" \"$2\"", "sh", sig, &pid.to_string()]);
    run(&mut cmd).ok();
}

/// Parse `env` output (`K=V` per line) into a map.
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
