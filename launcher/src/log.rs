//! Minimal leveled logging to stderr: a healthy launch prints nothing.

use crate::config::LogLevel;
use std::sync::OnceLock;

static LEVEL: OnceLock<LogLevel> = OnceLock::new();

pub fn level() -> LogLevel {
    *LEVEL.get_or_init(LogLevel::from_env)
}

pub fn enabled(at: LogLevel) -> bool {
    at <= level() && level() != LogLevel::Off
}

macro_rules! log_warn {
    ($($t:tt)*) => {
        if $crate::log::enabled($crate::config::LogLevel::Warn) {
            eprintln!("flavor: warning: {}", format_args!($($t)*));
        }
    };
}
macro_rules! log_debug {
    ($($t:tt)*) => {
        if $crate::log::enabled($crate::config::LogLevel::Debug) {
            eprintln!("flavor: debug: {}", format_args!($($t)*));
        }
    };
}
pub(crate) use {log_debug, log_warn};
