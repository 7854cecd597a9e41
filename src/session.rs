//! [`Session`]: a loaded workspace with its build cache, ready to plan, build and install —
//! the path `build`, `run`, `watch`, `graph` and the `cache` commands share. It takes plain
//! settings ([`BuildSettings`], [`RemoteSettings`]), never command-line types.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use flavor_engine::{
    BuildOptions, Digest, LocalStore, RemoteCache, RemoteExecutor, Report, SourceDigests, Store,
};
use flavor_remote::{Remote, RemoteExecution};
use flavor_rules::launcher::{Launchers, Registry};
use flavor_rules::plan::{BuildPlan, PlanOptions, PlannedOutput, plan};
use flavor_rules::select::{Request, Selected, select};
use flavor_rules::workspace::{Workspace, load};
use flavor_rules::{ManifestErrors, Problem};

use crate::build_cache::{BuildCache, InUse};
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
    /// Whether problems are reported as `--json` events.
    pub json: bool,
    /// This process's use of the cache, held while the session lives.
    _in_use: InUse,
}

/// What a command asks to build: names (packages, targets, platforms, `package:target`),
/// `--target` values, and `--launcher`.
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    /// Positional names.
    pub names: Vec<String>,
    /// `--target` values (target names or platforms).
    pub targets: Vec<String>,
    /// `--launcher PATH`: the launcher of every package built.
    pub launcher: Option<PathBuf>,
}

impl Wanted {
    /// Just these names.
    pub fn names(names: &[String]) -> Wanted {
        Wanted {
            names: names.to_vec(),
            ..Wanted::default()
        }
    }
}

impl Session {
    /// Loads the workspace around `start` and opens its build cache. `Err` holds every
    /// manifest problem (or the cache that cannot be opened), to show the user.
    pub fn open(start: &Path) -> Result<Session, Vec<ManifestErrors>> {
        let workspace = load(start)?;
        let cache = BuildCache::for_workspace(&workspace.root);
        let cannot_open = |e: std::io::Error| {
            let problem = Problem::new(format!("cannot open the build cache: {e}"), None);
            vec![ManifestErrors::new(
                &cache.dir().display().to_string(),
                "",
                vec![problem],
            )]
        };
        // Before the store is opened: what interrupted runs left is cleared first.
        let (in_use, _) = cache.enter().map_err(cannot_open)?;
        let store = cache.open_store().map_err(cannot_open)?;
        let sources = cache.load_sources();
        Ok(Session {
            workspace,
            cache,
            store,
            sources,
            remote: None,
            executor: None,
            json: false,
            _in_use: in_use,
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

    /// The packages and targets `wanted` selects.
    pub fn select(&self, wanted: &Wanted) -> anyhow::Result<Vec<Selected<'_>>> {
        let request = Request {
            names: &wanted.names,
            targets: &wanted.targets,
        };
        Ok(select(&self.workspace, &request)?)
    }

    /// The plan of a build of `names` (creating the per-user signing key if a package
    /// needs it and it does not exist yet).
    pub fn plan(&self, names: &[String], release: bool) -> anyhow::Result<BuildPlan> {
        self.plan_wanted(&Wanted::names(names), release)
    }

    /// The plan of a build of what `wanted` selects, with its launcher (creating the per-user
    /// signing key if a package needs it and it does not exist yet).
    pub fn plan_wanted(&self, wanted: &Wanted, release: bool) -> anyhow::Result<BuildPlan> {
        self.plan_with(wanted, release, true)
    }

    /// The plan for a command that only looks at it: no key is created (a throwaway one
    /// stands in for a missing per-user key).
    pub fn plan_only(&self, wanted: &Wanted, release: bool) -> anyhow::Result<BuildPlan> {
        self.plan_with(wanted, release, false)
    }

    /// The debug and release plans of every package, as a command that only looks at them
    /// sees them (what the manifests use, for `cache gc` and `cache push`).
    pub fn plans_of_everything(&self) -> anyhow::Result<Vec<BuildPlan>> {
        let wanted = Wanted::names(&self.package_names());
        [false, true]
            .into_iter()
            .map(|release| self.plan_only(&wanted, release))
            .collect()
    }

    /// The launchers a build chooses from: the builtin one (written to the cache), the
    /// user's registry, and `--launcher`.
    pub fn launchers(&self, flag: Option<&Path>) -> anyhow::Result<Launchers> {
        let builtin = crate::builtin_launcher::materialise(&self.cache.launchers_dir())?;
        let flag = match flag {
            Some(p) => Some(
                std::path::absolute(p).with_context(|| format!("--launcher {}", p.display()))?,
            ),
            None => None,
        };
        Ok(Launchers::new(builtin, Registry::user(), flag))
    }

    fn plan_with(
        &self,
        wanted: &Wanted,
        release: bool,
        create_user_key: bool,
    ) -> anyhow::Result<BuildPlan> {
        let selected = self.select(wanted)?;
        let timestamp = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let opts = PlanOptions {
            release,
            timestamp,
            launchers: self.launchers(wanted.launcher.as_deref())?,
            env: std::env::vars().collect::<BTreeMap<_, _>>(),
            create_user_key,
        };
        plan(&selected, &self.workspace.root, &opts).map_err(|e| self.plan_error(e))
    }

    /// A planning error for the user: located manifest problems are shown against the
    /// manifest (as manifest errors are), anything else is returned as it is.
    fn plan_error(&self, e: flavor_rules::Error) -> anyhow::Error {
        match e.manifest_errors() {
            Some(errors) => {
                crate::diagnostics::report_manifest_errors(std::slice::from_ref(errors), self.json);
                anyhow::Error::new(crate::diagnostics::Reported)
            }
            None => e.into(),
        }
    }

    /// Runs the engine for `plan`'s outputs, reporting progress, and records the build.
    pub fn build(&self, plan: &BuildPlan, settings: &BuildSettings, progress: &Progress) -> Report {
        let report = self.run_engine(plan, settings, progress);
        self.record(&report);
        report
    }

    /// [`build`](Self::build), then [`install`](Self::install): the build is recorded (source
    /// digests saved) while the packages are copied to their paths.
    pub fn build_and_install(
        &self,
        plan: &BuildPlan,
        settings: &BuildSettings,
        progress: &Progress,
    ) -> (Report, anyhow::Result<Vec<PlannedOutput>>) {
        let report = self.run_engine(plan, settings, progress);
        let installed = std::thread::scope(|threads| {
            threads.spawn(|| self.record(&report));
            self.install(plan, &report)
        });
        (report, installed)
    }

    /// Saves the source digests and the record of the last build.
    fn record(&self, report: &Report) {
        let _ = self.sources.save();
        self.cache.record_last_build(report);
    }

    /// Runs the engine for `plan`'s outputs, reporting progress.
    fn run_engine(
        &self,
        plan: &BuildPlan,
        settings: &BuildSettings,
        progress: &Progress,
    ) -> Report {
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
        flavor_engine::build(&plan.graph, &self.store, &self.sources, &options, &|e| {
            progress.event(&e);
        })
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
