//! The manifest as flavor understands it, after parsing and checking.
//!
//! Every field that later checks can complain about keeps its source span ([`Spanned`]).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

/// A value with the byte range it came from in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Option<Range<usize>>,
}

impl<T> Spanned<T> {
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

/// One `flavor.toml`.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    /// The manifest file and its directory (paths in it are relative to that directory).
    pub path: PathBuf,
    pub dir: PathBuf,
    pub package: Option<Package>,
    pub workspace: Option<Workspace>,
    pub cache: Option<CacheConfig>,
}

/// `[workspace]`.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub members: Vec<Spanned<String>>,
}

/// `[cache]` (root manifest only).
#[derive(Debug, Clone, Default)]
pub struct CacheConfig {
    pub remote: Option<String>,
    pub token_env: Option<String>,
    pub read_only: bool,
}

/// Everything that describes one package.
#[derive(Debug, Clone, Default)]
pub struct Package {
    pub name: Spanned<String>,
    pub version: String,
    pub description: Option<String>,
    pub command: Spanned<String>,
    pub env: BTreeMap<String, String>,
    pub runtime_env: Option<RuntimeEnv>,
    pub workenv_dirs: Vec<(String, Option<Spanned<String>>)>,
    pub workenv_env: BTreeMap<String, String>,
    pub slots: Vec<Slot>,
    pub steps: Vec<Step>,
    pub setup: Vec<SetupCommand>,
    pub signing: Signing,
    pub targets: Vec<Target>,
}

/// `[runtime.env]`.
#[derive(Debug, Clone, Default)]
pub struct RuntimeEnv {
    pub unset: Vec<String>,
    pub pass: Vec<String>,
    pub set: BTreeMap<String, String>,
    pub map: BTreeMap<String, String>,
}

/// Where a slot's bytes come from.
#[derive(Debug, Clone)]
pub enum SlotSource {
    /// A file or directory, relative to the manifest.
    Path(Spanned<String>),
    /// The declared outputs of a build step.
    Step(Spanned<String>),
}

/// `[[slot]]`.
#[derive(Debug, Clone)]
pub struct Slot {
    pub id: Spanned<String>,
    pub source: SlotSource,
    pub target: Option<Spanned<String>>,
    pub codec: Option<Spanned<String>>,
    pub level: Option<Spanned<i64>>,
    pub include: Vec<Spanned<String>>,
    pub exclude: Vec<Spanned<String>>,
    pub lifecycle: Option<Spanned<String>>,
    pub permissions: Option<Spanned<String>>,
    pub purpose: Option<Spanned<String>>,
    pub span: Option<Range<usize>>,
}

/// `[[step]]`.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: Spanned<String>,
    pub command: Spanned<String>,
    pub inputs: Vec<Spanned<String>>,
    pub outputs: Vec<Spanned<String>>,
    pub env: BTreeMap<String, String>,
    pub pass_env: Vec<String>,
    pub cwd: Option<Spanned<String>>,
    pub needs: Vec<Spanned<String>>,
}

/// `[[setup]]`: kept as the JSON object the launcher interprets.
#[derive(Debug, Clone)]
pub struct SetupCommand {
    pub kind: Spanned<String>,
    pub fields: BTreeMap<String, SetupValue>,
}

/// A setup field value.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupValue {
    String(String),
    Integer(i64),
    Table(BTreeMap<String, String>),
}

/// `[signing]`.
#[derive(Debug, Clone, Default)]
pub struct Signing {
    pub private_key: Option<Spanned<String>>,
    pub key_seed_env: Option<Spanned<String>>,
}

/// `[[target]]`.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: Spanned<String>,
    pub output: Option<Spanned<String>>,
    pub launcher: Option<Spanned<String>>,
}

/// Codecs a slot may name (canonical names and the aliases flavor accepts).
pub const CODECS: &[&str] = &["raw", "gzip", "zstd", "tar", "tar.gz", "tgz", "tar.zst"];

/// Lifecycles a slot may name.
pub const LIFECYCLES: &[&str] = &[
    "init", "startup", "runtime", "shutdown", "cache", "temp", "lazy", "eager", "dev", "config",
    "platform", "volatile",
];

/// Purposes a slot may name.
pub const PURPOSES: &[&str] = &["payload", "runtime", "tool", "data", "config"];

/// Setup command types.
pub const SETUP_TYPES: &[&str] = &["execute", "enumerate_and_execute", "write_file", "chmod"];
