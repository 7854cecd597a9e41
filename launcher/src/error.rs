//! The launcher's own failures and the exit codes they map to (PSPF.md §7).
//!
//! 102 not a package / bad format, 103 extraction, 104 execution, 105 bad CLI-mode arguments,
//! 106 I/O, 107 integrity (checksum, signature, untrusted key).

use pspf::ErrorKind;
use std::fmt;

/// Exit codes of the launcher's own failures.
pub mod exit {
    pub const FORMAT: u8 = 102;
    pub const EXTRACT: u8 = 103;
    pub const EXEC: u8 = 104;
    pub const USAGE: u8 = 105;
    pub const IO: u8 = 106;
    pub const INTEGRITY: u8 = 107;
}

/// A failure with the exit code it maps to and one line for the user.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Failure {
        Failure::new(exit::IO, format!("{what}: {err}"))
    }

    pub fn extract(what: impl fmt::Display) -> Failure {
        Failure::new(exit::EXTRACT, what.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Exit code for a format-crate error kind.
pub fn code_for(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotAPackage
        | ErrorKind::UnsupportedVersion
        | ErrorKind::Malformed
        | ErrorKind::Metadata => exit::FORMAT,
        ErrorKind::UnknownOperation | ErrorKind::UnsafePath => exit::EXTRACT,
        ErrorKind::Io | ErrorKind::Key => exit::IO,
        k if k.is_integrity() => exit::INTEGRITY,
        _ => exit::EXTRACT,
    }
}

impl From<pspf::Error> for Failure {
    fn from(e: pspf::Error) -> Failure {
        Failure::new(code_for(e.kind()), e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

impl From<flavor_workenv::Error> for Failure {
    fn from(e: flavor_workenv::Error) -> Failure {
        let code = match e {
            flavor_workenv::Error::Outside { .. } => exit::EXTRACT,
            _ => exit::IO,
        };
        Failure::new(code, e.to_string())
    }
}
