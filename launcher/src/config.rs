//! Settings the launcher reads from its environment (PSPF.md §7).

use std::env;
use std::ffi::OsString;
use std::path::PathBuf;

/// `FLAVOR_VALIDATION` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Validation {
    None,
    Minimal,
    Relaxed,
    Standard,
    Strict,
}

impl Validation {
    pub fn from_env() -> Validation {
        Validation::parse(&env::var("FLAVOR_VALIDATION").unwrap_or_default())
            .unwrap_or(Validation::Standard)
    }

    /// A level from its name (case-insensitive); `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Validation> {
        match name.to_ascii_lowercase().as_str() {
            "strict" => Some(Validation::Strict),
            "standard" => Some(Validation::Standard),
            "relaxed" => Some(Validation::Relaxed),
            "minimal" => Some(Validation::Minimal),
            "none" => Some(Validation::None),
            _ => None,
        }
    }

    /// Whether a failed check stops the launch.
    pub fn enforcing(self) -> bool {
        self >= Validation::Standard
    }

    pub fn name(self) -> &'static str {
        match self {
            Validation::None => "none",
            Validation::Minimal => "minimal",
            Validation::Relaxed => "relaxed",
            Validation::Standard => "standard",
            Validation::Strict => "strict",
        }
    }
}

/// Log verbosity (`FLAVOR_LAUNCHER_LOG_LEVEL`, then `FLAVOR_LOG_LEVEL`; default warn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    Info,
    Debug,
}

impl LogLevel {
    pub fn from_env() -> LogLevel {
        let v = env::var("FLAVOR_LAUNCHER_LOG_LEVEL")
            .or_else(|_| env::var("FLAVOR_LOG_LEVEL"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let v = v.strip_prefix("json:").unwrap_or(&v);
        match v {
            "off" | "none" => LogLevel::Off,
            "error" => LogLevel::Error,
            "info" => LogLevel::Info,
            "debug" | "trace" => LogLevel::Debug,
            _ => LogLevel::Warn,
        }
    }
}

fn truthy(name: &str) -> Option<bool> {
    let v = env::var(name).ok()?.to_ascii_lowercase();
    Some(matches!(v.as_str(), "1" | "true" | "yes" | "on"))
}

/// `FLAVOR_LAUNCHER_CLI=1|true` turns on CLI mode.
pub fn cli_mode() -> bool {
    truthy("FLAVOR_LAUNCHER_CLI").unwrap_or(false)
}

/// `FLAVOR_WORKENV_CACHE=0|false` forces re-extraction.
pub fn workenv_cache_enabled() -> bool {
    match env::var("FLAVOR_WORKENV_CACHE") {
        Ok(v) => !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        ),
        Err(_) => true,
    }
}

/// `FLAVOR_EXEC_MODE=spawn` runs the command as a child instead of replacing the launcher.
pub fn spawn_mode() -> bool {
    env::var("FLAVOR_EXEC_MODE").is_ok_and(|v| v.eq_ignore_ascii_case("spawn"))
}

fn non_empty(name: &str) -> Option<OsString> {
    env::var_os(name).filter(|v| !v.is_empty())
}

/// The cache root: `$FLAVOR_CACHE`, else the grandparent of `$FLAVOR_WORKENV`, else
/// `$XDG_CACHE_HOME/flavor`, else `$HOME/.cache/flavor`, else `<temp dir>/flavor`.
pub fn cache_root() -> PathBuf {
    if let Some(root) = non_empty("FLAVOR_CACHE") {
        return PathBuf::from(root);
    }
    if let Some(workenv) = non_empty("FLAVOR_WORKENV")
        && let Some(root) = PathBuf::from(workenv).parent().and_then(|p| p.parent())
        && !root.as_os_str().is_empty()
    {
        return root.to_path_buf();
    }
    if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("flavor");
    }
    if let Some(home) = non_empty("HOME") {
        return PathBuf::from(home).join(".cache").join("flavor");
    }
    env::temp_dir().join("flavor")
}

/// Where trusted public keys live: `$FLAVOR_TRUSTED_KEYS_DIR`, else
/// `$FLAVOR_CONFIG_DIR/trusted-keys`, else `$XDG_CONFIG_HOME/flavor/trusted-keys`, else
/// `~/.config/flavor/trusted-keys`.
pub fn trusted_keys_dir() -> Option<PathBuf> {
    if let Some(d) = non_empty("FLAVOR_TRUSTED_KEYS_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = non_empty("FLAVOR_CONFIG_DIR") {
        return Some(PathBuf::from(d).join("trusted-keys"));
    }
    if let Some(d) = non_empty("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(d).join("flavor").join("trusted-keys"));
    }
    non_empty("HOME").map(|h| PathBuf::from(h).join(".config/flavor/trusted-keys"))
}
