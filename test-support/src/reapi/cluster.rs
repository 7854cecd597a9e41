//! [`Cluster`]: BuildGrid's server and test workers on free loopback ports, over a database
//! of the test process's private PostgreSQL.

use super::client::Client;
use super::config::server_config;
use super::install::{BuildGrid, buildgrid_or_skip};
use super::postgres;
use super::procs::{Guarded, alive, cpu_seconds, free_port, process_dir};
use super::standby;
use super::worker::{Execution, WorkerOptions, WorkerProc, executions, read_events};
use serde_json::Value;
use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long the server may take to answer `GetCapabilities` (Python imports dominate: ~5 s
/// idle, 15 s and more while the machine compiles).
const SERVER_LIMIT: Duration = Duration::from_secs(120);
/// How long a worker may take to get its bot session once the server is up.
const WORKER_LIMIT: Duration = Duration::from_secs(60);
/// Attempts at a free port for the server.
const PORT_ATTEMPTS: usize = 5;

/// Where the CAS keeps blobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CasStorage {
    /// In the server's memory (an LRU of 1 GiB): a restarted server has lost every blob
    /// (and answers `FAILED_PRECONDITION` MISSING for actions whose inputs it lost).
    Memory,
    /// On disk in the cluster's directory: blobs survive a restart.
    Disk,
}

/// How to set up a [`Cluster`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Workers started with the cluster (more with [`Cluster::start_worker`]).
    pub workers: usize,
    /// Slots of each of those workers.
    pub capacity: u32,
    /// Where blobs live.
    pub cas: CasStorage,
    /// BuildGrid's `bot-session-keepalive-timeout` (at least 5 s): a worker silent this long
    /// is dropped and its jobs requeued, ≈ 1 s later.
    pub bot_keepalive: Duration,
    /// BuildGrid's `cache-failed-actions` (its default is `true`; here `false`).
    pub cache_failed_actions: bool,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            workers: 1,
            capacity: 2,
            cas: CasStorage::Memory,
            bot_keepalive: Duration::from_secs(10),
            cache_failed_actions: false,
        }
    }
}

/// A BuildGrid server with its workers; everything is stopped when it is dropped (also
/// when a test panics), and when the test process ends (see `procs`).
pub struct Cluster {
    bg: BuildGrid,
    opts: ClusterOptions,
    dir: TempDir,
    db_url: String,
    port: u16,
    server: Option<Guarded>,
    workers: Vec<WorkerProc>,
    startup: Duration,
    startup_report: String,
}

impl Cluster {
    /// A cluster with [`ClusterOptions::default`]: one worker with two slots, CAS in memory.
    /// `None` (after one `skipped:` line) if BuildGrid is not installed; see
    /// [`super::buildgrid_or_skip`].
    pub fn start() -> Option<Cluster> {
        Cluster::start_with(ClusterOptions::default())
    }

    /// A cluster set up by `opts`, its workers registered; `None` as for [`Cluster::start`].
    /// Panics, with the logs, if something does not come up.
    pub fn start_with(opts: ClusterOptions) -> Option<Cluster> {
        let bg = buildgrid_or_skip()?;
        Some(Cluster::launch(bg, opts).unwrap_or_else(|e| panic!("REAPI cluster: {e}")))
    }

    fn launch(bg: BuildGrid, opts: ClusterOptions) -> Result<Cluster, String> {
        let begun = Instant::now();
        // The server's imports overlap with PostgreSQL's set-up.
        standby::warm(&bg);
        let pg = postgres::shared(&bg)?;
        let db_url = pg.create_database()?;
        let dir = tempfile::Builder::new()
            .prefix("cluster-")
            .tempdir_in(process_dir()?)
            .map_err(|e| format!("temporary directory: {e}"))?;
        let mut cluster = Cluster {
            bg,
            opts,
            dir,
            db_url,
            port: 0,
            server: None,
            workers: Vec::new(),
            startup: Duration::ZERO,
            startup_report: String::new(),
        };
        let database = begun.elapsed();
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            cluster.port = free_port();
            cluster.spawn_server()?;
            // The workers start while the server imports its modules; they retry until it
            // answers.
            for _ in 0..cluster.opts.workers {
                let capacity = cluster.opts.capacity;
                cluster.spawn_worker(&WorkerOptions::capacity(capacity))?;
            }
            match cluster.wait_server() {
                Ok(()) => {
                    let server = begun.elapsed();
                    let server_cpu = cluster
                        .server
                        .as_ref()
                        .map_or(0.0, |s| cpu_seconds(s.pid()));
                    for w in &mut cluster.workers {
                        w.wait_registered(WORKER_LIMIT)?;
                    }
                    cluster.startup = begun.elapsed();
                    cluster.startup_report = format!(
                        "{:.1?} (database {:.1?}, server answering +{:.1?} using {server_cpu:.1} s \
                         of CPU, workers +{:.1?})",
                        cluster.startup,
                        database,
                        server - database,
                        cluster.startup - server
                    );
                    return Ok(cluster);
                }
                Err(log) if port_taken(&log) => {
                    cluster.workers.clear();
                    last = log;
                }
                Err(log) => return Err(log),
            }
        }
        Err(format!(
            "the server found no free port in {PORT_ATTEMPTS} attempts:\n{last}"
        ))
    }

    /// Write the config for `self.port` and start `bgd server` (not waiting for it).
    fn spawn_server(&mut self) -> Result<(), String> {
        let d = self.dir.path();
        let config = d.join("bgd.yml");
        let yaml = server_config(&self.opts, self.port, &self.db_url, d);
        fs::write(&config, yaml).map_err(|e| format!("write {}: {e}", config.display()))?;
        let log = self.server_log_path();
        let mut note = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let _ = writeln!(
            note,
            "=== flavor test harness: bgd server start on port {}",
            self.port
        );
        self.server = Some(standby::start(&self.bg, &config, &log)?);
        Ok(())
    }

    /// Wait until the server answers `GetCapabilities`; the log if it exits first.
    fn wait_server(&mut self) -> Result<(), String> {
        let start = Instant::now();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            let server = self.server.as_mut().ok_or("the server is not running")?;
            if let Some(status) = server.exited() {
                return Err(format!(
                    "bgd server exited ({status}):\n{}",
                    self.server_log()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                let client = Client::connect(&self.url()).timeout(Duration::from_secs(5));
                if client.capabilities().is_ok() {
                    return Ok(());
                }
            }
            if start.elapsed() > SERVER_LIMIT {
                return Err(format!(
                    "bgd server not answering after {SERVER_LIMIT:?}:\n{}",
                    self.server_log()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn spawn_worker(&mut self, opts: &WorkerOptions) -> Result<usize, String> {
        let index = self.workers.len();
        let worker = WorkerProc::spawn(
            &self.bg,
            self.dir.path(),
            index,
            self.port,
            self.opts.bot_keepalive,
            opts,
        )?;
        self.workers.push(worker);
        Ok(index)
    }

    /// `grpc://127.0.0.1:<port>`: the REAPI endpoint (instance `""`).
    pub fn url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.port)
    }

    /// A [`Client`] for this cluster.
    pub fn client(&self) -> Client {
        Client::connect(&self.url())
    }

    /// How long [`Cluster::start_with`] took, from nothing to registered workers.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// [`Cluster::startup_time`] and its parts: the database (PostgreSQL, the first time in
    /// a test process), until the server answered, until the workers registered.
    pub fn startup_report(&self) -> &str {
        &self.startup_report
    }

    /// The cluster's directory (config, logs, CAS on disk, workers' action directories).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn server_log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything `bgd server` printed, across restarts.
    pub fn server_log(&self) -> String {
        fs::read_to_string(self.server_log_path()).unwrap_or_default()
    }

    /// SIGKILL the server (the workers keep retrying); its PID is gone on return.
    pub fn kill_server(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill_tree();
        }
    }

    /// Kill the server if it runs, start it again on the same port with the same database,
    /// and wait until it answers. With [`CasStorage::Memory`] every blob and cached result is
    /// gone; queued and running jobs survive in the database.
    pub fn restart_server(&mut self) {
        self.kill_server();
        let result = self.spawn_server().and_then(|()| self.wait_server());
        result.unwrap_or_else(|e| panic!("REAPI cluster restart: {e}"));
    }

    /// [`Cluster::restart_server`] with the CAS now kept in `cas`: from
    /// [`CasStorage::Disk`] to [`CasStorage::Memory`], the restarted server has no blobs
    /// (and later restarts lose whatever it gets).
    pub fn restart_server_with(&mut self, cas: CasStorage) {
        self.opts.cas = cas;
        self.restart_server();
    }

    /// SIGSTOP the server: connections stay open, nothing answers.
    pub fn freeze(&mut self) {
        if let Some(server) = &self.server {
            server.signal_tree(libc::SIGSTOP);
        }
    }

    /// SIGCONT a frozen server.
    pub fn thaw(&mut self) {
        if let Some(server) = &self.server {
            server.signal_tree(libc::SIGCONT);
        }
    }

    /// Start another worker with `capacity` slots and wait until it has a bot session; its
    /// index.
    pub fn start_worker(&mut self, capacity: u32) -> usize {
        self.start_worker_with(&WorkerOptions::capacity(capacity))
    }

    /// Start another worker set up by `opts` and wait until it has a bot session; its index.
    pub fn start_worker_with(&mut self, opts: &WorkerOptions) -> usize {
        let index = self
            .spawn_worker(opts)
            .unwrap_or_else(|e| panic!("REAPI cluster: {e}"));
        if let Err(e) = self.workers[index].wait_registered(WORKER_LIMIT) {
            panic!("REAPI cluster: {e}");
        }
        index
    }

    /// SIGKILL worker `index` and the actions it runs (a lost machine): the server notices
    /// after [`ClusterOptions::bot_keepalive`].
    pub fn kill_worker(&mut self, index: usize) {
        if let Some(mut proc) = self.workers[index].proc.take() {
            proc.kill_tree();
        }
    }

    /// Every worker's events, in order per worker (see `test-support/reapi/worker.py`).
    pub fn worker_events(&self) -> Vec<(usize, Value)> {
        self.workers
            .iter()
            .enumerate()
            .flat_map(|(i, w)| read_events(&w.events).into_iter().map(move |e| (i, e)))
            .collect()
    }

    /// What worker `index` printed (Python errors go there; events go to its JSON log).
    pub fn worker_output(&self, index: usize) -> String {
        fs::read_to_string(&self.workers[index].output).unwrap_or_default()
    }

    /// Every action any worker started, by worker then start order.
    pub fn executions(&self) -> Vec<Execution> {
        self.workers
            .iter()
            .enumerate()
            .flat_map(|(i, w)| executions(i, &read_events(&w.events)))
            .collect()
    }

    /// The executions of action `hash/size` (see [`super::digest_string`]).
    pub fn executions_of(&self, action: &str) -> Vec<Execution> {
        self.executions()
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }

    /// Poll [`Cluster::executions`] until `pred` holds for one; it. Panics after `limit`.
    pub fn wait_for_execution(
        &self,
        limit: Duration,
        pred: impl Fn(&Execution) -> bool,
    ) -> Execution {
        let start = Instant::now();
        loop {
            if let Some(e) = self.executions().into_iter().find(&pred) {
                return e;
            }
            assert!(
                start.elapsed() < limit,
                "no matching execution within {limit:?}; executions: {:#?}",
                self.executions()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The PIDs of the server and the workers that run (for leak checks).
    pub fn pids(&self) -> Vec<u32> {
        self.server
            .iter()
            .chain(self.workers.iter().filter_map(|w| w.proc.as_ref()))
            .map(Guarded::pid)
            .filter(|&p| alive(p))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in &mut self.workers {
            if let Some(mut proc) = w.proc.take() {
                proc.kill_tree();
            }
        }
        self.kill_server();
    }
}

/// Whether a server log says its port was taken (gRPC's bind failure, which BuildGrid
/// reports as "Unable to configure socket").
fn port_taken(log: &str) -> bool {
    [
        "in use",
        "Failed to bind",
        "Failed to add port",
        "Unable to configure socket",
    ]
    .iter()
    .any(|m| log.contains(m))
}
