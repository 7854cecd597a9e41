//! The shared remote build cache and remote execution as the commands see them: the
//! `--remote-cache…` flags ([`RemoteArgs`]) and `--remote-execution` flags ([`ExecArgs`]),
//! turned into plain [`RemoteSettings`], where each configuration comes from (flag, then
//! environment, then `[cache]` / `[remote]` in the root manifest), and the summary lines.

use anyhow::bail;
use flavor_remote::{ExecConfig, Remote, RemoteConfig, RemoteExecution};
use flavor_rules::manifest::{CacheConfig, RemoteExecConfig};
use std::path::Path;
use std::time::Duration;

use crate::report::human_bytes;

/// What the command line says about the remote cache.
#[derive(Clone, Debug, Default)]
pub struct RemoteSettings {
    /// A URL that wins over the environment and the manifest.
    pub url: Option<String>,
    /// Never upload.
    pub read_only: bool,
    /// Use no remote cache at all.
    pub disabled: bool,
    /// A remote execution endpoint that wins over the environment and the manifest.
    pub execution: Option<String>,
    /// Run everything locally, even if the manifest or environment names a cluster.
    pub no_execution: bool,
}

/// Remote execution flags, shared by `build`, `run` and `watch`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ExecArgs {
    /// Run build steps on this Remote Execution API cluster (`grpc://host:port`,
    /// `grpcs://…`), overriding `[remote] execution` [env: FLAVOR_REMOTE_EXECUTION].
    #[arg(long, value_name = "URL")]
    pub remote_execution: Option<String>,
    /// Run every step locally, even if the manifest or environment names a cluster.
    #[arg(long, conflicts_with = "remote_execution")]
    pub no_remote_execution: bool,
}

impl ExecArgs {
    /// `settings` with these flags.
    pub fn apply(&self, mut settings: RemoteSettings) -> RemoteSettings {
        settings.execution.clone_from(&self.remote_execution);
        settings.no_execution = self.no_remote_execution;
        settings
    }
}

/// Remote cache flags, shared by `build`, `run`, `watch` and `cache push`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RemoteArgs {
    /// Use this shared cache (Bazel HTTP remote-cache protocol, e.g. bazel-remote or nginx
    /// with WebDAV), overriding `[cache] remote` [env: FLAVOR_REMOTE_CACHE].
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
    /// Look results up in the remote cache but never upload (for untrusted jobs)
    /// [env: FLAVOR_REMOTE_CACHE_READ_ONLY=1].
    #[arg(long)]
    pub remote_cache_read_only: bool,
    /// Do not use a remote cache, even if the manifest or environment names one.
    #[arg(long, conflicts_with_all = ["remote_cache", "remote_cache_read_only"])]
    pub no_remote_cache: bool,
}

impl RemoteArgs {
    /// The settings these flags give.
    pub fn settings(&self) -> RemoteSettings {
        RemoteSettings {
            url: self.remote_cache.clone(),
            read_only: self.remote_cache_read_only,
            disabled: self.no_remote_cache,
            ..RemoteSettings::default()
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_flag(name: &str) -> bool {
    env(name).is_some_and(|v| !matches!(v.trim(), "0" | "false" | "no" | "off"))
}

/// The remote cache to use, if any (keeping its SHA-256 index in `index_dir`), and notes to
/// show the user (a token variable that is not set). `Err` when a URL given on the command
/// line, in the environment or in the manifest is unusable.
pub fn open(
    settings: &RemoteSettings,
    manifest: Option<&CacheConfig>,
    index_dir: &Path,
) -> anyhow::Result<(Option<Remote>, Vec<String>)> {
    let mut notes = Vec::new();
    if settings.disabled {
        return Ok((None, notes));
    }
    let (url, origin) = match (&settings.url, env("FLAVOR_REMOTE_CACHE")) {
        (Some(url), _) => (url.clone(), "--remote-cache"),
        (None, Some(url)) => (url, "FLAVOR_REMOTE_CACHE"),
        (None, None) => match manifest.and_then(|c| c.remote.clone()) {
            Some(url) => (url, "cache.remote"),
            None => return Ok((None, notes)),
        },
    };
    let read_only = settings.read_only
        || env_flag("FLAVOR_REMOTE_CACHE_READ_ONLY")
        || manifest.is_some_and(|c| c.read_only);
    let token = match manifest.and_then(|c| c.token_env.as_deref()) {
        Some(name) => {
            let token = env(name);
            if token.is_none() {
                notes.push(format!(
                    "cache.token_env names `{name}`, which is not set: the remote cache gets \
                     no token"
                ));
            }
            token
        }
        None => None,
    };
    let timeout = match env("FLAVOR_REMOTE_CACHE_TIMEOUT") {
        Some(secs) => match secs.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => Duration::from_secs_f64(s),
            _ => bail!("FLAVOR_REMOTE_CACHE_TIMEOUT must be a number of seconds, not `{secs}`"),
        },
        None => RemoteConfig::new(&url, index_dir).timeout,
    };
    let config = RemoteConfig {
        url,
        read_only,
        token,
        timeout,
        index_dir: index_dir.to_path_buf(),
    };
    match Remote::open(&config) {
        Ok(cache) => Ok((Some(cache), notes)),
        Err(why) => bail!("{origin}: {why}"),
    }
}

/// One line for the build summary.
pub fn summary_line(cache: &Remote) -> String {
    let stats = cache.stats();
    let mut parts = vec![
        format!(
            "{} hit{}",
            stats.hits,
            if stats.hits == 1 { "" } else { "s" }
        ),
        format!(
            "{} miss{}",
            stats.misses,
            if stats.misses == 1 { "" } else { "es" }
        ),
    ];
    if stats.rejected > 0 {
        parts.push(format!("{} rejected", stats.rejected));
    }
    parts.push(format!("{} down", human_bytes(stats.downloaded_bytes)));
    if cache.read_only() {
        parts.push("read-only".into());
    } else {
        parts.push(format!(
            "{} up ({} result{})",
            human_bytes(stats.uploaded_bytes),
            stats.uploads,
            if stats.uploads == 1 { "" } else { "s" }
        ));
    }
    if stats.offline {
        parts.push("went offline".into());
    }
    format!("    remote {}: {}", cache.url(), parts.join(", "))
}

/// The remote execution cluster to use, if any, and notes for the user. `Err` when a URL
/// given on the command line, in the environment or in the manifest is unusable.
pub fn open_execution(
    settings: &RemoteSettings,
    manifest: Option<&RemoteExecConfig>,
) -> anyhow::Result<(Option<RemoteExecution>, Vec<String>)> {
    let mut notes = Vec::new();
    if settings.no_execution || env_flag("FLAVOR_NO_REMOTE_EXECUTION") {
        return Ok((None, notes));
    }
    let (url, origin) = match (&settings.execution, env("FLAVOR_REMOTE_EXECUTION")) {
        (Some(url), _) => (url.clone(), "--remote-execution"),
        (None, Some(url)) => (url, "FLAVOR_REMOTE_EXECUTION"),
        (None, None) => match manifest.and_then(|c| c.execution.clone()) {
            Some(url) => (url, "remote.execution"),
            None => return Ok((None, notes)),
        },
    };
    let mut config = ExecConfig::new(&url);
    if let Some(m) = manifest {
        config.instance.clone_from(&m.instance);
        config.platform.clone_from(&m.platform);
        if let Some(jobs) = m.jobs {
            config.jobs = jobs;
        }
        if let Some(secs) = m.timeout {
            config.timeout = Duration::from_secs(secs);
        }
        if let Some(name) = &m.token_env {
            config.token = env(name);
            if config.token.is_none() {
                notes.push(format!(
                    "remote.token_env names `{name}`, which is not set: the remote execution \
                     cluster gets no token"
                ));
            }
        }
    }
    if let Some(secs) = env("FLAVOR_REMOTE_EXECUTION_TIMEOUT") {
        match secs.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s.is_finite() => config.timeout = Duration::from_secs_f64(s),
            _ => bail!("FLAVOR_REMOTE_EXECUTION_TIMEOUT must be a number of seconds, not `{secs}`"),
        }
    }
    match RemoteExecution::open(&config) {
        Ok(exec) => Ok((Some(exec), notes)),
        Err(why) => bail!("{origin}: {why}"),
    }
}

/// One line for the build summary about remote execution.
pub fn execution_line(exec: &RemoteExecution) -> String {
    let s = exec.stats();
    let mut parts = vec![
        format!("{} ran remotely", s.executed),
        format!(
            "{} cache hit{}",
            s.cache_hits,
            if s.cache_hits == 1 { "" } else { "s" }
        ),
    ];
    if s.failed > 0 {
        parts.push(format!("{} failed", s.failed));
    }
    if s.fallbacks > 0 {
        parts.push(format!("{} ran locally instead", s.fallbacks));
    }
    parts.push(format!(
        "{} up, {} down",
        human_bytes(s.uploaded_bytes),
        human_bytes(s.downloaded_bytes)
    ));
    parts.push(format!(
        "{:.1}s waiting for workers",
        s.wait_millis as f64 / 1000.0
    ));
    if s.offline {
        parts.push("went offline".into());
    }
    format!("    remote execution {}: {}", exec.url(), parts.join(", "))
}
