//! Every `--json` message of `flavor`, as types: what `build`, `run`, `watch`, `graph`,
//! `list`, `launcher`, `cache`, `clean` and `init` print here, the package and key commands in
//! [`tools`], and `workenv` in [`workenv`]. The README's "JSON output" section documents them;
//! a field added or renamed here is a change of that contract.
//!
//! `build` and `watch` print an event stream — one [`Event`] object per line, tagged by its
//! `event` field — ending (for `build`) in a [`Event::Summary`]. The other commands print one
//! pretty-printed document.

mod tools;
mod workenv;

pub use tools::*;
pub use workenv::*;

use std::path::{Path, PathBuf};

use flavor_engine::{GcReport, Report, StoreStats};
use flavor_remote::{Remote, RemoteStats};
use pspf::Platform;
use serde::{Deserialize, Serialize, Serializer};

/// One line of the `--json` event stream.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An action starts running (a cache miss).
    Started {
        /// The action's id in the graph (`flavor graph --format json`).
        action: usize,
        /// What it does, e.g. `compress slot app (tar.zst)`.
        label: String,
        /// When it started: seconds since the Unix epoch (UTC), with milliseconds.
        started: f64,
    },
    /// A line a running build step printed, as it happens.
    Output {
        /// The action's id.
        action: usize,
        /// Its label.
        label: String,
        /// The line, without its line ending.
        line: String,
    },
    /// An action's outputs are ready: built, or found in a cache.
    Finished {
        /// The action's id.
        action: usize,
        /// Its label.
        label: String,
        /// True if it did not run (local or remote cache hit).
        cached: bool,
        /// True if its outputs came from the remote cache.
        remote: bool,
        /// True if it ran on the remote execution cluster (or the cluster's cache answered).
        remote_executed: bool,
        /// True if the remote execution cluster's cache answered for it.
        remote_cached: bool,
        /// Time taken.
        seconds: f64,
        /// Total size of its outputs.
        output_bytes: u64,
    },
    /// An action failed; its dependents are skipped.
    Failed {
        /// The action's id.
        action: usize,
        /// Its label.
        label: String,
        /// One line saying what went wrong.
        message: String,
        /// What it printed (a step's output), possibly empty.
        output: String,
    },
    /// An action did not run because one it depends on failed.
    Skipped {
        /// The action's id.
        action: usize,
        /// Its label.
        label: String,
        /// The failed action.
        because: usize,
    },
    /// Something worth telling that does not fail the build (the remote cache is
    /// unreachable, …).
    Warning {
        /// One line.
        message: String,
    },
    /// A manifest does not parse or check.
    ManifestError {
        /// The manifest.
        file: String,
        /// Every problem in it, one line each (with line and column).
        messages: Vec<String>,
    },
    /// The manifests check but cannot be planned (`watch`).
    PlanError {
        /// Why.
        message: String,
    },
    /// A package was built but could not be written to its output path (`watch`).
    InstallError {
        /// Why.
        message: String,
    },
    /// The last line of `flavor build --json`.
    Summary(Summary),
    /// One build of `flavor watch`.
    Rebuild(Rebuild),
    /// `flavor watch` is watching (after its first build).
    Watching {
        /// The directory watched.
        #[serde(serialize_with = "lossy")]
        root: PathBuf,
    },
    /// `flavor watch` stopped (Ctrl-C).
    Stopped,
}

impl Event {
    /// The event for a progress event of the engine.
    pub fn from_engine(event: &flavor_engine::Event) -> Option<Event> {
        use flavor_engine::Event as E;
        Some(match event {
            E::Started { id, label, at, .. } => Event::Started {
                action: id.0,
                label: label.clone(),
                started: unix_seconds(*at),
            },
            E::Output { id, label, line } => Event::Output {
                action: id.0,
                label: label.clone(),
                line: line.clone(),
            },
            E::Progress { .. } => return None,
            E::Finished {
                id,
                label,
                cached,
                remote,
                remote_exec,
                duration,
                output_bytes,
            } => Event::Finished {
                action: id.0,
                label: label.clone(),
                cached: *cached,
                remote: *remote,
                remote_executed: remote_exec.executed,
                remote_cached: remote_exec.cached,
                seconds: duration.as_secs_f64(),
                output_bytes: *output_bytes,
            },
            E::Failed { id, label, error } => Event::Failed {
                action: id.0,
                label: label.clone(),
                message: error.message.clone(),
                output: error.output.clone(),
            },
            E::Skipped { id, label, because } => Event::Skipped {
                action: id.0,
                label: label.clone(),
                because: because.0,
            },
            E::Warning { message } => Event::Warning {
                message: message.clone(),
            },
        })
    }
}

/// `at` as seconds since the Unix epoch, rounded to milliseconds.
fn unix_seconds(at: std::time::SystemTime) -> f64 {
    let ms = at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    ms as f64 / 1000.0
}

/// Counts of a build, shared by [`Summary`] and [`Rebuild`].
#[derive(Debug, Serialize)]
pub struct Counts {
    /// Actions that ran.
    pub built: usize,
    /// Actions whose outputs came from a cache (local or remote).
    pub cached: usize,
    /// Of those, how many came from the remote cache.
    pub remote_hits: usize,
    /// Actions that failed.
    pub failed: usize,
    /// Actions that ran on the remote execution cluster (or its cache answered for them).
    pub remote_executed: usize,
    /// Of those, how many the cluster's action cache answered.
    pub remote_cached: usize,
}

impl Counts {
    /// The counts of `report`.
    pub fn of(report: &Report) -> Counts {
        Counts {
            built: report.built(),
            cached: report.cached(),
            remote_hits: report.remote_hits(),
            failed: report.failed().len(),
            remote_executed: report.remote_executed(),
            remote_cached: report.remote_cached(),
        }
    }
}

/// The summary of `flavor build --json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// True if every action succeeded.
    pub ok: bool,
    /// What ran, what was cached, what failed.
    #[serde(flatten)]
    pub counts: Counts,
    /// Actions not run because one they depend on failed.
    pub skipped: usize,
    /// Wall time of the whole command.
    pub seconds: f64,
    /// The packages written (also on failure: those that depend on nothing that failed).
    pub packages: Vec<Installed>,
    /// What the remote cache did; `null` without one.
    pub remote: Option<RemoteSummary>,
    /// What remote execution did; `null` without a cluster.
    pub remote_execution: Option<ExecSummary>,
}

/// Remote execution's statistics, with where the cluster is.
#[derive(Debug, Serialize)]
pub struct ExecSummary {
    /// The cluster's URL.
    pub url: String,
    /// executed, cache_hits, failed, fallbacks, reuploads, uploaded_bytes,
    /// downloaded_bytes, wait_millis, offline.
    #[serde(flatten)]
    pub stats: flavor_remote::ExecStats,
}

impl ExecSummary {
    /// The summary of `exec` now.
    pub fn of(exec: &flavor_remote::RemoteExecution) -> ExecSummary {
        ExecSummary {
            url: exec.url().to_string(),
            stats: exec.stats(),
        }
    }
}

/// A package written to its output path.
#[derive(Debug, Serialize)]
pub struct Installed {
    /// The package name.
    pub package: String,
    /// The `[[target]]` name, if the package has targets.
    pub target: Option<String>,
    /// `debug` or `release`: which build it is (they are written to different files).
    pub profile: &'static str,
    /// The platform it is for (`linux-aarch64`).
    pub platform: Platform,
    /// The launcher in front of it.
    pub launcher: LauncherUsed,
    /// Where it was written.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
}

/// The launcher a package got, and why that one.
#[derive(Debug, Serialize)]
pub struct LauncherUsed {
    /// What it is: `flavor`, `upstream-rust`, `upstream-go` or `unknown`.
    pub kind: &'static str,
    /// Where it came from: `builtin`, `added` (`flavor launcher add`), `launcher key` or
    /// `--launcher`.
    pub source: &'static str,
    /// The binary.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
}

impl LauncherUsed {
    /// The record of a chosen launcher.
    pub fn of(chosen: &flavor_rules::launcher::Chosen) -> LauncherUsed {
        LauncherUsed {
            kind: chosen.identity.kind.name(),
            source: chosen.source.name(),
            path: chosen.path.clone(),
        }
    }
}

/// One build of `flavor watch --json`.
#[derive(Debug, Serialize)]
pub struct Rebuild {
    /// True if it succeeded and its packages were written.
    pub ok: bool,
    /// The changed paths (relative to the workspace root) that caused it; empty for the
    /// first build.
    pub changed: Vec<String>,
    /// What ran, what was cached, what failed.
    #[serde(flatten)]
    pub counts: Counts,
    /// Its wall time.
    pub seconds: f64,
    /// The package files written.
    #[serde(serialize_with = "lossy_all")]
    pub packages: Vec<PathBuf>,
}

/// The remote cache's statistics, with where it is.
#[derive(Debug, Serialize)]
pub struct RemoteSummary {
    /// Base URL.
    pub url: String,
    /// True if it is only read.
    pub read_only: bool,
    /// hits, misses, rejected, errors, downloaded_bytes, uploads, uploaded_bytes,
    /// upload_micros, offline.
    #[serde(flatten)]
    pub stats: RemoteStats,
}

impl RemoteSummary {
    /// The summary of `remote` now.
    pub fn of(remote: &Remote) -> RemoteSummary {
        RemoteSummary {
            url: remote.url().to_string(),
            read_only: remote.read_only(),
            stats: remote.stats(),
        }
    }
}

/// The record of the last build, kept in the build cache (`last-build.json`) and shown by
/// `flavor cache stats`.
#[derive(Debug, Serialize, Deserialize)]
pub struct LastBuild {
    /// When it finished (Unix seconds).
    pub finished_at: u64,
    /// True if every action succeeded.
    pub ok: bool,
    /// Actions it needed.
    pub actions: usize,
    /// Actions that ran.
    pub built: usize,
    /// Actions whose outputs came from a cache.
    pub cached: usize,
    /// Of those, from the remote cache.
    #[serde(default)]
    pub remote_hits: usize,
    /// Actions that failed.
    pub failed: usize,
    /// Actions skipped.
    pub skipped: usize,
    /// The engine's wall time.
    pub seconds: f64,
    /// `cached / (built + cached)`; `null` when nothing was built or cached.
    pub hit_rate: Option<f64>,
}

impl LastBuild {
    /// The record of `report`, finished at `finished_at`.
    pub fn of(report: &Report, finished_at: u64) -> LastBuild {
        let (built, cached) = (report.built(), report.cached());
        LastBuild {
            finished_at,
            ok: report.is_ok(),
            actions: report.actions.len(),
            built,
            cached,
            remote_hits: report.remote_hits(),
            failed: report.failed().len(),
            skipped: report.skipped(),
            seconds: report.duration.as_secs_f64(),
            hit_rate: (built + cached > 0).then(|| cached as f64 / (built + cached) as f64),
        }
    }
}

/// `flavor cache stats --json`.
#[derive(Debug, Serialize)]
pub struct CacheStats {
    /// The build cache directory.
    #[serde(serialize_with = "lossy")]
    pub dir: PathBuf,
    /// False if nothing was built with it yet.
    pub exists: bool,
    /// Cached action results (`entries`), blobs and their bytes.
    #[serde(flatten)]
    pub store: StoreStats,
    /// Launcher binaries kept for package actions.
    pub launchers: usize,
    /// Their size.
    pub launcher_bytes: u64,
    /// Everything in the directory, as allocated on disk.
    pub disk_bytes: u64,
    /// The last build's record; `null` if none.
    pub last_build: Option<LastBuild>,
}

/// `flavor cache gc --json`.
#[derive(Debug, Serialize)]
pub struct GcOutcome {
    /// The build cache directory.
    #[serde(serialize_with = "lossy")]
    pub dir: PathBuf,
    /// True if nothing was deleted, only counted.
    pub dry_run: bool,
    /// The `--max-size` in bytes (0: keep only what the manifests use).
    pub max_size: u64,
    /// Cached results the current manifests use (debug and release plans).
    pub used_by_manifests: u64,
    /// Cached results removed.
    pub removed_entries: u64,
    /// Blobs removed.
    pub removed_blobs: u64,
    /// Launcher binaries no plan uses any more, removed.
    pub removed_launchers: u64,
    /// Bytes of the blobs and launchers removed.
    pub freed: u64,
    /// Cached results kept.
    pub kept_entries: u64,
    /// Bytes of the blobs kept.
    pub kept_bytes: u64,
}

impl GcOutcome {
    /// The outcome of a sweep plus the launchers removed beside it.
    pub fn new(
        dir: PathBuf,
        options: &flavor_engine::GcOptions,
        sweep: &GcReport,
        launchers: (u64, u64),
    ) -> GcOutcome {
        GcOutcome {
            dir,
            dry_run: options.dry_run,
            max_size: options.max_size,
            used_by_manifests: sweep.live_entries,
            removed_entries: sweep.removed_entries,
            removed_blobs: sweep.removed_blobs,
            removed_launchers: launchers.0,
            freed: sweep.freed_bytes + launchers.1,
            kept_entries: sweep.kept_entries,
            kept_bytes: sweep.kept_bytes,
        }
    }
}

/// `flavor cache push --json`.
#[derive(Debug, Serialize)]
pub struct PushOutcome {
    /// True if every result was uploaded.
    pub ok: bool,
    /// Results the manifests use that the local cache holds.
    pub results: usize,
    /// What the remote cache did.
    pub remote: RemoteSummary,
}

/// `flavor clean --json`.
#[derive(Debug, Serialize)]
pub struct CleanOutcome {
    /// True if nothing was removed, only listed.
    pub dry_run: bool,
    /// Package files removed.
    pub removed: Vec<RemovedFile>,
    /// Files at output paths left alone, and why.
    pub skipped: Vec<SkippedFile>,
    /// The build cache directory.
    #[serde(serialize_with = "lossy")]
    pub cache: PathBuf,
    /// Its size on disk before cleaning.
    pub cache_bytes: u64,
}

/// A file `flavor clean` removed.
#[derive(Debug, Serialize)]
pub struct RemovedFile {
    /// The file.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

/// A file `flavor clean` left alone.
#[derive(Debug, Serialize)]
pub struct SkippedFile {
    /// The file.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// `flavor init --json`.
#[derive(Debug, Serialize)]
pub struct InitOutcome {
    /// The package name written into `flavor.toml`.
    pub package: String,
    /// The files created.
    #[serde(serialize_with = "lossy_all")]
    pub files: Vec<PathBuf>,
}

/// `flavor graph --format json`: the engine's graph (`nodes`, `edges`) and which action
/// makes which package.
#[derive(Debug, Serialize)]
pub struct GraphDocument {
    /// `nodes` and `edges`, as [`flavor_engine::Graph::to_json`] describes them.
    #[serde(flatten)]
    pub graph: serde_json::Value,
    /// The packages the plan writes.
    pub outputs: Vec<GraphOutput>,
}

/// A package of the plan and the action that makes it.
#[derive(Debug, Serialize)]
pub struct GraphOutput {
    /// The package name.
    pub package: String,
    /// The `[[target]]` name, if any.
    pub target: Option<String>,
    /// The platform it is for.
    pub platform: Platform,
    /// The launcher in front of it.
    pub launcher: LauncherUsed,
    /// The id of the action whose output is the package.
    pub action: usize,
    /// Where it is written.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
}

/// `flavor list --json`: the workspace's packages, their targets and outputs.
#[derive(Debug, Serialize)]
pub struct ListDocument {
    /// The workspace root.
    #[serde(serialize_with = "lossy")]
    pub root: PathBuf,
    /// Every package, in workspace order.
    pub packages: Vec<ListedPackage>,
}

/// A package in `flavor list --json`.
#[derive(Debug, Serialize)]
pub struct ListedPackage {
    /// `package.name`.
    pub name: String,
    /// `package.version`.
    pub version: String,
    /// Its manifest.
    #[serde(serialize_with = "lossy")]
    pub manifest: PathBuf,
    /// Its outputs: one per `[[target]]`, or one (`target: null`) without targets.
    pub targets: Vec<ListedTarget>,
    /// The steps that run once per target (the others run once for all targets).
    pub per_target_steps: Vec<String>,
}

/// One output of a package in `flavor list --json`.
#[derive(Debug, Serialize)]
pub struct ListedTarget {
    /// The `[[target]]` name; `null` for the one output of a package without targets.
    pub target: Option<String>,
    /// The platform.
    pub platform: Platform,
    /// Where the package is written.
    #[serde(serialize_with = "lossy")]
    pub output: PathBuf,
    /// The launcher a build would use; `null` when none can be (see `launcher_problem`).
    pub launcher: Option<LauncherUsed>,
    /// Why no launcher can be used, when none can.
    pub launcher_problem: Option<String>,
}

/// `flavor launcher list --json`.
#[derive(Debug, Serialize)]
pub struct LauncherList {
    /// The registry directory (`null` without a data directory).
    pub registry: Option<String>,
    /// Per platform, every launcher found.
    pub platforms: Vec<PlatformLaunchers>,
}

/// The launchers of one platform.
#[derive(Debug, Serialize)]
pub struct PlatformLaunchers {
    /// The platform.
    pub platform: Platform,
    /// Every launcher found for it, in the order a build prefers them.
    pub launchers: Vec<LauncherInfo>,
    /// The path of the one a build uses when a target asks for none; `null`: none.
    pub default: Option<String>,
}

/// One launcher binary.
#[derive(Debug, Serialize)]
pub struct LauncherInfo {
    /// `flavor`, `upstream-rust` or `upstream-go`.
    pub kind: &'static str,
    /// `builtin` or `added`.
    pub origin: &'static str,
    /// The binary.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it needs no shared library; `null` where that does not apply (macOS).
    #[serde(rename = "static")]
    pub is_static: Option<bool>,
    /// The codecs it decodes.
    pub codecs: Vec<&'static str>,
    /// Whether a build uses it when a target asks for no launcher.
    pub default: bool,
}

/// Paths are shown as text (lossily for names that are not UTF-8).
fn lossy<S: Serializer>(path: &Path, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&path.to_string_lossy())
}

fn lossy_opt<S: Serializer>(path: &Option<PathBuf>, serializer: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(p) => lossy(p, serializer),
        None => serializer.serialize_none(),
    }
}

fn lossy_all<S: Serializer>(paths: &[PathBuf], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
}

/// Prints one event as a line of JSON on standard output (nothing once its reader is gone).
pub fn print_line<T: Serialize>(message: &T) {
    if let Ok(line) = serde_json::to_string(message) {
        crate::stdout::line(&line);
    }
}

/// Prints a document as pretty JSON on standard output.
pub fn print_document<T: Serialize>(message: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(message)?;
    crate::stdout::outln!("{text}")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_tagged_and_summaries_flat() {
        let warning = serde_json::to_value(Event::Warning {
            message: "m".into(),
        })
        .unwrap();
        assert_eq!(warning, json!({"event": "warning", "message": "m"}));
        assert_eq!(
            serde_json::to_value(Event::Stopped).unwrap(),
            json!({"event": "stopped"})
        );
        let summary = serde_json::to_value(Event::Summary(Summary {
            ok: true,
            counts: Counts {
                built: 1,
                cached: 2,
                remote_hits: 0,
                failed: 0,
                remote_executed: 0,
                remote_cached: 0,
            },
            skipped: 0,
            seconds: 0.5,
            packages: vec![],
            remote: None,
            remote_execution: None,
        }))
        .unwrap();
        assert_eq!(
            summary,
            json!({"event": "summary", "ok": true, "built": 1, "cached": 2, "remote_hits": 0,
                   "failed": 0, "remote_executed": 0, "remote_cached": 0, "skipped": 0,
                   "seconds": 0.5, "packages": [], "remote": null, "remote_execution": null})
        );
    }
}
