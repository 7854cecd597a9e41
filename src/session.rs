//! [`Session`]: a loaded workspace with its build cache, ready to plan, build and install —
//! the path `build`, `run`, `watch`, `graph` and the `cache` commands share. It takes plain
//! settings ([`BuildSettings`], [`RemoteSettings`]), never command-line types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use flavor_engine::{
    BuildOptions, Digest, LocalStore, RemoteCache, RemoteExecutor, Report, SourceDigests, Store,
};
use flavor_remote::{Remote, RemoteExecution};
use flavor_rules::plan::{BuildPlan, PlanOptions, PlannedOutput, plan};
use flavor_rules::workspace::{Workspace, load};
use flavor_rules::{Manifest, ManifestErrors, Problem};

use crate::build_cache::BuildCache;
use crate::progress::Progress;
use crate::remote::RemoteSettings;

/// How to run a build (what to build, debug or release, is the plan's business).
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildSettings {
    /// Run every action even if the cache has its result.
    pub force: bool,
    /// Parallel jobs; 0 means the number of CPUs.
    pub jobs: usize,
}

/// A loaded workspace with its cache, ready to plan and build.
pub struct Session {
    /// The manifests.
    pub workspace: Workspace,
    /// The build cache directory.
    pub cache: BuildCache,
    /// The engine's store in it.
    pub store: LocalStore,
    /// Source digests saved in it.
    pub sources: SourceDigests,
    /// The shared remote cache, once [`Session::connect_remote`] found one configured.
    pub remote: Option<Arc<Remote>>,
    /// The remote execution cluster, once [`Session::connect_remote`] found one configured.
    pub executor: Option<Arc<RemoteExecution>>,
}

/// Where to look for the workspace: `--manifest-path` (a `flavor.toml` or a directory), else
/// the current directory.
pub fn start_dir(manifest_path: Option<&Path>) -> std::io::Result<PathBuf> {
    match manifest_path {
        Some(p) if p.is_file() => Ok(p.parent().map(Path::to_path_buf).unwrap_or_default()),
        Some(p) => Ok(p.to_path_buf()),
        None => std::env::current_dir(),
    }
}

impl Session {
    /// Loads the workspace around `start` and opens its build cache. `Err` holds every
    /// manifest problem (or the cache that cannot be opened), to show the user.
    pub fn open(start: &Path) -> Result<Session, Vec<ManifestErrors>> {
        let workspace = load(start)?;
        let cache = BuildCache::for_workspace(&workspace.root);
        let store = cache.open_store().map_err(|e| {
            let problem = Problem::new(format!("cannot open the build cache: {e}"), None);
            vec![ManifestErrors::new(
                &cache.dir().display().to_string(),
                "",
                vec![problem],
            )]
        })?;
        let sources = cache.load_sources();
        Ok(Session {
            workspace,
            cache,
            store,
            sources,
            remote: None,
            executor: None,
        })
    }

    /// Sets up the remote cache the settings, the environment or the root manifest name (in
    /// that order); says what the user should know about it through `progress`.
    pub fn connect_remote(
        &mut self,
        settings: &RemoteSettings,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let (remote, notes) = crate::remote::open(
            settings,
            self.workspace.root_manifest.cache.as_ref(),
            &self.cache.sha256_index_dir(),
        )?;
        for note in notes {
            progress.warn(&note);
        }
        self.remote = remote.map(Arc::new);
        let (executor, notes) =
            crate::remote::open_execution(settings, self.workspace.root_manifest.remote.as_ref())?;
        for note in notes {
            progress.warn(&note);
        }
        self.executor = executor.map(Arc::new);
        Ok(())
    }

    /// Waits for the remote cache's background uploads (saying so if there are any left),
    /// then shows its pending warning.
    pub fn finish_remote(&self, progress: &Progress) {
        if let Some(executor) = &self.executor {
            for warning in executor.take_warnings() {
                progress.warn(&warning);
            }
        }
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

    /// The names of every package of the workspace.
    pub fn package_names(&self) -> Vec<String> {
        self.workspace
            .packages
            .iter()
            .filter_map(|m| m.package.as_ref().map(|p| p.name.value.clone()))
            .collect()
    }

    /// The manifests selected by `names` (package names or target names; none: the package
    /// of the current directory, or every package).
    pub fn select(&self, names: &[String]) -> anyhow::Result<Vec<&Manifest>> {
        let ws = &self.workspace;
        if names.is_empty() {
            if let Some(current) = &ws.current {
                return Ok(ws.packages.iter().filter(|m| &m.path == current).collect());
            }
            return Ok(ws.packages.iter().collect());
        }
        let mut out: Vec<&Manifest> = Vec::new();
        for name in names {
            let found: Vec<&Manifest> = ws
                .packages
                .iter()
                .filter(|m| {
                    m.package.as_ref().is_some_and(|p| {
                        p.name.value == *name || p.targets.iter().any(|t| t.name.value == *name)
                    })
                })
                .collect();
            if found.is_empty() {
                bail!(
                    "no package or target named `{name}` (packages: {})",
                    self.package_names().join(", ")
                );
            }
            for m in found {
                if !out.iter().any(|o| o.path == m.path) {
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

    /// The debug and release plans of every package, as a command that only looks at them
    /// sees them (what the manifests use, for `cache gc` and `cache push`).
    pub fn plans_of_everything(&self) -> anyhow::Result<Vec<BuildPlan>> {
        let names = self.package_names();
        [false, true]
            .into_iter()
            .map(|release| self.plan_only(&names, release))
            .collect()
    }

    fn plan_with(
        &self,
        names: &[String],
        release: bool,
        create_user_key: bool,
    ) -> anyhow::Result<BuildPlan> {
        let selected = self.select(names)?;
        let launcher = crate::builtin_launcher::materialise(&self.cache.launchers_dir())?;
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

    /// Runs the engine for `plan`'s outputs, reporting progress, and records the build.
    pub fn build(&self, plan: &BuildPlan, settings: &BuildSettings, progress: &Progress) -> Report {
        let options = BuildOptions {
            jobs: settings.jobs,
            targets: Some(plan.outputs.iter().map(|o| o.action).collect()),
            force: settings.force,
            remote: self
                .remote
                .clone()
                .map(|remote| remote as Arc<dyn RemoteCache>),
            executor: self
                .executor
                .clone()
                .map(|executor| executor as Arc<dyn RemoteExecutor>),
        };
        let report =
            flavor_engine::build(&plan.graph, &self.store, &self.sources, &options, &|e| {
                progress.event(&e);
            });
        let _ = self.sources.save();
        self.cache.record_last_build(&report);
        report
    }

    /// Copies built packages to their output paths (atomically, mode 0755), skipping those
    /// already identical; returns those written.
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

fn install_file(blob: &Path, dest: &Path, digest: &Digest) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let blob_len = std::fs::metadata(blob)?.len();
    if std::fs::metadata(dest).is_ok_and(|m| m.len() == blob_len)
        && Digest::of_file(dest).is_ok_and(|d| d == *digest)
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
