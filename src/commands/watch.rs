//! `flavor watch [NAME…] [--run [-- ARGS]]`: rebuild on every change, only what changed, and
//! keep going.
//!
//! File events come from `notify` through a debouncer (one rebuild for a burst of saves).
//! Events that arrive while a build runs are collected and cause exactly one follow-up
//! build, so the package always ends up matching the tree (the watch starts before the first
//! build). `.git/`, `.flavor/`, the packages' output paths and `dist/` directories, and what
//! the root's and members' `.gitignore` files ignore never trigger a build. A change to any
//! `flavor.toml` reloads the plan; a manifest that does not parse, or a failing step, is
//! reported and the watcher waits for the next change.

use crate::diagnostics::{report_failures, report_manifest_errors};
use crate::messages::{Counts, Event, Rebuild};
use crate::options::{BuildArgs, GlobalArgs};
use crate::progress::Progress;
use crate::session::Session;
use anyhow::Context;
use flavor_engine::Report;
use flavor_rules::plan::BuildPlan;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Packages or targets to watch (default as for `flavor build`).
    names: Vec<String>,
    /// After each successful build, (re)start the package with the arguments after `--`
    /// (with `--json`, its standard output goes to standard error).
    #[arg(long)]
    run: bool,
    #[command(flatten)]
    build: BuildArgs,
    /// One JSON event per line.
    #[arg(long)]
    json: bool,
    /// Debounce window in milliseconds.
    #[arg(long, default_value_t = 50)]
    debounce_ms: u64,
    /// Arguments for `--run`.
    #[arg(last = true)]
    args: Vec<String>,
    #[command(flatten)]
    remote: crate::remote::RemoteArgs,
    #[command(flatten)]
    exec: crate::remote::ExecArgs,
}

/// What decides whether a changed path matters.
struct Filter {
    root: PathBuf,
    outputs: Vec<PathBuf>,
    /// Every package's `dist/`.
    dists: Vec<PathBuf>,
    /// The root's and each member's `.gitignore`, each anchored at its own directory (a
    /// member's `/build/` means `<member>/build/`).
    ignores: Vec<ignore::gitignore::Gitignore>,
}

impl Filter {
    fn new(session: &Session, outputs: Vec<PathBuf>) -> Filter {
        let root = session.workspace.root.clone();
        let mut dirs = vec![root.clone()];
        dirs.extend(session.workspace.packages.iter().map(|m| m.dir.clone()));
        dirs.sort();
        dirs.dedup();
        let ignores = dirs
            .iter()
            .filter(|dir| dir.join(".gitignore").is_file())
            .filter_map(|dir| {
                let mut builder = ignore::gitignore::GitignoreBuilder::new(dir);
                let _ = builder.add(dir.join(".gitignore"));
                builder.build().ok()
            })
            .collect();
        Filter {
            root,
            outputs,
            dists: session
                .workspace
                .packages
                .iter()
                .map(|m| m.dir.join("dist"))
                .collect(),
            ignores,
        }
    }

    fn relevant(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return true;
        };
        if rel
            .components()
            .any(|c| c.as_os_str() == ".git" || c.as_os_str() == ".flavor")
        {
            return false;
        }
        if path.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.starts_with(".flavor-install-") || n.starts_with(".flavor-write-")
        }) {
            return false;
        }
        // An output, the directory the install creates for it, or what a package's `dist/`
        // holds (never collected into a package).
        if self
            .outputs
            .iter()
            .any(|o| path.starts_with(o) || (o.parent() == Some(path) && path != self.root))
            || self.dists.iter().any(|d| path.starts_with(d))
        {
            return false;
        }
        let is_dir = path.is_dir();
        !self.ignores.iter().any(|ignore| {
            path.starts_with(ignore.path())
                && ignore.matched_path_or_any_parents(path, is_dir).is_ignore()
        })
    }
}

struct Watcher {
    args: Args,
    start: PathBuf,
    progress: Progress,
    child: Option<Child>,
    last_ok: Option<PathBuf>,
}

impl Watcher {
    fn say(&self, line: &str) {
        self.progress.say(line);
    }

    /// One build; returns the filter for the next round (None when the manifest is broken).
    fn build(&mut self, changed: &[PathBuf]) -> Option<(Session, Filter)> {
        let began = Instant::now();
        let mut session = match Session::open(&self.start) {
            Ok(s) => s,
            Err(errors) => {
                report_manifest_errors(&errors, self.args.json);
                self.say("watching: fix the manifest and save to rebuild");
                return None;
            }
        };
        for p in changed {
            session.sources.forget(p);
        }
        let plan = match session.plan(&self.args.names, self.args.build.release) {
            Ok(p) => p,
            Err(e) => {
                self.say(&crate::style::error_line(&format!("{e:#}")));
                self.progress.json(&Event::PlanError {
                    message: format!("{e:#}"),
                });
                let filter = Filter::new(&session, Vec::new());
                return Some((session, filter));
            }
        };
        for w in &plan.warnings {
            self.progress.warn(w);
        }
        if let Err(e) = session.connect_remote(
            &self.args.exec.apply(self.args.remote.settings()),
            &self.progress,
        ) {
            self.progress
                .warn(&format!("{e:#}; building without the remote cache"));
        }
        let report = session.build(&plan, &self.args.build.settings(), &self.progress);
        session.finish_remote(&self.progress);
        let installed = self.install(&session, &plan, &report);
        let rebuild = Rebuild {
            ok: installed.is_some(),
            changed: changed
                .iter()
                .map(|p| relative(p, &session.workspace.root))
                .collect(),
            counts: Counts::of(&report),
            seconds: began.elapsed().as_secs_f64(),
            packages: installed.unwrap_or_default(),
        };
        let (ok, first) = (rebuild.ok, rebuild.packages.first().cloned());
        let line = rebuild_line(&rebuild, &session.workspace.root);
        self.progress.json(&Event::Rebuild(rebuild));
        self.say(&line);
        if ok {
            self.last_ok = first;
            if self.args.run {
                self.restart();
            }
        }
        let outputs = plan.outputs.iter().map(|o| o.path.clone()).collect();
        let filter = Filter::new(&session, outputs);
        Some((session, filter))
    }

    /// Writes the packages of a successful build; their paths, or `None` if the build or
    /// the install failed (said already).
    fn install(
        &self,
        session: &Session,
        plan: &BuildPlan,
        report: &Report,
    ) -> Option<Vec<PathBuf>> {
        if !report_failures(report, &self.progress) {
            return None;
        }
        match session.install(plan, report) {
            Ok(installed) => Some(installed.into_iter().map(|o| o.path).collect()),
            Err(e) => {
                self.say(&crate::style::error_line(&format!("{e:#}")));
                self.progress.json(&Event::InstallError {
                    message: format!("{e:#}"),
                });
                None
            }
        }
    }

    fn stop_child(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain kill(2) of our own child.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop_child();
        if let Some(pkg) = &self.last_ok {
            let mut command = Command::new(pkg);
            command.args(&self.args.args);
            if self.args.json {
                // Keep stdout for events, one JSON object per line.
                command.stdout(std::io::stderr());
            }
            match command.spawn() {
                Ok(child) => self.child = Some(child),
                Err(e) => self.say(&crate::style::error_line(&format!(
                    "cannot run {}: {e}",
                    pkg.display()
                ))),
            }
        }
    }
}

/// `path` relative to `root`, as text.
fn relative(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// `[src/main.rs] rebuilt: 2 ran, 7 cached in 0.31s → dist/hello.psp`
fn rebuild_line(rebuild: &Rebuild, root: &Path) -> String {
    let changed = &rebuild.changed;
    let what = match changed.len() {
        0 => "initial build".to_string(),
        1..=3 => changed.join(", "),
        n => format!("{n} files"),
    };
    let dest: Vec<String> = rebuild.packages.iter().map(|p| relative(p, root)).collect();
    format!(
        "[{what}] {}: {} ran, {} cached{} in {:.2}s{}",
        if rebuild.ok { "rebuilt" } else { "FAILED" },
        rebuild.counts.built,
        rebuild.counts.cached,
        match rebuild.counts.remote_hits {
            0 => String::new(),
            n => format!(" ({n} from the remote cache)"),
        },
        rebuild.seconds,
        if dest.is_empty() {
            String::new()
        } else {
            format!(" → {}", dest.join(", "))
        }
    )
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let start = global.start_dir()?;
    let mode = global.mode(args.json);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let (tx, rx) = mpsc::channel::<DebounceEventResult>();
    let debounce = Duration::from_millis(args.debounce_ms.max(1));
    let mut debouncer = new_debouncer(debounce, None, move |res| {
        let _ = tx.send(res);
    })
    .context("starting the file watcher")?;
    let mut watcher = Watcher {
        args,
        start: start.clone(),
        progress: Progress::new(mode, 0, global.verbose),
        child: None,
        last_ok: None,
    };
    // Watch before the first build, so a change made while it runs makes a follow-up build.
    let root = flavor_rules::workspace::load(&start)
        .map(|ws| ws.root)
        .ok()
        .or_else(|| {
            flavor_rules::workspace::find_manifest(&start)
                .and_then(|p| p.parent().map(Path::to_path_buf))
        })
        .unwrap_or(start);
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", root.display()))?;
    let mut state = watcher.build(&[]);
    watcher.say(&format!("watching {} (Ctrl-C to stop)", root.display()));
    watcher
        .progress
        .json(&Event::Watching { root: root.clone() });

    while !stop.load(Ordering::SeqCst) {
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(batch) => batch,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        // Everything that queued up (also during the last build) makes one build.
        let mut batches = vec![first];
        while let Ok(more) = rx.try_recv() {
            batches.push(more);
        }
        let mut changed = BTreeSet::new();
        for batch in batches {
            let Ok(events) = batch else { continue };
            for event in events {
                if event.kind.is_access() {
                    continue;
                }
                changed.extend(event.paths.iter().cloned());
            }
        }
        let relevant: Vec<PathBuf> = changed
            .into_iter()
            .filter(|p| match &state {
                Some((_, filter)) => filter.relevant(p),
                None => true,
            })
            .collect();
        if relevant.is_empty() {
            continue;
        }
        state = watcher.build(&relevant);
    }
    watcher.stop_child();
    watcher.say("stopped watching");
    watcher.progress.json(&Event::Stopped);
    Ok(ExitCode::SUCCESS)
}
