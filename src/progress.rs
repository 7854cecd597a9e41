//! Build progress: a bar on a terminal, one JSON event per line with `--json`
//! ([`messages::Event`]), nothing with `-q`.

use crate::messages::{self, print_line};
use flavor_engine::Event;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    running: Arc<Mutex<Running>>,
    ticker: Mutex<Option<Ticker>>,
}

/// Actions running now, in start order: label, when it started, its last line of output or
/// progress.
#[derive(Default)]
struct Running(BTreeMap<usize, (String, Instant, String)>);

impl Running {
    /// One line: each running action with its elapsed time and last output.
    fn summary(&self) -> String {
        let parts: Vec<String> = self
            .0
            .values()
            .take(3)
            .map(|(label, since, last)| {
                let secs = since.elapsed().as_secs();
                match last.is_empty() {
                    true => format!("{label} ({secs}s)"),
                    false => format!("{label} ({secs}s): {last}"),
                }
            })
            .collect();
        let more = self.0.len().saturating_sub(3);
        match more {
            0 => parts.join(" · "),
            n => format!("{} · +{n} more", parts.join(" · ")),
        }
    }
}

/// The thread that refreshes the bar every second (or, without a terminal, prints what is
/// still running every [`HEARTBEAT`]).
struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

/// How often a build without a terminal says what is still running.
const HEARTBEAT: Duration = Duration::from_secs(30);

impl Progress {
    /// Progress of a build of `total` actions (0 when unknown); `verbose` names every action
    /// that runs and prints build steps' output as it comes.
    pub fn new(mode: Mode, total: usize, verbose: bool) -> Progress {
        let bar = (mode == Mode::Human && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let running = Arc::new(Mutex::new(Running::default()));
        let ticker = (mode == Mode::Human).then(|| start_ticker(bar.clone(), Arc::clone(&running)));
        Progress {
            mode,
            bar,
            verbose,
            out: Mutex::new(()),
            running,
            ticker: Mutex::new(ticker),
        }
    }

    fn update_running(&self, change: impl FnOnce(&mut Running)) {
        let Ok(mut running) = self.running.lock() else {
            return;
        };
        change(&mut running);
        if let Some(bar) = &self.bar {
            bar.set_message(running.summary());
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

    /// A line about a problem (a failed action and its output): shown to humans even with
    /// `-q`; nothing with `--json` (which has its own events for it).
    pub fn problem(&self, line: &str) {
        match self.mode {
            Mode::Human => self.say(line),
            Mode::Quiet => eprintln!("{line}"),
            Mode::Json => {}
        }
    }

    /// A warning: on stderr for humans (even with `-q`), a `warning` event with `--json`.
    pub fn warn(&self, message: &str) {
        match self.mode {
            Mode::Json => self.json(&messages::Event::Warning {
                message: message.to_string(),
            }),
            Mode::Human => self.say(&crate::style::warning_line(message)),
            Mode::Quiet => crate::style::warning(message),
        }
    }

    /// Shows an event of the engine.
    pub fn event(&self, event: &Event) {
        match event {
            Event::Started {
                id, kind, label, ..
            } => {
                let label = label.clone();
                self.update_running(|r| {
                    r.0.insert(id.0, (label, Instant::now(), String::new()));
                });
                if self.bar.is_none() && (*kind == "step" || self.verbose) {
                    self.say(&format!("   started {}", label_of(event)));
                }
            }
            Event::Output { id, label, line } => {
                let warning = line.starts_with("warning: ");
                let line = line.clone();
                self.update_running(|r| {
                    if let Some(entry) = r.0.get_mut(&id.0) {
                        entry.2 = line;
                    }
                });
                // An action's own warnings (a `[python]` audit's) show without --verbose.
                if self.verbose || warning {
                    self.say(&format!("   [{label}] {}", event_line(event)));
                }
            }
            Event::Progress {
                id, done, total, ..
            } => {
                let text = format!("{} of {}", bytes(*done), bytes(*total));
                self.update_running(|r| {
                    if let Some(entry) = r.0.get_mut(&id.0) {
                        entry.2 = text;
                    }
                });
            }
            Event::Finished {
                id,
                label,
                cached,
                remote,
                duration,
                ..
            } => {
                self.update_running(|r| {
                    r.0.remove(&id.0);
                });
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
            Event::Failed { id, .. } | Event::Skipped { id, .. } => {
                self.update_running(|r| {
                    r.0.remove(&id.0);
                });
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
            }
            Event::Warning { message } => return self.warn(message),
        }
        if let Some(event) = messages::Event::from_engine(event) {
            self.json(&event);
        }
    }

    /// Stops the ticker and clears the bar.
    pub fn finish(&self) {
        if let Some(ticker) = self.ticker.lock().ok().and_then(|mut t| t.take()) {
            let (stopped, wake) = &*ticker.stop;
            if let Ok(mut s) = stopped.lock() {
                *s = true;
            }
            wake.notify_all();
            let _ = ticker.thread.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Refreshes the bar every second; without a bar, says every [`HEARTBEAT`] what is still
/// running (so a CI log shows a slow step is alive).
fn start_ticker(bar: Option<ProgressBar>, running: Arc<Mutex<Running>>) -> Ticker {
    let stop = Arc::new((Mutex::new(false), Condvar::new()));
    let stopping = Arc::clone(&stop);
    let every = if bar.is_some() {
        Duration::from_secs(1)
    } else {
        HEARTBEAT
    };
    let thread = std::thread::spawn(move || {
        let (stopped, wake) = &*stopping;
        let Ok(mut guard) = stopped.lock() else {
            return;
        };
        loop {
            guard = match wake.wait_timeout(guard, every) {
                Ok((g, _)) => g,
                Err(_) => return,
            };
            if *guard {
                return;
            }
            let Ok(now) = running.lock() else {
                return;
            };
            match &bar {
                Some(bar) => bar.set_message(now.summary()),
                None if !now.0.is_empty() => eprintln!("   still running: {}", now.summary()),
                None => {}
            }
        }
    });
    Ticker { stop, thread }
}

fn label_of(event: &Event) -> &str {
    match event {
        Event::Started { label, .. } => label,
        _ => "",
    }
}

fn event_line(event: &Event) -> &str {
    match event {
        Event::Output { line, .. } => line,
        _ => "",
    }
}

/// A byte count for people (`12.3 MB`).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{n} B"),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}
