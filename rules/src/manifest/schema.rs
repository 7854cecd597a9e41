//! The `flavor.toml` schema: every key, its TOML type and its allowed values, as serde types.
//!
//! This is the one place keys are defined. Reading (`de`) reports keys these types do not
//! have, values of the wrong type and unknown vocabulary values, all in one run; `lower` turns
//! the tables into the [model](super::model) and reports missing required keys (they are
//! `Option` here so that every missing one is found, not just the first). Adding a key: add
//! a field here (the compiler then asks for it to be read in `lower`) and document it in
//! `flavor.toml.example`.

use super::model::{Bytecode, Signing, Spanned, WorkspaceMembers};
use pspf::metadata::RuntimeEnv;
use pspf::setup::SetupKind;
use pspf::{Codec, Lenient, Lifecycle, Platform, Purpose, Term};
use serde::Deserialize;
use serde::de::{Deserializer, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// A list of strings with their spans.
pub(super) type Strings = Vec<Spanned<String>>;

/// A whole `flavor.toml`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ManifestToml {
    pub package: Option<Spanned<PackageToml>>,
    pub execution: Option<Spanned<ExecutionToml>>,
    pub runtime: Option<RuntimeToml>,
    pub workenv: Option<WorkenvToml>,
    #[serde(deserialize_with = "tables")]
    pub slot: Vec<Spanned<SlotToml>>,
    #[serde(deserialize_with = "tables")]
    pub step: Vec<Spanned<StepToml>>,
    #[serde(deserialize_with = "tables")]
    pub setup: Vec<Spanned<SetupToml>>,
    pub signing: Option<Signing>,
    #[serde(deserialize_with = "tables")]
    pub target: Vec<Spanned<TargetToml>>,
    pub workspace: Option<WorkspaceMembers>,
    pub cache: Option<CacheToml>,
    pub python: Option<Spanned<PythonToml>>,
    pub remote: Option<RemoteToml>,
}

/// `[package]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct PackageToml {
    /// Required.
    pub name: Option<Spanned<String>>,
    /// Required.
    pub version: Option<Spanned<String>>,
    pub description: Option<String>,
    #[serde(deserialize_with = "strings")]
    pub allow_sources_outside: Strings,
}

/// `[execution]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ExecutionToml {
    /// Required.
    pub command: Option<Spanned<String>>,
    pub env: BTreeMap<String, String>,
}

/// `[runtime]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RuntimeToml {
    pub env: Option<RuntimeEnv>,
}

/// `[workenv]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct WorkenvToml {
    #[serde(deserialize_with = "tables")]
    pub directories: Vec<Spanned<WorkenvDirToml>>,
    pub env: BTreeMap<String, String>,
}

/// One `workenv.directories` entry.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct WorkenvDirToml {
    /// Required.
    pub path: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
}

/// `[[slot]]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SlotToml {
    /// Required.
    pub id: Option<Spanned<String>>,
    /// One of `source` and `step` is required.
    pub source: Option<Spanned<String>>,
    pub step: Option<Spanned<String>>,
    pub target: Option<Spanned<String>>,
    #[serde(deserialize_with = "word")]
    pub codec: Option<Spanned<Lenient<Codec>>>,
    pub level: Option<Spanned<i64>>,
    #[serde(deserialize_with = "strings")]
    pub include: Strings,
    #[serde(deserialize_with = "strings")]
    pub exclude: Strings,
    #[serde(deserialize_with = "word")]
    pub lifecycle: Option<Spanned<Lenient<Lifecycle>>>,
    pub permissions: Option<Spanned<String>>,
    #[serde(deserialize_with = "word")]
    pub purpose: Option<Spanned<Lenient<Purpose>>>,
}

/// `[[step]]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct StepToml {
    /// Required.
    pub id: Option<Spanned<String>>,
    /// Required.
    pub command: Option<Spanned<String>>,
    #[serde(deserialize_with = "strings")]
    pub inputs: Strings,
    #[serde(deserialize_with = "outputs")]
    pub outputs: Vec<Spanned<OutputToml>>,
    pub env: BTreeMap<String, String>,
    #[serde(deserialize_with = "strings")]
    pub pass_env: Strings,
    pub cwd: Option<Spanned<String>>,
    #[serde(deserialize_with = "strings")]
    pub needs: Strings,
    pub sandbox: Option<bool>,
    #[serde(deserialize_with = "strings")]
    pub tools: Strings,
}

/// One of a step's `outputs`: a path, or a table saying where it lands in a slot.
pub(super) enum OutputToml {
    Path(String),
    Table(OutputTableToml),
}

/// `{ path = "out/bin/rg", to = "rg" }` or `{ path = "out", strip_prefix = "out" }`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct OutputTableToml {
    /// Required.
    pub path: Option<Spanned<String>>,
    pub to: Option<Spanned<String>>,
    pub strip_prefix: Option<Spanned<String>>,
}

impl<'de> Deserialize<'de> for OutputToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Output;
        impl<'de> Visitor<'de> for Output {
            type Value = OutputToml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a path, or a table { path, to | strip_prefix }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OutputToml, E> {
                Ok(OutputToml::Path(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<OutputToml, A::Error> {
                let table = OutputTableToml::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(OutputToml::Table(table))
            }
        }
        d.deserialize_any(Output)
    }
}

/// `[[setup]]`: the fields every type may have; `lower` checks which the type needs.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SetupToml {
    /// Required.
    #[serde(rename = "type", deserialize_with = "word")]
    pub kind: Option<Spanned<Lenient<SetupKind>>>,
    pub command: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub content: Option<String>,
    pub mode: Option<Spanned<ModeToml>>,
    pub enumerate: Option<Spanned<EnumerateToml>>,
}

/// A setup command's `mode`: an octal string, or an integer (the mode's value, 0 to 0o7777).
pub(super) enum ModeToml {
    Octal(String),
    Number(u32),
}

impl<'de> Deserialize<'de> for ModeToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Mode;
        impl Visitor<'_> for Mode {
            type Value = ModeToml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an octal string such as \"0755\", or an integer")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ModeToml, E> {
                Ok(ModeToml::Octal(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ModeToml, E> {
                u32::try_from(v)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .map(ModeToml::Number)
                    .ok_or_else(|| {
                        E::invalid_value(serde::de::Unexpected::Signed(v), &"a mode from 0 to 4095")
                    })
            }
        }
        d.deserialize_any(Mode)
    }
}

/// A setup command's `enumerate` table.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct EnumerateToml {
    /// Required.
    pub path: Option<String>,
    pub pattern: Option<String>,
}

/// `[[target]]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct TargetToml {
    /// Required.
    pub name: Option<Spanned<String>>,
    #[serde(deserialize_with = "word")]
    pub platform: Option<Spanned<Lenient<Platform>>>,
    pub output: Option<Spanned<String>>,
    pub launcher: Option<Spanned<String>>,
    /// Slot id → the codec that slot has in this target's package.
    pub codecs: BTreeMap<String, Spanned<String>>,
}

/// `[python]`: a Python application from a pyproject (see `crate::python`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct PythonToml {
    pub project: Option<Spanned<String>>,
    pub entry: Option<Spanned<String>>,
    pub lock: Option<Spanned<String>>,
    /// Required.
    pub interpreter: Option<Spanned<InterpreterToml>>,
    #[serde(deserialize_with = "word")]
    pub bytecode: Option<Spanned<Lenient<Bytecode>>>,
    #[serde(deserialize_with = "strings")]
    pub exclude: Strings,
}

/// `python.interpreter`: a path, or a table with `url` + `sha256`, or `uv`. The table's keys
/// are read here (not by serde's derive) so that a wrong or unknown key gets a clear message.
pub(super) enum InterpreterToml {
    Archive(String),
    Table {
        url: Option<String>,
        sha256: Option<String>,
        uv: Option<String>,
    },
}

impl<'de> Deserialize<'de> for InterpreterToml {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Interp;
        impl<'de> Visitor<'de> for Interp {
            type Value = InterpreterToml;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an archive path, { url = \"…\", sha256 = \"…\" } or { uv = \"3.12\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<InterpreterToml, E> {
                Ok(InterpreterToml::Archive(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<InterpreterToml, A::Error> {
                let (mut url, mut sha256, mut uv) = (None, None, None);
                while let Some(k) = map.next_key::<String>()? {
                    let slot = match k.as_str() {
                        "url" => &mut url,
                        "sha256" => &mut sha256,
                        "uv" => &mut uv,
                        _ => {
                            return Err(serde::de::Error::unknown_field(
                                &k,
                                &["url", "sha256", "uv"],
                            ));
                        }
                    };
                    *slot = Some(map.next_value::<String>()?);
                }
                Ok(InterpreterToml::Table { url, sha256, uv })
            }
        }
        d.deserialize_any(Interp)
    }
}

/// `[cache]`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CacheToml {
    pub remote: Option<Spanned<String>>,
    pub token_env: Option<Spanned<String>>,
    pub read_only: bool,
}

/// `[remote]`: remote execution.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RemoteToml {
    pub execution: Option<Spanned<String>>,
    pub instance: Option<String>,
    pub jobs: Option<Spanned<i64>>,
    pub platform: BTreeMap<String, String>,
    pub timeout: Option<Spanned<i64>>,
    pub token_env: Option<Spanned<String>>,
}

/// A vocabulary value as a manifest spells it: canonically or by a flavor alias; an upstream
/// spelling (`cached`) is unknown here, so that it is reported with the right one.
fn word<'de, D: Deserializer<'de>, T: Term>(d: D) -> Result<Option<Spanned<Lenient<T>>>, D::Error> {
    let s = Spanned::<String>::deserialize(d)?;
    Ok(Some(Spanned::new(Lenient::parse_flavor(&s.value), s.span)))
}

/// An array of strings (so that a wrong type is reported as "must be an array of strings").
fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Strings, D::Error> {
    d.deserialize_seq(ListOf(PhantomData, "an array of strings"))
}

/// A step's `outputs`: an array of paths or tables.
fn outputs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Spanned<OutputToml>>, D::Error> {
    d.deserialize_seq(ListOf(PhantomData, "an array of paths or tables"))
}

/// An array of tables (`[[slot]]`, or an inline array of inline tables).
fn tables<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    d.deserialize_seq(ListOf(PhantomData, "an array of tables"))
}

/// Visits a TOML array of `T`, expecting what the second field says.
struct ListOf<T>(PhantomData<T>, &'static str);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ListOf<T> {
    type Value = Vec<T>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(out)
    }
}
