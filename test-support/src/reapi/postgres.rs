//! The private PostgreSQL server that BuildGrid's scheduler needs (0.9 refuses SQLite).
//!
//! One server per test process, started on first use: `initdb` into `pg/` of the harness's
//! directory for this process (or a copy of the data directory cached from an earlier run,
//! in the BuildGrid venv: ~0.2 s instead of `initdb` and `bgd migrate`, seconds), `postgres`
//! in the foreground on a free loopback port (TCP only, trust auth,
//! durability off), as the `postgres` system user when the tests run as root (PostgreSQL
//! refuses root). A template database gets `bgd migrate apply` once; every cluster then gets
//! its own database copied from it ([`Postgres::create_database`], ~0.2 s), so clusters never
//! see each other's jobs or bots. The server is stopped (SIGQUIT, an immediate shutdown that
//! still releases its shared memory) and the harness's directory removed by its watchdog when
//! the test process ends.

use super::install::BuildGrid;
use super::procs::{Guarded, free_port, logged, process_dir};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// How long PostgreSQL may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(60);
/// Attempts at a free port.
const PORT_ATTEMPTS: usize = 5;
/// The template every cluster's database is copied from.
const TEMPLATE: &str = "bgd_template";

/// A running PostgreSQL server with a migrated template database.
pub(crate) struct Postgres {
    bin: PathBuf,
    port: u16,
    server: Mutex<Guarded>,
    databases: AtomicUsize,
    /// `CREATE DATABASE … TEMPLATE` wants the template to itself: one copy at a time.
    copying: Mutex<()>,
}

/// The test process's server, started on first use; the error says why it could not start.
pub(crate) fn shared(bg: &BuildGrid) -> Result<&'static Postgres, String> {
    static SHARED: OnceLock<Result<Postgres, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| Postgres::start(bg))
        .as_ref()
        .map_err(Clone::clone)
}

/// The directory of the newest installed PostgreSQL server binaries (Debian's
/// `/usr/lib/postgresql/<major>/bin`), if any.
pub(crate) fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

impl Postgres {
    fn start(bg: &BuildGrid) -> Result<Postgres, String> {
        let bin = bin_dir().ok_or("PostgreSQL's server binaries are not installed")?;
        let scratch = process_dir()?;
        let dir = scratch.join("pg");
        fs::create_dir(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        // The server user must reach its data directory inside our directory.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
        let result = Postgres::start_in(bg, &bin, &dir, scratch);
        if result.is_err() {
            let _ = fs::remove_dir_all(scratch);
        }
        result
    }

    /// A server on a copy of the cached template data directory, else on a new one (initdb,
    /// `bgd migrate apply`), which is then cached for the next test processes.
    fn start_in(
        bg: &BuildGrid,
        bin: &Path,
        dir: &Path,
        scratch: &Path,
    ) -> Result<Postgres, String> {
        let owner = server_user();
        let data = dir.join("data");
        let cached = template_dir(bg, bin);
        if cached.join(COMPLETE).is_file() && copy_dir(&cached.join("data"), &data).is_ok() {
            return Postgres::serve(bin, dir, owner, scratch);
        }
        let _ = fs::remove_dir_all(&data);
        initdb(bin, &data, owner)?;
        let pg = Postgres::serve(bin, dir, owner, scratch)?;
        pg.psql(&format!("CREATE DATABASE {TEMPLATE}"))?;
        let migrate = Command::new(bg.bgd())
            .args(["migrate", "apply", &pg.url(TEMPLATE)])
            .output()
            .map_err(|e| format!("cannot run bgd migrate: {e}"))?;
        check("bgd migrate apply", &migrate)?;
        // A consistent copy needs a cleanly stopped server (fast shutdown).
        pg.server
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .stop(libc::SIGINT, Duration::from_secs(10));
        save_template(&data, &cached);
        Postgres::serve(bin, dir, owner, scratch)
    }

    /// Start the server on `dir/data` on a free port; its watchdog removes `scratch` (the
    /// test process's harness directory) when the process ends.
    fn serve(
        bin: &Path,
        dir: &Path,
        owner: Option<(u32, u32)>,
        scratch: &Path,
    ) -> Result<Postgres, String> {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            match Postgres::run(bin, dir, owner, port, scratch) {
                Ok(server) => {
                    return Ok(Postgres {
                        bin: bin.to_path_buf(),
                        port,
                        server: Mutex::new(server),
                        databases: AtomicUsize::new(0),
                        copying: Mutex::new(()),
                    });
                }
                Err(log) if log.contains("could not bind") || log.contains("in use") => last = log,
                Err(log) => return Err(format!("PostgreSQL did not start:\n{log}")),
            }
        }
        Err(format!(
            "PostgreSQL found no free port in {PORT_ATTEMPTS} attempts:\n{last}"
        ))
    }

    /// Start `postgres` on `port` and wait until it accepts connections; the log on failure.
    fn run(
        bin: &Path,
        dir: &Path,
        owner: Option<(u32, u32)>,
        port: u16,
        scratch: &Path,
    ) -> Result<Guarded, String> {
        let log = dir.join(format!("postgres-{port}.log"));
        let cmd = logged(&bin.join("postgres"), &log).map_err(|e| e.to_string())?;
        let mut cmd = as_user(cmd, owner, dir);
        cmd.arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string()]);
        for setting in [
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=300",
            "dynamic_shared_memory_type=mmap",
        ] {
            cmd.args(["-c", setting]);
        }
        let mut server = Guarded::spawn(&mut cmd, "QUIT", Some(scratch))
            .map_err(|e| format!("postgres: {e}"))?;
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready to accept connections") {
                return Ok(server);
            }
            if server.exited().is_some() || start.elapsed() > START_LIMIT {
                server.kill_tree();
                return Err(text);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `postgresql://postgres@127.0.0.1:<port>/<db>`.
    pub(crate) fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// A new database with BuildGrid's schema; its connection URL.
    pub(crate) fn create_database(&self) -> Result<String, String> {
        let n = self.databases.fetch_add(1, Ordering::SeqCst);
        let name = format!("bgd_{n}");
        let _one_at_a_time = self.copying.lock().unwrap_or_else(|e| e.into_inner());
        self.psql(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))?;
        Ok(self.url(&name))
    }

    fn psql(&self, sql: &str) -> Result<(), String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qAt",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-c", sql])
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        check(&format!("psql -c {sql:?}"), &out)
    }

    /// The server's PID (for the harness's own tests).
    pub(crate) fn pid(&self) -> u32 {
        self.server.lock().unwrap_or_else(|e| e.into_inner()).pid()
    }
}

/// Marker of a complete cached template.
const COMPLETE: &str = "complete";

/// Where the migrated template data directory is cached: in the BuildGrid venv (so a new
/// BuildGrid, with other migrations, starts afresh), per PostgreSQL major version.
fn template_dir(bg: &BuildGrid, bin: &Path) -> PathBuf {
    let major = bin
        .parent()
        .and_then(Path::file_name)
        .map(|m| m.to_string_lossy().into_owned())
        .unwrap_or_default();
    bg.venv().join(format!(".flavor-pg-template-{major}"))
}

/// `initdb` a new data directory `data` owned by `owner`.
fn initdb(bin: &Path, data: &Path, owner: Option<(u32, u32)>) -> Result<(), String> {
    fs::create_dir(data).map_err(|e| format!("mkdir {}: {e}", data.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(data, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", data.display()))?;
    }
    let parent = data.parent().unwrap_or(data);
    let mut initdb = as_user(Command::new(bin.join("initdb")), owner, parent);
    let out = initdb
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ])
        .arg("-D")
        .arg(data)
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    check("initdb", &out)
}

/// `cp -a from to` (owners and modes kept: PostgreSQL insists on them).
fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let out = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .map_err(|e| format!("cannot run cp: {e}"))?;
    check("cp -a", &out)
}

/// Cache the stopped server's `data` as the template at `cached`, atomically (copy beside
/// it, then rename); best effort: another process may have done it first.
fn save_template(data: &Path, cached: &Path) {
    let Some(parent) = cached.parent() else {
        return;
    };
    let Ok(tmp) = tempfile::Builder::new()
        .prefix(".flavor-pg-template-")
        .tempdir_in(parent)
    else {
        return;
    };
    let copied = copy_dir(data, &tmp.path().join("data")).is_ok()
        && fs::write(tmp.path().join(COMPLETE), "").is_ok();
    if copied && fs::rename(tmp.path(), cached).is_ok() {
        let _ = tmp.keep();
    }
}

/// Run `cmd` as `owner` (uid, gid) when given, from `dir`.
fn as_user(mut cmd: Command, owner: Option<(u32, u32)>, dir: &Path) -> Command {
    cmd.current_dir(dir);
    if let Some((uid, gid)) = owner {
        // std drops the supplementary groups when it changes the uid of a root process.
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// Who runs PostgreSQL: nobody special unless we are root, which PostgreSQL refuses; then the
/// `postgres` system user (Debian's package creates it), else `nobody`.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let lookup = |name: &str| {
        passwd.lines().find_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            (f.len() > 3 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
        })
    };
    lookup("postgres").or_else(|| lookup("nobody"))
}

/// Ok if `out` succeeded, else its stdout and stderr.
fn check(what: &str, out: &Output) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}
