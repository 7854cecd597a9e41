//! The errors of planning and of finding keys, after a manifest was accepted. Problems in a
//! manifest itself are [`ManifestErrors`](crate::ManifestErrors): diagnostics with spans.

use crate::ManifestErrors;
use std::path::PathBuf;

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error while planning one package.
    /// (Not a `#[source]`: the message already says it, and error reports print the chain.)
    #[error("{package}: {error}")]
    InPackage {
        /// The package's name.
        package: String,
        /// What went wrong.
        error: Box<Error>,
    },

    /// A slot's source cannot be read.
    #[error("slot `{slot}`: cannot read {}: {source}", path.display())]
    Source {
        /// The slot id.
        slot: String,
        /// The source path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// Listing a directory (a directory slot, or a step's inputs) failed.
    #[error("{what}: cannot list {}: {source}", path.display())]
    Walk {
        /// `slot `app``, `step `compile` inputs`.
        what: String,
        /// The directory.
        path: PathBuf,
        /// Why.
        source: ignore::Error,
    },

    /// An entry of a directory slot (its metadata, or a link's target) cannot be read.
    #[error("{what}: cannot read {}: {source}", path.display())]
    Read {
        /// `slot `app``.
        what: String,
        /// The entry.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// An include/exclude/inputs glob does not compile.
    #[error("{what}: bad glob `{pattern}`: {source}")]
    Glob {
        /// `slot `app``, `step `compile` inputs`.
        what: String,
        /// The pattern.
        pattern: String,
        /// Why.
        source: globset::Error,
    },

    /// A single-file codec was asked of a directory or of several step outputs.
    #[error(
        "slot `{slot}`: codec {codec} needs a single file, but the source is a directory or \
         several step outputs; use tar, tar.gz or tar.zst"
    )]
    CodecNeedsOneFile {
        /// The slot id.
        slot: String,
        /// The codec asked for.
        codec: pspf::Codec,
    },

    /// A `[python]` package that cannot be planned: why, and what to do.
    #[error("[python]: {0}")]
    Python(String),

    /// Steps that need each other (the manifest check reports this with its path first).
    #[error("steps form a cycle: {}", steps.join(", "))]
    StepCycle {
        /// The steps on or behind the cycle.
        steps: Vec<String>,
    },

    /// A slot or step names a step the package does not have (reported by the manifest check
    /// first).
    #[error("no step `{step}`")]
    UnknownStep {
        /// The step id.
        step: String,
    },

    /// A step's `tools` names a program that is not on `PATH`.
    #[error(
        "step `{step}`: tool `{tool}` is not on PATH ({path}); install it, or fix the step's \
         `tools`"
    )]
    ToolNotFound {
        /// The step id.
        step: String,
        /// The program name.
        tool: String,
        /// The `PATH` searched.
        path: String,
    },

    /// A step path (input, output, `cwd`) that is not inside the workspace root.
    #[error("step `{step}`: {} is outside the workspace {}", path.display(), root.display())]
    StepPathOutside {
        /// The step id.
        step: String,
        /// The path.
        path: PathBuf,
        /// The workspace root.
        root: PathBuf,
    },

    /// `[execution] command` runs a program under `{workenv}` that no slot provides.
    #[error(
        "[execution] command runs `{{workenv}}/{path}`, but no slot puts a file there; the \
         slots provide: {}",
        if provided.is_empty() { "nothing".to_string() } else { provided.join(", ") }
    )]
    CommandNotProvided {
        /// The path under the workenv.
        path: String,
        /// What the slots put in the workenv (files, and `dir/…` for step directories).
        provided: Vec<String>,
    },

    /// The planned actions do not form a graph (a bug in the planner).
    #[error(transparent)]
    Graph(#[from] flavor_engine::EngineError),

    /// `[signing] private_key` cannot be read or is not a key.
    #[error("[signing] private_key {}: {reason}", path.display())]
    PrivateKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// `[signing] key_seed_env` names a variable that is not set.
    #[error("[signing] key_seed_env names {var}, which is not set; export it or use private_key")]
    SeedNotSet {
        /// The variable.
        var: String,
    },

    /// No configuration directory for the per-user key.
    #[error(
        "no signing key: set [signing] private_key or key_seed_env (no HOME for a per-user key)"
    )]
    NoKeyDirectory,

    /// The per-user key exists but is not a key.
    #[error("{}: {reason}", path.display())]
    UserKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// The per-user key could not be created.
    #[error("cannot write {}: {source}", dir.display())]
    CreateUserKey {
        /// The key directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// `flavor import`: the upstream manifest is not a JSON object.
    #[error("not a JSON object: an upstream manifest is one")]
    ImportNotAnObject,

    /// `flavor import`: the upstream manifest lacks something every package needs.
    #[error("no {what}")]
    ImportMissing {
        /// What is missing, and where it was looked for.
        what: &'static str,
    },

    /// `flavor import` produced a manifest that does not load (a bug in the importer).
    #[error("flavor import wrote a manifest that does not load ({problem}); please report this")]
    ImportDoesNotLoad {
        /// The loader's first problem.
        problem: String,
    },

    /// No randomness for a new key.
    #[error("cannot generate a key: {0}")]
    Random(std::io::Error),

    /// Problems of a manifest found while planning it (a target's launcher, a codec that
    /// launcher cannot decode), each with its place in the manifest.
    #[error("{}", .0.messages().join("; "))]
    Manifest(ManifestErrors),

    /// A launcher binary cannot be read.
    #[error("launcher {}: {source}", path.display())]
    LauncherUnreadable {
        /// The binary.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A file given or kept as a launcher is not one that can be used.
    #[error("{} is not a launcher flavor can use: {reason}", path.display())]
    NotALauncher {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// A launcher for a platform no package can be built for.
    #[error(
        "launcher {} is a {found} executable; flavor builds packages for {}",
        path.display(),
        pspf::Platform::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    )]
    UnsupportedLauncherPlatform {
        /// The binary.
        path: PathBuf,
        /// What its header says.
        found: String,
    },

    /// The launcher registry cannot be written or read.
    #[error("launcher registry {}: {source}", path.display())]
    LauncherRegistry {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },

    /// A launcher in the registry that another user owns or others may write.
    #[error(
        "refusing launcher {}: it belongs to uid {owner} or others may write it (mode \
         {mode:04o}), so it may hold anything; remove it and `flavor launcher add` it again",
        path.display()
    )]
    UntrustedLauncher {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },

    /// This machine is not one of the platforms, so a target naming no platform has none.
    #[error(
        "this machine ({os}-{arch}) is not a platform flavor builds for; give every [[target]] \
         a `platform`"
    )]
    NoHostPlatform {
        /// `std::env::consts::OS`.
        os: &'static str,
        /// `std::env::consts::ARCH`.
        arch: &'static str,
    },

    /// A name on the command line is no package, target or platform of the workspace.
    #[error(
        "no package or target named `{name}` (packages: {}; targets: {})",
        list(packages),
        list(targets)
    )]
    NoSuchName {
        /// The name given.
        name: String,
        /// The workspace's packages.
        packages: Vec<String>,
        /// Its targets, as `package:target`.
        targets: Vec<String>,
    },

    /// `package:target` names a target the package does not have.
    #[error(
        "package `{package}` has no target `{target}` (its targets: {})",
        list(targets)
    )]
    NoSuchTarget {
        /// The package.
        package: String,
        /// The target given.
        target: String,
        /// Its targets (names and platforms).
        targets: Vec<String>,
    },

    /// `--target` matches no target of the packages selected.
    #[error("no target `{target}` in {where_} (targets: {})", list(targets))]
    NoTargetMatches {
        /// The value of `--target`.
        target: String,
        /// The packages looked at: `the workspace`, `package count`.
        where_: String,
        /// Their targets, as `package:target`.
        targets: Vec<String>,
    },
}

/// `a, b, c`, or `none`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

impl Error {
    /// The located manifest problems this error holds (possibly inside
    /// [`Error::InPackage`]), for showing them against the manifest.
    pub fn manifest_errors(&self) -> Option<&ManifestErrors> {
        match self {
            Error::Manifest(errors) => Some(errors),
            Error::InPackage { error, .. } => error.manifest_errors(),
            _ => None,
        }
    }

    /// This error, said to be about `package`.
    pub fn in_package(self, package: &str) -> Error {
        Error::InPackage {
            package: package.to_string(),
            error: Box::new(self),
        }
    }
}
