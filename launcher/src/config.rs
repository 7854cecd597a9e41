//! Settings the launcher reads from its environment (PSPF.md §7).

use std::env;

pub use flavor_workenv::Validation;
pub use flavor_workenv::dirs::{cache_root, trusted_keys_dir};

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
