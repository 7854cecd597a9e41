//! Build progress: a bar on a terminal, one JSON event per line with `--json`
//! ([`messages::Event`]), nothing with `-q`.

use crate::messages::{self, print_line};
use flavor_engine::Event;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;

/// How to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Human,
    Json,
}

/// Where a command's progress and messages go.
pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    verbose: bool,
    out: Mutex<()>,
}

impl Progress {
    /// Progress of a build of `total` actions (0 when unknown); `verbose` names every action
    /// that runs.
    pub fn new(mode: Mode, total: usize, verbose: bool) -> Progress {
        let bar = (mode == Mode::Human && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            mode,
            bar,
            verbose,
            out: Mutex::new(()),
        }
    }

    /// Print one JSON event line (with `--json`).
    pub fn json(&self, event: &messages::Event) {
        if self.mode == Mode::Json {
            let _guard = self.out.lock();
            print_line(event);
        }
    }

    /// A line for humans (stderr), kept clear of the bar.
    pub fn say(&self, line: &str) {
        if self.mode != Mode::Human {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// A warning: on stderr for humans (even with `-q`), a `warning` event with `--json`.
    pub fn warn(&self, message: &str) {
        match self.mode {
            Mode::Json => self.json(&messages::Event::Warning {
                message: message.to_string(),
            }),
            Mode::Human => self.say(&format!("warning: {message}")),
            Mode::Quiet => eprintln!("warning: {message}"),
        }
    }

    /// Shows an event of the engine.
    pub fn event(&self, event: &Event) {
        match event {
            Event::Started { label, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(label.clone());
                }
            }
            Event::Finished {
                label,
                cached,
                remote,
                duration,
                ..
            } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                if self.verbose && (!cached || *remote) {
                    self.say(&format!(
                        "   {} {label} ({:.2}s)",
                        if *remote { "fetched" } else { "built" },
                        duration.as_secs_f64()
                    ));
                }
            }
            Event::Failed { .. } | Event::Skipped { .. } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
            }
            Event::Output { .. } if !self.verbose => return,
            Event::Output { label, line, .. } => self.say(&format!("   [{label}] {line}")),
            Event::Progress { .. } => {}
            Event::Warning { message } => return self.warn(message),
        }
        if let Some(event) = messages::Event::from_engine(event) {
            self.json(&event);
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
