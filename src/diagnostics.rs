//! Telling the user what went wrong, once for every command: manifest errors (miette for
//! humans, `manifest_error` events with `--json`), failed actions, and [`Reported`] — an error
//! already shown, after which `main` only sets the exit code.

use std::path::Path;

use flavor_engine::{Report, Status};
use flavor_rules::ManifestErrors;
use flavor_rules::workspace::Workspace;

use crate::messages::{self, print_line};
use crate::progress::Progress;
use crate::session::Session;

/// An error whose details were already printed: `main` exits with 1 and prints at most the
/// context added on top of it.
#[derive(Debug, thiserror::Error)]
#[error("see the errors above")]
pub struct Reported;

/// Prints manifest diagnostics: with miette (fancy on a terminal), or as `manifest_error`
/// events with `json`.
pub fn report_manifest_errors(errors: &[ManifestErrors], json: bool) {
    for e in errors {
        if json {
            print_line(&messages::Event::ManifestError {
                file: e.file.clone(),
                messages: e.messages(),
            });
        } else {
            for inner in &e.errors {
                eprintln!("{:?}", miette::Report::new(inner.clone()));
            }
        }
    }
}

/// Loads the workspace around `start`; if the manifests have errors, prints them and fails
/// with [`Reported`].
pub fn load_workspace(start: &Path, json: bool) -> anyhow::Result<Workspace> {
    flavor_rules::workspace::load(start).map_err(|errors| {
        report_manifest_errors(&errors, json);
        anyhow::Error::new(Reported)
    })
}

/// Opens the session of the workspace around `start`; if the manifests have errors, prints
/// them and fails with [`Reported`].
pub fn open_session(start: &Path, json: bool) -> anyhow::Result<Session> {
    let mut session = Session::open(start).map_err(|errors| {
        report_manifest_errors(&errors, json);
        anyhow::Error::new(Reported)
    })?;
    session.json = json;
    Ok(session)
}

/// Prints the failures of a report for humans; true if the build succeeded.
pub fn report_failures(report: &Report, progress: &Progress) -> bool {
    for failed in report.failed() {
        if let Status::Failed(err) = &failed.status {
            progress.say(&format!("error: {} failed: {}", failed.label, err.message));
            let output = err.output.trim();
            if !output.is_empty() {
                for line in output.lines() {
                    progress.say(&format!("  | {line}"));
                }
            }
        }
    }
    report.is_ok()
}
