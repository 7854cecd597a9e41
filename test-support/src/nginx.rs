//! A real nginx on loopback, as a Bazel-HTTP-remote-cache-compatible WebDAV server for the
//! end-to-end tests of the remote build cache.
//!
//! [`Nginx::start`] runs the system nginx (`nginx_binary`, built `--with-http_dav_module`) in
//! the foreground as a direct child of the test (`daemon off; master_process off;`, so no
//! privilege drop even as root), with everything it touches (config, pid file, logs, temp
//! paths, stored objects) in a private [`TempDir`]. It serves:
//!
//! - [`Nginx::url`] (`/cache`): `GET`/`HEAD`/`PUT` of `<url>/ac/<hex>` and `<url>/cas/<hex>`,
//!   stored as files under [`Nginx::data_dir`]; a missing object is 404; a `PUT` answers 201
//!   (new) or 204 (replaced). With [`NginxOptions::token`], a request without
//!   `Authorization: Bearer <token>` answers 401.
//! - [`Nginx::broken_url`] (`/broken`): every request answers 500.
//!
//! [`Nginx::access_log`] has one `METHOD URI STATUS` line per request (nginx writes it just
//! after the response, so poll for a line rather than read once). Dropping the value kills
//! the server.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long nginx may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(10);
/// Attempts at a free port (another process may take the one picked before nginx binds it).
const PORT_ATTEMPTS: usize = 5;

/// How to configure the server.
#[derive(Default, Clone)]
pub struct NginxOptions {
    /// Require `Authorization: Bearer <token>` on every request under [`Nginx::url`].
    pub token: Option<String>,
}

/// A running nginx; killed on drop.
pub struct Nginx {
    dir: TempDir,
    child: Option<Child>,
    port: u16,
}

/// The nginx executable: `/usr/sbin/nginx`, else `nginx` on `PATH`.
pub fn nginx_binary() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nginx");
    if sbin.is_file() {
        return sbin;
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("nginx"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nginx not found (neither /usr/sbin/nginx nor on PATH); the remote cache tests \
                 need it: `apt-get install nginx` (Debian's build has the WebDAV module)"
            )
        })
}

impl Nginx {
    /// A server without authentication.
    pub fn start() -> Nginx {
        Nginx::start_with(NginxOptions::default())
    }

    /// A server configured by `opts`, accepting connections on return.
    pub fn start_with(opts: NginxOptions) -> Nginx {
        let dir = tempfile::Builder::new()
            .prefix("flavor-nginx-")
            .tempdir()
            .expect("temp dir for nginx");
        for sub in ["data", "tmp"] {
            fs::create_dir_all(dir.path().join(sub)).expect("nginx directories");
        }
        let mut nginx = Nginx {
            dir,
            child: None,
            port: 0,
        };
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            nginx.port = free_port();
            match nginx.launch(&opts) {
                Ok(()) => return nginx,
                Err(log) => {
                    nginx.kill();
                    assert!(
                        log.contains("Address already in use"),
                        "nginx did not start on port {}:\n{log}",
                        nginx.port
                    );
                    last_log = log;
                }
            }
        }
        panic!("nginx found no free port in {PORT_ATTEMPTS} attempts:\n{last_log}")
    }

    /// Write the config for `self.port`, start nginx and wait until it accepts connections.
    /// On failure, the error log (and stderr) as the error.
    fn launch(&mut self, opts: &NginxOptions) -> Result<(), String> {
        let d = self.dir.path();
        let pid_file = d.join("nginx.pid");
        let error_log = d.join("error.log");
        for stale in [&pid_file, &error_log] {
            let _ = fs::remove_file(stale);
        }
        fs::write(d.join("nginx.conf"), config(d, self.port, opts)).expect("write nginx.conf");
        let stderr = fs::File::create(d.join("stderr.log")).expect("nginx stderr file");
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", nginx_binary().display()));
        let child = self.child.insert(child);
        let failure = || {
            let read = |name: &str| fs::read_to_string(d.join(name)).unwrap_or_default();
            format!("{}{}", read("error.log"), read("stderr.log"))
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("poll nginx") {
                return Err(format!("nginx exited early ({status}):\n{}", failure()));
            }
            let log = failure();
            // nginx retries a busy port for seconds; give up on it at once.
            if log.contains("Address already in use") {
                return Err(log);
            }
            // The pid file is written after the listening socket is bound, so a connection
            // accepted then is ours, not another process's on a reused port.
            if pid_file.exists()
                && TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
            {
                return Ok(());
            }
            if start.elapsed() > START_LIMIT {
                return Err(format!("nginx not accepting after {START_LIMIT:?}:\n{log}"));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// `http://127.0.0.1:<port>/cache`: the WebDAV store.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/cache", self.port)
    }

    /// `http://127.0.0.1:<port>/broken`: every request answers 500.
    pub fn broken_url(&self) -> String {
        format!("http://127.0.0.1:{}/broken", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where the objects of [`Nginx::url`] are stored: `<data>/ac/<hex>`, `<data>/cas/<hex>`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The files under `data_dir()/kind` (`"ac"` or `"cas"`), sorted; empty if none.
    pub fn objects(&self, kind: &str) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = match fs::read_dir(self.data_dir().join(kind)) {
            Ok(entries) => entries
                .map(|e| e.expect("read object directory").path())
                .filter(|p| p.is_file())
                .collect(),
            Err(_) => Vec::new(),
        };
        files.sort();
        files
    }

    /// SIGKILL the server and reap it; idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The access log so far: one `METHOD URI STATUS` line per request.
    pub fn access_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// The nginx.conf of a server in `dir` on `port`.
fn config(dir: &Path, port: u16, opts: &NginxOptions) -> String {
    let d = dir.display();
    let auth = match &opts.token {
        Some(token) => {
            assert!(
                !token.is_empty()
                    && token
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c)),
                "test token {token:?} must be a plain bearer token (no quotes, spaces or `$`)"
            );
            format!("if ($http_authorization != \"Bearer {token}\") {{ return 401; }}")
        }
        None => String::new(),
    };
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format flavor '$request_method $uri $status';
    access_log {d}/access.log flavor;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        location /cache/ {{
            alias {d}/data/;
            {auth}
            dav_methods PUT;
            create_full_put_path on;
            dav_access user:rw;
            client_max_body_size 0;
        }}
        location /broken {{
            return 500;
        }}
    }}
}}
"#
    )
}
