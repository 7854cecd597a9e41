//! `flavor build [PACKAGE|TARGET…]`: plan the workspace, run the engine, install packages.
//!
//! Also home of [`Session`], the shared "load the workspace, plan, build" path that `run`,
//! `graph` and `watch` use.

use crate::progress::{Mode, Progress};
use crate::remote::RemoteArgs;
use anyhow::{Context, bail};
use flavor_engine::{BuildOptions, LocalStore, RemoteCache, Report, SourceDigests, Store};
use flavor_rules::plan::{BuildPlan, PlanOptions, PlannedOutput, plan};
use flavor_rules::workspace::{Workspace, load};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args, Clone, Default)]
pub struct Args {
    /// Packages or targets to build (default: the package of the current directory, or every
    /// package of the workspace at its root).
    pub names: Vec<String>,
    /// Release build: zstd level 19 unless a slot sets `level`.
    #[arg(long)]
    pub release: bool,
    /// Ignore the build cache and run every action.
    #[arg(long)]
    pub force: bool,
    /// Parallel jobs (default: the number of CPUs).
    #[arg(short, long, default_value_t = 0)]
    pub jobs: usize,
    /// Print one JSON event per line.
    #[arg(long)]
    pub json: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// Print every action that runs.
    #[arg(short, long)]
    pub verbose: bool,
    /// Use this flavor.toml (or directory) instead of searching upwards.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// The build cache of the workspace rooted at `root`: `$FLAVOR_BUILD_CACHE`, else
/// `<root>/.flavor/cache`.
pub fn build_cache_dir(root: &Path) -> PathBuf {
    std::env::var_os("FLAVOR_BUILD_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".flavor").join("cache"))
}

/// A loaded workspace with its cache, ready to plan and build.
pub struct Session {
    pub workspace: Workspace,
    pub cache_dir: PathBuf,
    pub store: LocalStore,
    pub sources: SourceDigests,
    /// The shared remote cache, once [`Session::connect_remote`] found one configured.
    pub remote: Option<Arc<RemoteCache>>,
}

/// Print manifest diagnostics with miette (fancy on a terminal).
pub fn report_manifest_errors(errors: &[flavor_rules::ManifestErrors], json: bool) {
    for e in errors {
        if json {
            println!(
                "{}",
                json!({"event": "manifest_error", "file": e.file, "messages": e.messages()})
            );
        } else {
            for inner in &e.errors {
                eprintln!("{:?}", miette::Report::new(inner.clone()));
            }
        }
    }
}

impl Session {
    pub fn open(start: &Path) -> Result<Session, Vec<flavor_rules::ManifestErrors>> {
        let workspace = load(start)?;
        let cache_dir = build_cache_dir(&workspace.root);
        let store = LocalStore::open(&cache_dir).map_err(|e| {
            vec![flavor_rules::ManifestErrors::new(
                &cache_dir.display().to_string(),
                "",
                vec![flavor_rules::Problem::new(
                    format!("cannot open the build cache: {e}"),
                    None,
                )],
            )]
        })?;
        let sources = SourceDigests::load(&cache_dir.join("sources.json"));
        Ok(Session {
            workspace,
            cache_dir,
            store,
            sources,
            remote: None,
        })
    }

    /// Sets up the remote cache the flags, the environment or the root manifest name (in
    /// that order); says what the user should know about it through `progress`.
    pub fn connect_remote(&mut self, args: &RemoteArgs, progress: &Progress) -> anyhow::Result<()> {
        let (remote, notes) =
            crate::remote::open(args, self.workspace.root_manifest.cache.as_ref())?;
        for note in notes {
            progress.warn(&note);
        }
        self.remote = remote.map(Arc::new);
        Ok(())
    }

    /// Waits for the remote cache's background uploads (saying so if there are any left),
    /// then shows its pending warning.
    pub fn finish_remote(&self, progress: &Progress) {
        let Some(remote) = &self.remote else {
            return;
        };
        let pending = remote.pending_uploads();
        if pending > 0 {
            progress.say(&format!(
                "   uploading {pending} result{} to the remote cache…",
                if pending == 1 { "" } else { "s" }
            ));
        }
        remote.wait_for_uploads();
        for warning in remote.take_warnings() {
            progress.warn(&warning);
        }
    }

    /// The manifests selected by `names` (package names or target names).
    pub fn select(&self, names: &[String]) -> anyhow::Result<Vec<&flavor_rules::Manifest>> {
        let ws = &self.workspace;
        if names.is_empty() {
            if let Some(current) = &ws.current {
                return Ok(ws.packages.iter().filter(|m| &m.path == current).collect());
            }
            return Ok(ws.packages.iter().collect());
        }
        let mut out = Vec::new();
        for name in names {
            let found: Vec<_> = ws
                .packages
                .iter()
                .filter(|m| {
                    m.package.as_ref().is_some_and(|p| {
                        p.name.value == *name || p.targets.iter().any(|t| t.name.value == *name)
                    })
                })
                .collect();
            if found.is_empty() {
                let known: Vec<String> = ws
                    .packages
                    .iter()
                    .filter_map(|m| m.package.as_ref().map(|p| p.name.value.clone()))
                    .collect();
                bail!(
                    "no package or target named `{name}` (packages: {})",
                    known.join(", ")
                );
            }
            for m in found {
                if !out
                    .iter()
                    .any(|o: &&flavor_rules::Manifest| o.path == m.path)
                {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// The plan of a build of `names` (creating the per-user signing key if a package
    /// needs it and it does not exist yet).
    pub fn plan(&self, names: &[String], release: bool) -> anyhow::Result<BuildPlan> {
        self.plan_with(names, release, true)
    }

    /// The plan for a command that only looks at it: no key is created (a throwaway one
    /// stands in for a missing per-user key).
    pub fn plan_only(&self, names: &[String], release: bool) -> anyhow::Result<BuildPlan> {
        self.plan_with(names, release, false)
    }

    fn plan_with(
        &self,
        names: &[String],
        release: bool,
        create_user_key: bool,
    ) -> anyhow::Result<BuildPlan> {
        let selected = self.select(names)?;
        let launcher = crate::builtin_launcher::materialise(&self.cache_dir.join("launchers"))?;
        let timestamp = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let opts = PlanOptions {
            release,
            timestamp,
            builtin_launcher: launcher,
            env: std::env::vars().collect::<BTreeMap<_, _>>(),
            create_user_key,
        };
        let mut plan = plan(&selected, &self.workspace.root, &opts)?;
        // Only outputs of the named targets when a target (not a package) was named.
        if !names.is_empty() {
            let by_target: Vec<&String> = names
                .iter()
                .filter(|n| plan.outputs.iter().any(|o| o.target.as_ref() == Some(*n)))
                .collect();
            if !by_target.is_empty() {
                plan.outputs.retain(|o| {
                    o.target.as_ref().is_some_and(|t| by_target.contains(&t))
                        || names.contains(&o.package)
                });
            }
        }
        Ok(plan)
    }

    /// Run the engine for `plan`'s outputs and install them.
    pub fn build(&self, plan: &BuildPlan, args: &Args, progress: &Progress) -> Report {
        let options = BuildOptions {
            jobs: args.jobs,
            targets: Some(plan.outputs.iter().map(|o| o.action).collect()),
            force: args.force,
            remote: self.remote.clone(),
        };
        let report =
            flavor_engine::build(&plan.graph, &self.store, &self.sources, &options, &|e| {
                progress.event(e)
            });
        let _ = self.sources.save();
        super::cache::record_last_build(&self.cache_dir, &report);
        report
    }

    /// Copy built packages to their output paths (atomically, mode 0755), skipping those
    /// already identical.
    pub fn install(&self, plan: &BuildPlan, report: &Report) -> anyhow::Result<Vec<PlannedOutput>> {
        let mut installed = Vec::new();
        for out in &plan.outputs {
            let Some(digest) = report.output(out.action, 0) else {
                continue;
            };
            let blob = self.store.blob_path(&digest).with_context(|| {
                format!("{}: built package missing from the cache", out.package)
            })?;
            install_file(&blob, &out.path, &digest)?;
            installed.push(out.clone());
        }
        Ok(installed)
    }
}

fn install_file(blob: &Path, dest: &Path, digest: &flavor_engine::Digest) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let blob_len = std::fs::metadata(blob)?.len();
    if std::fs::metadata(dest).is_ok_and(|m| m.len() == blob_len)
        && flavor_engine::Digest::of_file(dest).is_ok_and(|d| d == *digest)
    {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".flavor-install-")
        .tempfile_in(dir)
        .with_context(|| format!("writing into {}", dir.display()))?;
    std::fs::copy(blob, tmp.path())?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(dest)
        .with_context(|| format!("installing {}", dest.display()))?;
    Ok(())
}

/// Print failures of a report (humans) and return whether it succeeded.
pub fn report_failures(report: &Report, progress: &Progress) -> bool {
    for failed in report.failed() {
        if let flavor_engine::Status::Failed(err) = &failed.status {
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

fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let start = args
        .manifest_path
        .clone()
        .map(|p| {
            if p.is_file() {
                p.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                p
            }
        })
        .unwrap_or(std::env::current_dir()?);
    let mode = if args.json {
        Mode::Json
    } else if args.quiet {
        Mode::Quiet
    } else {
        Mode::Human
    };
    let mut session = match Session::open(&start) {
        Ok(s) => s,
        Err(errors) => {
            report_manifest_errors(&errors, args.json);
            return Ok(ExitCode::from(1));
        }
    };
    let began = Instant::now();
    let plan = session.plan(&args.names, args.release)?;
    let progress = Progress::new(
        mode,
        plan.graph
            .closure(&plan.outputs.iter().map(|o| o.action).collect::<Vec<_>>())
            .len(),
        args.verbose,
    );
    for n in &plan.notices {
        progress.say(&format!("note: {n}"));
    }
    session.connect_remote(&args.remote, &progress)?;
    let report = session.build(&plan, &args, &progress);
    progress.finish();
    let ok = report_failures(&report, &progress);
    // Packages that depend on no failed action were built all the same: install them.
    let installed = session.install(&plan, &report)?;
    session.finish_remote(&progress);
    let secs = began.elapsed().as_secs_f64();
    let remote = session.remote.as_ref().map(|r| (r, r.stats()));
    progress.json(json!({
        "event": "summary", "ok": ok, "built": report.built(), "cached": report.cached(),
        "remote_hits": report.remote_hits(),
        "failed": report.failed().len(), "skipped": report.skipped(), "seconds": secs,
        "packages": installed.iter().map(|o| json!({
            "package": o.package, "target": o.target, "path": o.path,
        })).collect::<Vec<_>>(),
        "remote": remote.as_ref().map(|(r, s)| crate::remote::stats_json(r, s)),
    }));
    if mode == Mode::Human {
        for o in &installed {
            let what = match &o.target {
                Some(t) => format!("{} ({t})", o.package),
                None => o.package.clone(),
            };
            eprintln!("   package {what} → {}", display_path(&o.path));
        }
        if let Some((r, stats)) = &remote {
            eprintln!("{}", crate::remote::summary_line(r, stats));
        }
        eprintln!(
            "{} built {}, cached {}{}{} in {secs:.2}s",
            if ok { "finished:" } else { "FAILED:" },
            report.built(),
            report.cached(),
            match report.remote_hits() {
                0 => String::new(),
                n => format!(" ({n} from the remote cache)"),
            },
            if ok {
                String::new()
            } else {
                format!(", failed {}", report.failed().len())
            },
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
