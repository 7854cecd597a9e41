//! Standard output for every command. Reports and documents are written with [`outln!`] /
//! [`out!`], which fail with [`StdoutError::Closed`] when the reader went away
//! (`flavor inspect pkg | head -1`); `main` turns that into a quiet exit 0, as cargo and
//! ripgrep do, instead of the panic `println!` gives. Event streams ([`line()`]) stop writing
//! once the reader is gone and let the command finish its work.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Why something could not be written to standard output.
#[derive(Debug, thiserror::Error)]
pub enum StdoutError {
    /// The reader closed its end (a pipe into `head`, a pager that quit): not a failure.
    #[error("standard output was closed")]
    Closed,
    /// Any other write error (a full disk behind a redirection, …).
    #[error("cannot write to standard output: {0}")]
    Io(io::Error),
}

impl From<io::Error> for StdoutError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CLOSED.store(true, Ordering::Relaxed);
            StdoutError::Closed
        } else {
            StdoutError::Io(e)
        }
    }
}

/// Set once a write found the reader gone; later event lines are dropped.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes formatted text to standard output.
pub fn write(args: fmt::Arguments<'_>) -> Result<(), StdoutError> {
    let mut out = io::stdout().lock();
    out.write_fmt(args)?;
    Ok(())
}

/// Writes one line of an event stream; once the reader is gone, nothing more is written and
/// the command carries on (a build still finishes and writes its packages).
pub fn line(text: &str) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    let written = writeln!(out, "{text}").and_then(|()| out.flush());
    if let Err(e) = written {
        let _ = StdoutError::from(e);
    }
}

/// Whether `err` (from anywhere in a command) says only that standard output was closed.
pub fn closed(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StdoutError>(),
            Some(StdoutError::Closed)
        )
    })
}

/// `print!` that returns a [`StdoutError`] instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!($($arg)*))
    };
}

/// `println!` that returns a [`StdoutError`] instead of panicking.
macro_rules! outln {
    () => {
        $crate::stdout::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::stdout::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};
