//! The errors of planning and of finding keys, after a manifest was accepted. Problems in a
//! manifest itself are [`ManifestErrors`](crate::ManifestErrors): diagnostics with spans.

use std::path::PathBuf;

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error while planning one package.
    #[error("{package}: {source}")]
    InPackage {
        /// The package's name.
        package: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
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
}

impl Error {
    /// This error, said to be about `package`.
    pub fn in_package(self, package: &str) -> Error {
        Error::InPackage {
            package: package.to_string(),
            source: Box::new(self),
        }
    }
}
