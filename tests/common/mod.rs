//! Helpers shared by the end-to-end tests (`tests/launcher_*.rs`, `tests/build_*.rs`).
//!
//! - [`Sandbox`]: a private directory per test with its own cache root, `$HOME`, XDG
//!   directories and `$TMPDIR`; every package runs there as a real process with a cleared
//!   environment, so nothing touches the real home or cache.
//! - [`PackageBuilder`] and [`Slot`]: real packages written by `pspf::write_package` with the
//!   launcher that `build.rs` builds (`FLAVOR_LAUNCHER_BIN`), slots encoded by
//!   `pspf::encode::compress`.
//! - [`Tar`]: tar archives assembled byte by byte, so hostile entry names (`../x`, absolute
//!   paths, links leading outside) reach the launcher exactly as written.
//! - Tampering helpers ([`flip_byte`], [`find_bytes`]) and the conformance kit ([`kit_dir`]).
//! - [`project`]: for the build tests (`tests/build_*.rs`), example projects copied into a
//!   sandbox and built there with `flavor build --json`.
//! - [`tools`]: for the package and cache tool tests (`tests/tools_*.rs`), `flavor` run in a
//!   sandbox and the conformance kit's per-slot facts.
#![allow(dead_code)]

pub mod project;
pub mod tools;

use pspf::encode::{Compression, compress};
use pspf::keys::SigningKey;
use pspf::metadata::{Metadata, Runtime, RuntimeEnv, Workenv, WorkenvDirectory};
use pspf::{Codec, PackageSpec, SlotInput, flavor_metadata, write_package};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long any single launch may take before the test gives up on it (a hang, not a timing
/// assertion: healthy launches take milliseconds).
pub const PROCESS_DEADLINE: Duration = Duration::from_secs(180);

/// Seed of the key the test packages are signed with.
pub const TEST_SEED: &str = "flavor-launcher-e2e";

/// The static launcher `build.rs` built for this workspace.
pub fn launcher() -> PathBuf {
    PathBuf::from(env!("FLAVOR_LAUNCHER_BIN"))
}

/// The `flavor` command of this package.
pub fn flavor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_flavor"))
}

/// The signing key of the test packages.
pub fn test_key() -> SigningKey {
    pspf::keys::signing_key_from_seed(TEST_SEED)
}

/// The conformance kit: `$FLAVOR_SHARED_DIR/conformance`, else `shared/conformance` beside
/// the workspace.
pub fn kit_dir() -> PathBuf {
    let dir = match std::env::var_os("FLAVOR_SHARED_DIR") {
        Some(shared) => PathBuf::from(shared).join("conformance"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance"),
    };
    assert!(
        dir.join("packages").is_dir(),
        "conformance kit not found at {}; set FLAVOR_SHARED_DIR to the directory that holds \
         conformance/",
        dir.display()
    );
    dir
}

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

/// A private world for one test: cache root, home, XDG directories, temp dir, packages.
pub struct Sandbox {
    dir: tempfile::TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("flavor-e2e-")
            .tempdir()
            .expect("create a sandbox");
        for sub in ["cache", "home", "xdg-cache", "xdg-config", "tmp", "pkgs"] {
            fs::create_dir(dir.path().join(sub)).expect("create a sandbox directory");
        }
        Sandbox { dir }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
    /// The cache root every launch uses (`FLAVOR_CACHE`).
    pub fn cache(&self) -> PathBuf {
        self.root().join("cache")
    }
    pub fn home(&self) -> PathBuf {
        self.root().join("home")
    }
    pub fn tmp(&self) -> PathBuf {
        self.root().join("tmp")
    }
    /// Where a test puts its package files.
    pub fn pkg(&self, file: &str) -> PathBuf {
        self.root().join("pkgs").join(file)
    }
    /// A path in the sandbox (for counters and flags outside any workenv).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }

    /// A command running `pkg` with a cleared environment: `PATH`, the sandbox's `HOME`,
    /// `XDG_CACHE_HOME`, `XDG_CONFIG_HOME`, `TMPDIR` and `FLAVOR_CACHE`, cwd = the sandbox.
    pub fn command(&self, pkg: &Path) -> Command {
        let mut cmd = Command::new(pkg);
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.home())
            .env("XDG_CACHE_HOME", self.root().join("xdg-cache"))
            .env("XDG_CONFIG_HOME", self.root().join("xdg-config"))
            .env("TMPDIR", self.tmp())
            .env("FLAVOR_CACHE", self.cache())
            .current_dir(self.root());
        cmd
    }

    /// Run `pkg` with `args` in the sandbox.
    pub fn run(&self, pkg: &Path, args: &[&str]) -> Run {
        run(self.command(pkg).args(args))
    }

    /// Run `pkg` with extra environment variables.
    pub fn run_env(&self, pkg: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(pkg);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    }

    /// `<cache>/workenv/.<name>.pspf`: the bookkeeping of package file `<name>`.
    pub fn meta_dir(&self, name: &str) -> PathBuf {
        self.cache().join("workenv").join(format!(".{name}.pspf"))
    }

    fn versions_matching(&self, name: &str, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = fs::read_dir(self.meta_dir(name).join("versions"))
            .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| keep(p)).collect())
            .unwrap_or_default();
        found.sort();
        found
    }

    /// Completion markers (`versions/<hash>.ready`) of package file `<name>`.
    pub fn ready_markers(&self, name: &str) -> Vec<PathBuf> {
        self.versions_matching(name, |p| p.extension().is_some_and(|e| e == "ready"))
    }

    /// Version directories (workenvs) of package file `<name>`.
    pub fn workenvs(&self, name: &str) -> Vec<PathBuf> {
        self.versions_matching(name, |p| p.is_dir())
    }

    /// Private staging directories left under `.<name>.pspf/tmp`.
    pub fn staging_dirs(&self, name: &str) -> Vec<PathBuf> {
        fs::read_dir(self.meta_dir(name).join("tmp"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

/// Every file (not directory) under `dir`, recursively, without following links.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(_) => out.push(e.path()),
                Err(_) => {}
            }
        }
    }
    out.sort();
    out
}

/// A `#!/bin/sh` script with `body`.
pub fn sh(body: &str) -> Vec<u8> {
    format!("#!/bin/sh\n{body}").into_bytes()
}

/// A tar archive assembled byte by byte (ustar headers, no name sanitising).
#[derive(Default)]
pub struct Tar {
    bytes: Vec<u8>,
}

impl Tar {
    pub fn new() -> Tar {
        Tar::default()
    }

    fn header(&mut self, name: &[u8], kind: u8, mode: u32, size: u64, link: &[u8]) {
        assert!(
            name.len() <= 100 && link.len() <= 100,
            "names over 100 bytes"
        );
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
            let s = format!("{v:0w$o}\0", w = width - 1);
            h[at..at + width].copy_from_slice(s.as_bytes());
        };
        octal(&mut h, 100, 8, u64::from(mode));
        octal(&mut h, 108, 8, 0);
        octal(&mut h, 116, 8, 0);
        octal(&mut h, 124, 12, size);
        octal(&mut h, 136, 12, 1_700_000_000);
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.bytes.extend_from_slice(&h);
    }

    /// A regular file.
    pub fn file(mut self, name: impl AsRef<[u8]>, content: &[u8], mode: u32) -> Tar {
        self.header(name.as_ref(), b'0', mode, content.len() as u64, b"");
        self.bytes.extend_from_slice(content);
        let pad = (512 - content.len() % 512) % 512;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// A directory (`name` should end with `/`).
    pub fn dir(mut self, name: impl AsRef<[u8]>) -> Tar {
        self.header(name.as_ref(), b'5', 0o755, 0, b"");
        self
    }

    /// A symbolic link `name` → `target`.
    pub fn symlink(mut self, name: impl AsRef<[u8]>, target: impl AsRef<[u8]>) -> Tar {
        self.header(name.as_ref(), b'2', 0o777, 0, target.as_ref());
        self
    }

    /// The archive with its two end-of-archive blocks.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.extend_from_slice(&[0u8; 1024]);
        self.bytes
    }
}

/// The decoded content of a slot.
pub enum Content {
    Bytes(Vec<u8>),
    /// A (large) file holding the decoded content.
    File(PathBuf),
}

/// One slot of a test package.
pub struct Slot {
    pub id: String,
    pub target: String,
    pub codec: Codec,
    pub content: Content,
    pub lifecycle: String,
    pub mode: u32,
}

impl Slot {
    /// A single-file slot landing at `target` (e.g. `{workenv}/bin/app`).
    pub fn file(id: &str, target: &str, content: impl Into<Vec<u8>>, mode: u32) -> Slot {
        Slot {
            id: id.into(),
            target: target.into(),
            codec: Codec::Raw,
            content: Content::Bytes(content.into()),
            lifecycle: "runtime".into(),
            mode,
        }
    }

    /// A tar slot unpacked at the workenv root.
    pub fn tar(id: &str, archive: Vec<u8>) -> Slot {
        Slot {
            id: id.into(),
            target: "{workenv}".into(),
            codec: Codec::Tar,
            content: Content::Bytes(archive),
            lifecycle: "runtime".into(),
            mode: 0o644,
        }
    }

    /// Store with another codec (`Gzip`/`Zstd` for file slots, `TarGz`/`TarZst` for tar).
    pub fn codec(mut self, codec: Codec) -> Slot {
        self.codec = codec;
        self
    }

    pub fn lifecycle(mut self, lifecycle: &str) -> Slot {
        self.lifecycle = lifecycle.into();
        self
    }
}

/// A package under construction: metadata from `pspf::flavor_metadata`, slots, signing key.
pub struct PackageBuilder {
    pub metadata: Metadata,
    pub slots: Vec<Slot>,
    pub seed: String,
}

impl PackageBuilder {
    pub fn new(name: &str, version: &str, command: &str) -> PackageBuilder {
        PackageBuilder {
            metadata: flavor_metadata(name, version, command, 0),
            slots: Vec::new(),
            seed: TEST_SEED.into(),
        }
    }

    /// A package whose command is the shell script `body`, installed as `{workenv}/bin/app`.
    pub fn app(name: &str, version: &str, body: &str) -> PackageBuilder {
        PackageBuilder::new(name, version, "{workenv}/bin/app").slot(Slot::file(
            "app",
            "{workenv}/bin/app",
            sh(body),
            0o755,
        ))
    }

    pub fn slot(mut self, slot: Slot) -> PackageBuilder {
        self.slots.push(slot);
        self
    }

    pub fn setup(mut self, command: Value) -> PackageBuilder {
        self.metadata.setup_commands.push(command);
        self
    }

    pub fn exec_env(mut self, key: &str, value: &str) -> PackageBuilder {
        self.metadata.execution.env.insert(key.into(), value.into());
        self
    }

    pub fn workenv_env(mut self, key: &str, value: &str) -> PackageBuilder {
        self.workenv_mut().env.insert(key.into(), value.into());
        self
    }

    pub fn workenv_dir(mut self, path: &str, mode: &str) -> PackageBuilder {
        self.workenv_mut().directories.push(WorkenvDirectory {
            path: path.into(),
            mode: Some(mode.into()),
        });
        self
    }

    fn workenv_mut(&mut self) -> &mut Workenv {
        self.metadata.workenv.get_or_insert_with(Workenv::default)
    }

    pub fn runtime_env(mut self, policy: RuntimeEnv) -> PackageBuilder {
        self.metadata.runtime = Some(Runtime { env: Some(policy) });
        self
    }

    /// Write the package to `out` (atomically, as `flavor build` would) and return `out`.
    pub fn build(&self, out: &Path) -> PathBuf {
        let work = tempfile::tempdir().expect("a directory for encoded slots");
        let mut inputs = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let (stored, decoded_size) = match (&slot.content, slot.codec) {
                (Content::File(path), Codec::Raw | Codec::Tar) => {
                    (path.clone(), fs::metadata(path).expect("slot file").len())
                }
                (content, codec) => {
                    let stored = work.path().join(format!("slot{i}"));
                    let output = File::create(&stored).expect("create an encoded slot");
                    let input: Box<dyn Read> = match content {
                        Content::Bytes(b) => Box::new(&b[..]),
                        Content::File(p) => Box::new(File::open(p).expect("slot file")),
                    };
                    let n = compress(codec, input, output, Compression::default())
                        .expect("encode a slot");
                    (stored, n)
                }
            };
            inputs.push(SlotInput {
                id: slot.id.clone(),
                source: slot.id.clone(),
                target: slot.target.clone(),
                codec: slot.codec,
                stored,
                decoded_size,
                purpose: "payload".into(),
                lifecycle: slot.lifecycle.clone(),
                permissions: slot.mode,
            });
        }
        let key = pspf::keys::signing_key_from_seed(&self.seed);
        let spec = PackageSpec {
            launcher: &launcher(),
            metadata: self.metadata.clone(),
            slots: inputs,
            key: &key,
        };
        write_package(spec, out).expect("write a package");
        out.to_path_buf()
    }
}

/// A `runtime.env` policy.
pub fn policy(
    unset: &[&str],
    pass: &[&str],
    map: &[(&str, &str)],
    set: &[(&str, &str)],
) -> RuntimeEnv {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    };
    RuntimeEnv {
        unset: strings(unset),
        pass: strings(pass),
        map: pairs(map),
        set: pairs(set),
    }
}

/// XOR one byte of `path` at `offset` with 0x01.
pub fn flip_byte(path: &Path, offset: u64) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open a package to tamper with");
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, offset).expect("read the byte");
    b[0] ^= 0x01;
    file.write_all_at(&b, offset).expect("write the byte");
}

/// Offset of the first occurrence of `needle` in the file.
pub fn find_bytes(path: &Path, needle: &[u8]) -> u64 {
    let hay = fs::read(path).expect("read a package");
    hay.windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| {
            panic!(
                "{:?} not found in {}",
                String::from_utf8_lossy(needle),
                path.display()
            )
        }) as u64
}

/// Copy a package file (e.g. before tampering with the copy).
pub fn copy_package(from: &Path, to: &Path) -> PathBuf {
    fs::copy(from, to).expect("copy a package");
    to.to_path_buf()
}

/// Parse `env` output (`K=V` per line) into a map.
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Number of lines in a file (0 when it does not exist).
pub fn count_lines(path: &Path) -> usize {
    fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}
