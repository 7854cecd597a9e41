//! The shared remote build cache as the commands see it: the `--remote-cache…` flags
//! ([`RemoteArgs`], turned into plain [`RemoteSettings`]), where the configuration comes from
//! (flag, then environment, then `[cache]` in the root manifest), and the summary line.

use anyhow::bail;
use flavor_remote::{Remote, RemoteConfig};
use flavor_rules::manifest::CacheConfig;
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
