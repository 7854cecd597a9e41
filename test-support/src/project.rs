//! Helpers of the build tests (`tests/build_*.rs`): a project copied into a [`Sandbox`]
//! (never built inside the repository), `flavor` run there with the sandbox's `HOME`, XDG
//! directories and caches, and `--json` output parsed into a [`Build`].
//!
//! A build runs with a cleared environment: `PATH`, the sandbox's `HOME`, `XDG_CONFIG_HOME`
//! (where the per-user signing key is created on the first build), `XDG_CACHE_HOME`,
//! `FLAVOR_CACHE`, `TMPDIR`, `SOURCE_DATE_EPOCH` ([`EPOCH`]) and [`SEED_ENV`] (used only by
//! manifests that [`Project::sign_with_seed`] switched to `key_seed_env`).

use super::{Run, Sandbox, flavor_bin, run, start, wait};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// The environment variable holding the signing seed of [`Project::sign_with_seed`].
pub const SEED_ENV: &str = "FLAVOR_TEST_KEY_SEED";

/// `SOURCE_DATE_EPOCH` of every test build.
pub const EPOCH: &str = "1700000000";

/// An example project of this repository (`examples/<name>`).
pub fn example(name: &str) -> PathBuf {
    crate::workspace_root().join("examples").join(name)
}

/// Copy the tree `from` to `to` (files, directories, symbolic links as links), leaving out
/// build products (`dist/`, `.flavor/`) a local build may have left in the repository.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create a copy's directory");
    let entries = fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == "dist" || name == ".flavor" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&src, &dst);
        } else if kind.is_symlink() {
            let target = fs::read_link(&src).expect("read a link");
            std::os::unix::fs::symlink(target, &dst).expect("copy a link");
        } else {
            fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}

/// Every package manifest under `dir` (any `flavor.toml` with a `[package]` table).
fn package_manifests(dir: &Path) -> Vec<PathBuf> {
    super::files_under(dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "flavor.toml"))
        .filter(|p| {
            fs::read_to_string(p)
                .unwrap_or_default()
                .contains("[package]")
        })
        .collect()
}

/// A project in a sandbox (its own, or shared with [`Project::another`] copies).
pub struct Project {
    pub sandbox: Rc<Sandbox>,
    /// The project's root directory (where its top `flavor.toml` is).
    pub root: PathBuf,
}

impl Project {
    /// `examples/<name>`, copied to `<sandbox>/<name>`.
    pub fn example(name: &str) -> Project {
        Project::example_at(name, name)
    }

    /// `examples/<name>`, copied to `<sandbox>/<rel>`.
    pub fn example_at(name: &str, rel: &str) -> Project {
        let sandbox = Rc::new(Sandbox::new());
        let root = sandbox.path(rel);
        copy_tree(&example(name), &root);
        Project { sandbox, root }
    }

    /// `examples/<name>` copied to `<rel>` in this project's sandbox: the same `HOME`, so
    /// the same per-user signing key.
    pub fn another(&self, name: &str, rel: &str) -> Project {
        let root = self.sandbox.path(rel);
        copy_tree(&example(name), &root);
        Project {
            sandbox: Rc::clone(&self.sandbox),
            root,
        }
    }

    /// A project whose files are `files` (path, content), written at `<sandbox>/project`.
    pub fn from_files(files: &[(&str, &str)]) -> Project {
        let sandbox = Rc::new(Sandbox::new());
        let root = sandbox.path("project");
        let project = Project { sandbox, root };
        for (rel, text) in files {
            project.write(rel, text);
        }
        project
    }

    /// A path inside the project.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Write a project file (creating its directory).
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("create a directory");
        fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Append to a project file (a content change).
    pub fn append(&self, rel: &str, text: &str) {
        let mut content = fs::read_to_string(self.path(rel)).expect("read a project file");
        content.push_str(text);
        self.write(rel, &content);
    }

    /// Replace `from` by `to` in a project file (which must contain `from`).
    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let content = fs::read_to_string(self.path(rel)).expect("read a project file");
        assert!(content.contains(from), "{rel} has no {from:?}");
        self.write(rel, &content.replacen(from, to, 1));
    }

    /// Move a file's modification time an hour back without touching its content.
    pub fn touch_mtime(&self, rel: &str) {
        let file = fs::File::options()
            .write(true)
            .open(self.path(rel))
            .expect("open a project file");
        let earlier = SystemTime::now() - Duration::from_secs(3600);
        file.set_modified(earlier).expect("set the mtime");
    }

    /// Sign every package of the project with a key derived from [`SEED_ENV`] instead of the
    /// per-user key, as CI does.
    pub fn sign_with_seed(&self) {
        for manifest in package_manifests(&self.root) {
            let mut text = fs::read_to_string(&manifest).expect("read a manifest");
            text.push_str(&format!("\n[signing]\nkey_seed_env = \"{SEED_ENV}\"\n"));
            fs::write(&manifest, text).expect("write a manifest");
        }
    }

    /// `flavor ARGS` in `<root>/<dir>` (`""` = the root), not yet started.
    pub fn command(&self, dir: &str, args: &[&str]) -> Command {
        let mut cmd = self.sandbox.command(&flavor_bin());
        cmd.args(args)
            .current_dir(self.path(dir))
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env(SEED_ENV, "flavor-build-e2e");
        cmd
    }

    /// Run `flavor ARGS` in `<root>/<dir>`.
    pub fn flavor_in(&self, dir: &str, args: &[&str]) -> Run {
        run(&mut self.command(dir, args))
    }

    /// Run `flavor ARGS` at the root.
    pub fn flavor(&self, args: &[&str]) -> Run {
        self.flavor_in("", args)
    }

    /// Start `flavor build --json ARGS` in `<root>/<dir>` (see [`Build::wait`]).
    pub fn start_build(&self, dir: &str, args: &[&str]) -> Child {
        let mut all = vec!["build", "--json"];
        all.extend_from_slice(args);
        start(&mut self.command(dir, &all))
    }

    /// `flavor build --json ARGS` in `<root>/<dir>`; whatever its exit code.
    pub fn build_in(&self, dir: &str, args: &[&str]) -> Build {
        Build::wait(self.start_build(dir, args))
    }

    /// `flavor build --json ARGS` at the root; panics unless it succeeds.
    pub fn build(&self, args: &[&str]) -> Build {
        let build = self.build_in("", args);
        build.run.ok();
        build
    }

    /// Run a built package (a path relative to the root) in the sandbox.
    pub fn run_package(&self, rel: &str, args: &[&str]) -> Run {
        self.sandbox.run(&self.path(rel), args)
    }

    /// The bytes of a project file.
    pub fn bytes(&self, rel: &str) -> Vec<u8> {
        fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Names of the blobs in the project's build cache (`.flavor/cache/cas`), sorted.
    pub fn cas_blobs(&self) -> Vec<String> {
        let mut names: Vec<String> = super::files_under(&self.path(".flavor/cache/cas"))
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect();
        names.sort();
        names
    }
}

/// One `flavor build --json`: the process and its parsed events.
pub struct Build {
    pub run: Run,
    /// Every event line but the summary.
    pub events: Vec<Value>,
    /// The final `summary` event.
    pub summary: Value,
}

impl Build {
    /// Wait for a build started by [`Project::start_build`] and parse its output: one JSON
    /// object per line, the last being the summary.
    pub fn wait(child: Child) -> Build {
        let run = wait(child);
        let mut events: Vec<Value> = run
            .stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| {
                    panic!(
                        "not one JSON object per line ({e}): {line:?}\n{}",
                        run.stdout
                    )
                })
            })
            .collect();
        let summary = events.pop().unwrap_or(Value::Null);
        if run.code == Some(0) || summary["event"] == "summary" {
            assert_eq!(summary["event"], "summary", "last line:\n{}", run.stdout);
        }
        Build {
            run,
            events,
            summary,
        }
    }

    /// Actions that ran (`summary.built`).
    pub fn built(&self) -> u64 {
        self.summary["built"].as_u64().expect("summary.built")
    }

    /// Actions that came from the cache (`summary.cached`).
    pub fn cached(&self) -> u64 {
        self.summary["cached"].as_u64().expect("summary.cached")
    }

    /// Labels of the actions that ran (`started` events), sorted.
    pub fn ran(&self) -> Vec<String> {
        let mut labels = self.labels("started");
        labels.sort();
        labels
    }

    /// Labels of the events named `event`, in output order.
    pub fn labels(&self, event: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["event"] == event)
            .filter_map(|e| e["label"].as_str().map(str::to_string))
            .collect()
    }

    /// How many `event` events carry `label`.
    pub fn count(&self, event: &str, label: &str) -> usize {
        self.labels(event).iter().filter(|l| *l == label).count()
    }

    /// `package` or `package (target)` of every installed package (`summary.packages`).
    pub fn packages(&self) -> Vec<String> {
        let mut out: Vec<String> = self.summary["packages"]
            .as_array()
            .expect("summary.packages")
            .iter()
            .map(|p| match p["target"].as_str() {
                Some(t) => format!("{} ({t})", p["package"].as_str().unwrap_or("?")),
                None => p["package"].as_str().unwrap_or("?").to_string(),
            })
            .collect();
        out.sort();
        out
    }
}
