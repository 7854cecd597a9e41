//! uv, the build-time tool of `[python]` packages: it builds the project's wheel and installs
//! the locked wheels, offline, into the staged `site` tree. It is found once per build
//! (`FLAVOR_UV`, else `uv` on `PATH`) and its version enters the keys of the actions that
//! run it. Packages never ship uv.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The uv a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UvTool {
    /// The executable.
    pub path: PathBuf,
    /// `0.13.9`.
    pub version: String,
}

/// Variables passed to uv from the build's environment when set: where its cache is, which
/// index and proxy `uv build` reaches for build backends, and TLS roots. Nothing else of the
/// environment reaches it.
pub const UV_PASS_ENV: [&str; 18] = [
    "HOME",
    "UV_PYTHON_INSTALL_DIR",
    "UV_PYTHON_INSTALL_MIRROR",
    "UV_PYTHON_DOWNLOADS_JSON_URL",
    "UV_CACHE_DIR",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "XDG_CACHE_HOME",
];

impl UvTool {
    /// `FLAVOR_UV`, else the first `uv` on `PATH` of `env`, with its version.
    pub fn find(env: &BTreeMap<String, String>) -> Result<UvTool, String> {
        let path = match env.get("FLAVOR_UV").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => env
                .get("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(p).collect::<Vec<_>>())
                .map(|dir| dir.join("uv"))
                .find(|p| is_executable(p))
                .ok_or_else(|| {
                    "uv is not on PATH: [python] packages are built with uv (install it with \
                     `pip install uv` or see https://docs.astral.sh/uv/), or set FLAVOR_UV to \
                     its path"
                        .to_string()
                })?,
        };
        let out = Command::new(&path)
            .arg("--version")
            .output()
            .map_err(|e| format!("{}: {e} (FLAVOR_UV or PATH names it)", path.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = text
            .split_whitespace()
            .nth(1)
            .filter(|_| out.status.success() && text.starts_with("uv "))
            .ok_or_else(|| {
                format!(
                    "{}: `--version` printed {:?}, not `uv <version>`",
                    path.display(),
                    text.trim()
                )
            })?;
        Ok(UvTool {
            path,
            version: version.to_string(),
        })
    }

    /// A `uv` command with a clean environment: [`UV_PASS_ENV`] from this process, a minimal
    /// `PATH`, no configuration files, no Python downloads, the system's TLS roots, and
    /// `SOURCE_DATE_EPOCH`.
    pub fn command(&self, timestamp: u64) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env_clear();
        for var in UV_PASS_ENV {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.env("PATH", "/usr/bin:/bin")
            .env("UV_NO_CONFIG", "1")
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_NO_PROGRESS", "1")
            // The system's trust store, as flavor's own downloads use (and its proxy roots).
            .env("UV_SYSTEM_CERTS", "1")
            .env("UV_NATIVE_TLS", "1")
            .env("SOURCE_DATE_EPOCH", timestamp.max(315_532_800).to_string())
            .env("PYTHONHASHSEED", "0")
            .env("LC_ALL", "C.UTF-8");
        cmd
    }
}

impl UvTool {
    /// The root (holding `bin/python3`) of the uv-managed CPython `request` asks for
    /// (`3.12`), installed with `uv python install` first when uv has none — which downloads
    /// python-build-standalone's build (`UV_PYTHON_INSTALL_MIRROR` names a mirror,
    /// `UV_PYTHON_INSTALL_DIR` where installs live). Nothing is put on the user's `PATH`.
    pub fn managed_python(&self, request: &str) -> Result<PathBuf, String> {
        if let Ok(root) = self.find_managed(request) {
            return Ok(root);
        }
        let out = self
            .command(0)
            .args(["python", "install", "--no-bin", "--no-config", request])
            .env_remove("UV_PYTHON_DOWNLOADS")
            .output()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        if !out.status.success() {
            return Err(format!(
                "`uv python install {request}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        self.find_managed(request)
    }

    fn find_managed(&self, request: &str) -> Result<PathBuf, String> {
        let out = self
            .command(0)
            .args(["python", "find", "--managed-python", "--no-config", request])
            .output()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let found = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || found.is_empty() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        // `…/cpython-3.12-linux-x86_64-gnu/bin/python3.12`: a link to the full version's
        // directory, followed so the install's files are read where they are.
        let exe = std::fs::canonicalize(&found).map_err(|e| format!("{found}: {e}"))?;
        exe.parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .ok_or_else(|| format!("{found}: not <root>/bin/python3.N"))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
