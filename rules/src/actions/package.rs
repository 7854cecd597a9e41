//! `package`: assemble and sign a PSPF package from a launcher and the slots' stored bytes.
//!
//! Only the public key enters the parameters (and so the key, graphs and logs); the private
//! key is held by the action to sign with and never written anywhere.

use super::archive::SlotSummary;
use crate::python::audit::GlibcVersion;
use flavor_engine::{Action, ActionError, Input, RunContext};
use pspf::keys::SigningKey;
use pspf::metadata::{Runtime, RuntimeEnv, Workenv, WorkenvDirectory};
use pspf::{Codec, PackageSpec, SlotInput, flavor_metadata, plan_package, write_package};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One slot of the package: what to record and which inputs hold its bytes.
#[derive(Debug, Clone)]
pub struct PackageSlot {
    /// The slot id.
    pub id: String,
    /// The source recorded in the metadata.
    pub source: String,
    /// The target recorded in the metadata (`{workenv}` for tar slots).
    pub target: String,
    /// How the stored bytes are encoded.
    pub codec: Codec,
    /// What it holds.
    pub purpose: pspf::Purpose,
    /// When it is needed.
    pub lifecycle: pspf::Lifecycle,
    /// The slot's mode.
    pub permissions: u32,
    /// The stored (encoded) bytes.
    pub stored: Input,
    /// The decoded bytes (to record the decoded size), or — when `decoded_size_file` — the
    /// [`SlotSummary`](super::archive::SlotSummary) of an archive action that compressed as it
    /// went (decoded size, and the stored bytes' SHA-256, which is then not computed again).
    pub decoded: Input,
    /// Whether `decoded` holds the decoded size as text.
    pub decoded_size_file: bool,
}

/// Everything of the metadata that does not come from slots.
#[derive(Debug, Clone, Default)]
pub struct PackageSpecParams {
    /// `package.name`.
    pub name: String,
    /// `package.version`.
    pub version: String,
    /// `package.description`.
    pub description: Option<String>,
    /// `execution.command`.
    pub command: String,
    /// `execution.env`.
    pub env: BTreeMap<String, String>,
    /// The launcher's environment policy.
    pub runtime_env: Option<RuntimeEnv>,
    /// `workenv.directories`: path and octal mode.
    pub workenv_dirs: Vec<(String, Option<String>)>,
    /// `workenv.env`.
    pub workenv_env: BTreeMap<String, String>,
    /// Setup commands.
    pub setup: Vec<pspf::SetupCommand>,
    /// The build time recorded (`SOURCE_DATE_EPOCH` or 0).
    pub timestamp: u64,
    /// The platform recorded in `build.platform` (`None`: this host's).
    pub platform: Option<pspf::Platform>,
}

/// Write a signed package: a launcher, metadata and slots.
pub struct PackageAction {
    /// What the action is called in progress and errors.
    pub label: String,
    /// The metadata that does not come from slots.
    pub spec: PackageSpecParams,
    /// The slots, in order.
    pub slots: Vec<PackageSlot>,
    /// The launcher binary to put in front.
    pub launcher: Input,
    /// The key that signs the metadata (only its public half enters the action key).
    pub key: SigningKey,
    /// [`RuntimeFacts`](super::RuntimeFacts) files of the package's native code (`[python]`):
    /// the newest `min_glibc` among them goes into `runtime.min_glibc`.
    pub facts: Vec<Input>,
}

impl PackageAction {
    fn metadata(&self) -> pspf::Metadata {
        let s = &self.spec;
        let mut m = flavor_metadata(&s.name, &s.version, &s.command, s.timestamp);
        m.package.description = s.description.clone();
        if let Some(platform) = s.platform {
            m.set_platform(platform);
        }
        m.execution.env = s.env.clone();
        m.runtime = s.runtime_env.clone().map(|env| Runtime {
            env: Some(env),
            ..Runtime::default()
        });
        if !s.workenv_dirs.is_empty() || !s.workenv_env.is_empty() {
            m.workenv = Some(Workenv {
                directories: s
                    .workenv_dirs
                    .iter()
                    .map(|(path, mode)| WorkenvDirectory {
                        path: path.clone(),
                        mode: mode.clone(),
                    })
                    .collect(),
                env: s.workenv_env.clone(),
            });
        }
        m.setup_commands = s
            .setup
            .iter()
            .cloned()
            .map(pspf::SetupEntry::from)
            .collect();
        m
    }
}

impl Action for PackageAction {
    fn kind(&self) -> &'static str {
        "package"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        self.label.clone()
    }
    fn params(&self) -> Vec<u8> {
        let slots: Vec<Value> = self
            .slots
            .iter()
            .map(|s| {
                json!({
                    "id": s.id, "source": s.source, "target": s.target, "codec": s.codec.name(),
                    "purpose": s.purpose, "lifecycle": s.lifecycle, "permissions": s.permissions,
                })
            })
            .collect();
        let metadata = serde_json::to_value(self.metadata()).unwrap_or_default();
        super::canonical(&json!({
            "metadata": metadata,
            "slots": slots,
            "public_key": hex::encode(self.key.verifying_key().as_bytes()),
            "pspf": env!("CARGO_PKG_VERSION"),
        }))
    }
    fn inputs(&self) -> Vec<Input> {
        let mut inputs = vec![self.launcher.clone()];
        for s in &self.slots {
            inputs.push(s.stored.clone());
            inputs.push(s.decoded.clone());
        }
        inputs.extend(self.facts.iter().cloned());
        inputs
    }
    fn output_count(&self) -> usize {
        1
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let inputs = ctx.inputs().to_vec();
        write_package(self.spec(&inputs)?, ctx.output(0))
            .map_err(|e| ActionError::new(format!("{}: {e}", self.label)))?;
        Ok(())
    }

    /// A package from a shared cache is used only if it is byte for byte the package this
    /// action would write from its own inputs — which also means it verifies against this
    /// build's public key: a poisoned entry cannot hand over someone else's package, nor an
    /// older package of ours.
    fn vet_remote_outputs(&self, inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<(), String> {
        let package = outputs.first().ok_or("no package")?;
        let own_key = self.key.verifying_key();
        let report = pspf::verify::verify_file(
            package,
            &pspf::verify::VerifyOptions {
                trusted_keys: vec![own_key.into()],
                skip_slots: true,
            },
        );
        if let Some(failure) = report.failures().next() {
            return Err(format!(
                "the package does not verify against this build's key: {failure}"
            ));
        }
        let spec = self.spec(inputs).map_err(|e| e.message)?;
        let plan = plan_package(spec).map_err(|e| e.to_string())?;
        plan.check_file(package)
            .map_err(|why| format!("the package is not this build's: {why}"))
    }
}

impl PackageAction {
    /// What to write, from the action's input files (launcher, then each slot's stored and
    /// decoded inputs).
    fn spec<'a>(&'a self, inputs: &'a [PathBuf]) -> Result<PackageSpec<'a>, ActionError> {
        let input = |i: usize| {
            inputs
                .get(i)
                .ok_or_else(|| ActionError::new(format!("{}: input {i} is missing", self.label)))
        };
        let mut slots = Vec::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let decoded = input(2 + 2 * i)?;
            let (decoded_size, stored_sha256) = if s.decoded_size_file {
                let summary = SlotSummary::read(decoded)
                    .map_err(|e| ActionError::new(format!("slot {}: {e}", s.id)))?;
                (summary.decoded_size, Some(summary.stored_sha256))
            } else {
                (std::fs::metadata(decoded)?.len(), None)
            };
            slots.push(SlotInput {
                id: s.id.clone(),
                source: s.source.clone(),
                target: s.target.clone(),
                codec: s.codec,
                stored: input(1 + 2 * i)?.clone(),
                stored_sha256,
                decoded_size,
                purpose: s.purpose,
                lifecycle: s.lifecycle,
                permissions: s.permissions,
            });
        }
        let mut metadata = self.metadata();
        let facts_from = 1 + 2 * self.slots.len();
        let mut min_glibc: Option<(GlibcVersion, String)> = None;
        for i in 0..self.facts.len() {
            let facts = super::python::read_facts(input(facts_from + i)?)?;
            let Some(text) = facts.min_glibc else {
                continue;
            };
            let version = GlibcVersion::parse(&text).ok_or_else(|| {
                ActionError::new(format!("{}: bad glibc version {text:?}", self.label))
            })?;
            if min_glibc.as_ref().is_none_or(|(v, _)| version > *v) {
                min_glibc = Some((version, text));
            }
        }
        if let Some((_, text)) = min_glibc {
            metadata
                .runtime
                .get_or_insert_with(Runtime::default)
                .min_glibc = Some(text);
        }
        Ok(PackageSpec {
            launcher: input(0)?,
            metadata,
            slots,
            key: &self.key,
        })
    }
}
