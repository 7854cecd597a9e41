//! The manifest as flavor understands it, after reading and checking: what the planner and the
//! CLI consume. Values later checks can complain about keep their source span ([`Spanned`]);
//! vocabulary fields hold the `pspf` enums (unknown spellings were reported on reading).
//!
//! The TOML keys and their types are defined once, in `schema` (serde); `lower` turns those
//! tables into these types.

use pspf::metadata::RuntimeEnv;
use pspf::{Codec, Lifecycle, Platform, Purpose, SetupCommand};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

/// A value with the byte range it came from in the manifest (none for defaults).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it is in the manifest text.
    pub span: Option<Range<usize>>,
}

impl<T> Spanned<T> {
    /// A value found at `span`.
    pub fn new(value: T, span: Option<Range<usize>>) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// Read with the span TOML gives the value.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spanned = toml::Spanned::<T>::deserialize(d)?;
        let span = spanned.span();
        Ok(Spanned::new(spanned.into_inner(), Some(span)))
    }
}

/// One `flavor.toml`.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its directory (paths in it are relative to that directory).
    pub dir: PathBuf,
    /// Its text, for diagnostics found after loading (paths checked against the workspace).
    pub text: Arc<str>,
    /// `[package]` and everything describing it, when this manifest is a package.
    pub package: Option<Package>,
    /// `[workspace]`, when this manifest is a workspace root.
    pub workspace: Option<WorkspaceMembers>,
    /// `[cache]` (root manifest only).
    pub cache: Option<CacheConfig>,
    /// `[remote]` (root manifest only).
    pub remote: Option<RemoteExecConfig>,
}

/// `[workspace]`: the member packages of a workspace root.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct WorkspaceMembers {
    /// Globs of directories (relative to the root) holding a member's flavor.toml.
    pub members: Vec<Spanned<String>>,
}

/// `[cache]` (root manifest only): the shared remote build cache.
#[derive(Debug, Clone, Default)]
pub struct CacheConfig {
    /// Base URL of a Bazel HTTP cache.
    pub remote: Option<String>,
    /// Name of the environment variable holding a bearer token.
    pub token_env: Option<String>,
    /// Look results up, never upload.
    pub read_only: bool,
}

/// `[remote]` (root manifest only): a Remote Execution API cluster to run steps on.
#[derive(Debug, Clone, Default)]
pub struct RemoteExecConfig {
    /// `grpc://host:port` or `grpcs://host:port`.
    pub execution: Option<String>,
    /// The REAPI instance name.
    pub instance: String,
    /// Actions in flight at once.
    pub jobs: Option<usize>,
    /// Platform properties the workers must match.
    pub platform: BTreeMap<String, String>,
    /// Seconds one action may take on the cluster before it runs locally instead.
    pub timeout: Option<u64>,
    /// Name of the environment variable holding a bearer token.
    pub token_env: Option<String>,
}

/// Everything that describes one package.
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// `package.name`: also the output file's name.
    pub name: Spanned<String>,
    /// `package.version`.
    pub version: String,
    /// `package.description`.
    pub description: Option<String>,
    /// `package.allow_sources_outside`: directories outside the project that sources may
    /// come from (relative to the manifest).
    pub allow_sources_outside: Vec<Spanned<String>>,
    /// `execution.command`.
    pub command: Spanned<String>,
    /// `execution.env`.
    pub env: BTreeMap<String, String>,
    /// `[runtime.env]`: the launcher's environment policy.
    pub runtime_env: Option<RuntimeEnv>,
    /// `workenv.directories`.
    pub workenv_dirs: Vec<WorkenvDir>,
    /// `workenv.env`.
    pub workenv_env: BTreeMap<String, String>,
    /// `[[slot]]`s, in order.
    pub slots: Vec<Slot>,
    /// `[[step]]`s, in order.
    pub steps: Vec<Step>,
    /// `[[setup]]` commands, in order.
    pub setup: Vec<SetupCommand>,
    /// `[signing]`.
    pub signing: Signing,
    /// `[[target]]`s, in order (none: one output, `dist/<name>.psp`).
    pub targets: Vec<Target>,
    /// `[python]`: a Python application (name, version, command and isolation defaults
    /// already filled from its pyproject).
    pub python: Option<PythonApp>,
}

/// `[python]`: a Python application built from a pyproject and its `uv.lock`.
#[derive(Debug, Clone)]
pub struct PythonApp {
    /// `python.project`: the directory holding `pyproject.toml`, relative to the manifest.
    pub project: Spanned<String>,
    /// `python.entry`: a `[project.scripts]` name, `module:function` or `-m module`.
    pub entry: Option<Spanned<String>>,
    /// `python.lock`, relative to the manifest (default: `uv.lock` beside the pyproject).
    pub lock: Option<Spanned<String>>,
    /// `python.interpreter`.
    pub interpreter: Spanned<Interpreter>,
    /// `python.bytecode`.
    pub bytecode: Bytecode,
    /// `python.exclude`: globs trimmed from site-packages.
    pub exclude: Vec<Spanned<String>>,
    /// The `[python]` table.
    pub span: Option<Range<usize>>,
    /// What the pyproject and the lock say (read when the manifest is loaded).
    pub resolved: Option<crate::python::Resolved>,
}

/// Where the interpreter comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interpreter {
    /// A python-build-standalone `install_only` archive, relative to the manifest.
    Archive(String),
    /// An archive fetched once and checked against its sha256.
    Url {
        /// `https://…`.
        url: String,
        /// Lowercase hex.
        sha256: String,
    },
    /// `uv python install <request>` (honours `UV_PYTHON_INSTALL_MIRROR`).
    Uv(String),
}

pspf::vocabulary! {
    /// How `.py` files are precompiled (`python.bytecode`).
    #[derive(Default)]
    pub enum Bytecode("bytecode mode") {
        /// Hash-based `.pyc` never checked against the source (fastest; the tree is verified
        /// by the launcher).
        #[default]
        UncheckedHash = "unchecked-hash",
        /// Hash-based `.pyc` whose source hash is checked at import.
        CheckedHash = "checked-hash",
        /// No `.pyc` shipped.
        None = "none",
    }
}

/// One `workenv.directories` entry.
#[derive(Debug, Clone)]
pub struct WorkenvDir {
    /// The directory (`{workenv}/…` or relative to the workenv).
    pub path: Spanned<String>,
    /// Its octal mode, as written.
    pub mode: Option<Spanned<String>>,
}

/// Where a slot's bytes come from.
#[derive(Debug, Clone)]
pub enum SlotSource {
    /// A file or directory, relative to the manifest.
    Path(Spanned<String>),
    /// The declared outputs of a build step.
    Step(Spanned<String>),
    /// Part of a `[python]` application (the slots `[python]` adds: `python`, `site`).
    Python(PythonPart),
}

/// The two slots of a `[python]` application: upgrading the app changes only `site`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonPart {
    /// `python`: the normalised, precompiled interpreter tree (`{workenv}/python`), the same
    /// for every application using that interpreter.
    Interpreter,
    /// `site`: the installed dependencies and the project (`{workenv}/site`).
    Site,
}

impl PythonPart {
    /// The slot's id.
    pub fn id(self) -> &'static str {
        match self {
            PythonPart::Interpreter => "python",
            PythonPart::Site => "site",
        }
    }
}

/// `[[slot]]`.
#[derive(Debug, Clone)]
pub struct Slot {
    /// Its id, unique within the package.
    pub id: Spanned<String>,
    /// Where its bytes come from.
    pub source: SlotSource,
    /// Where it lands in the workenv.
    pub target: Option<Spanned<String>>,
    /// The codec asked for (default: by source kind).
    pub codec: Option<Codec>,
    /// Where `codec` is in the manifest.
    pub codec_span: Option<Range<usize>>,
    /// Compression level.
    pub level: Option<Spanned<i64>>,
    /// Only these files of a directory source.
    pub include: Vec<Spanned<String>>,
    /// Never these files of a directory source.
    pub exclude: Vec<Spanned<String>>,
    /// When it is needed (default `cache`).
    pub lifecycle: Lifecycle,
    /// Mode of a single-file slot.
    pub permissions: Option<u32>,
    /// What it holds (default `payload`).
    pub purpose: Purpose,
    /// The `[[slot]]` table.
    pub span: Option<Range<usize>>,
}

/// `[[step]]`.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its id, unique within the package.
    pub id: Spanned<String>,
    /// The command, run with `sh -c`.
    pub command: Spanned<String>,
    /// Globs of the files it reads.
    pub inputs: Vec<Spanned<String>>,
    /// The files and directories it writes.
    pub outputs: Vec<StepOutput>,
    /// Variables it runs with.
    pub env: BTreeMap<String, String>,
    /// Variables passed through from the build's environment.
    pub pass_env: Vec<String>,
    /// Working directory, relative to the manifest.
    pub cwd: Option<Spanned<String>>,
    /// Steps that run first.
    pub needs: Vec<Spanned<String>>,
    /// Run in a private directory holding only the declared inputs (default true).
    pub sandbox: bool,
    /// Programs it runs, found on `PATH`; their contents enter the cache key.
    pub tools: Vec<Spanned<String>>,
}

/// One declared output of a step.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// The file or directory the command writes, relative to the manifest (a trailing `/`
    /// or `/**` is dropped: either kind is found by looking).
    pub path: Spanned<String>,
    /// Where it lands in a slot, relative to the slot's `target`: the output's `to`, or its
    /// path without `strip_prefix`, or its path (`""`: the target itself).
    pub dest: String,
}

/// `[signing]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Signing {
    /// A PKCS#8 PEM private key file.
    pub private_key: Option<Spanned<String>>,
    /// The name of a variable holding a key seed.
    pub key_seed_env: Option<Spanned<String>>,
}

/// `[[target]]`.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name, unique within the package.
    pub name: Spanned<String>,
    /// The platform it is for: `platform`, else the platform its name is (a target named
    /// `linux-aarch64` is for linux-aarch64); `None`: the host's.
    pub platform: Option<Spanned<Platform>>,
    /// Where the package is written (default: see [`crate::outputs::configured_path`]).
    pub output: Option<Spanned<String>>,
    /// `builtin` or the path of a launcher binary.
    pub launcher: Option<Spanned<String>>,
    /// Slot id → the codec that slot has in this target's package (instead of its `codec`).
    pub codecs: BTreeMap<String, Spanned<Codec>>,
    /// The `[[target]]` table.
    pub span: Option<Range<usize>>,
}

impl Target {
    /// The platform this target is for, `host` when it names none.
    pub fn platform_or(&self, host: Platform) -> Platform {
        self.platform.as_ref().map_or(host, |p| p.value)
    }
}
