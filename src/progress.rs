//! Build progress: a bar on a terminal, one JSON event per line with `--json`, nothing with
//! `-q`.

use flavor_engine::Event;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// How to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Quiet,
    Human,
    Json,
}

pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
    verbose: bool,
    out: Mutex<()>,
}

impl Progress {
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

    /// Print one JSON line (with `--json`).
    pub fn json(&self, value: serde_json::Value) {
        if self.mode == Mode::Json {
            let _guard = self.out.lock();
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{value}");
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
            Mode::Json => self.json(json!({"event": "warning", "message": message})),
            Mode::Human => self.say(&format!("warning: {message}")),
            Mode::Quiet => eprintln!("warning: {message}"),
        }
    }

    pub fn event(&self, event: Event) {
        match &event {
            Event::Started { id, label } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(label.clone());
                }
                self.json(json!({"event": "started", "action": id.0, "label": label}));
            }
            Event::Finished {
                id,
                label,
                cached,
                remote,
                duration,
                output_bytes,
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
                self.json(json!({
                    "event": "finished", "action": id.0, "label": label, "cached": cached,
                    "remote": remote,
                    "seconds": duration.as_secs_f64(), "output_bytes": output_bytes,
                }));
            }
            Event::Failed { id, label, error } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.json(json!({
                    "event": "failed", "action": id.0, "label": label,
                    "message": error.message, "output": error.output,
                }));
            }
            Event::Warning { message } => self.warn(message),
            Event::Skipped { id, label, because } => {
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.json(json!({"event": "skipped", "action": id.0, "label": label, "because": because.0}));
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
