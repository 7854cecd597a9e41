//! The package metadata: gzip-compressed JSON, signed as the exact uncompressed bytes.
//!
//! Reading is lenient (PSPF.md §5): only `package.name`, `package.version`,
//! `execution.command` and each slot's `target` or `id` are required; `execution.environment`
//! is accepted for `env`, `null` permissions, missing `primary_slot`, missing `build` and unknown
//! keys are fine. Writing is canonical: pretty JSON, two-space indent, object keys sorted, then
//! gzip level 9 with mtime 0, so the same metadata always gives the same bytes.

use crate::error::{Error, Result};
use crate::ops::Codec;
use crate::platform::Platform;
use crate::setup::SetupEntry;
use crate::vocabulary::{Lenient, Lifecycle, Purpose, Term};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;

/// Largest uncompressed metadata a reader accepts (4 MiB; the upstream Rust verifier accepts
/// 1 MiB). Bounds what is decompressed and parsed, whatever the compressed bytes claim.
pub const MAX_METADATA_JSON: u64 = 4 * 1024 * 1024;

/// The whole metadata document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    /// Format name (`PSPF/2025`).
    #[serde(default)]
    pub format: String,
    /// Format version string as the writer recorded it.
    #[serde(default, deserialize_with = "lenient_string")]
    pub format_version: String,
    /// Name, version and description of the package.
    pub package: PackageInfo,
    /// One entry per slot, in descriptor order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub slots: Vec<SlotMetadata>,
    /// The command the launcher runs and its environment.
    pub execution: Execution,
    /// Writer-specific verification notes (kept, not acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Value>,
    /// Build information (tool, time, platform); informational.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Value>,
    /// Informational only: swapping a package's launcher leaves it stale; never act on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launcher: Option<Value>,
    /// Writer-specific compatibility notes (kept, not acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<Value>,
    /// Upstream cache-validation settings (kept, not acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_validation: Option<Value>,
    /// The launcher's environment policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Runtime>,
    /// Directories and environment of the work environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workenv: Option<Workenv>,
    /// Setup commands, run by the first launch (a malformed entry is kept with its problem).
    #[serde(default, deserialize_with = "null_as_default")]
    pub setup_commands: Vec<SetupEntry>,
}

/// `package{name, version, description}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PackageInfo {
    /// Package name.
    pub name: String,
    /// Package version.
    #[serde(deserialize_with = "lenient_string")]
    pub version: String,
    /// One-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One entry of `slots[]`, in descriptor order.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SlotMetadata {
    /// Slot number.
    #[serde(default)]
    pub slot: u64,
    /// Slot id.
    #[serde(default, deserialize_with = "lenient_string")]
    pub id: String,
    /// Where the writer took the slot from (informational).
    #[serde(default, deserialize_with = "lenient_string")]
    pub source: String,
    /// Where the slot lands in the work environment.
    #[serde(default, deserialize_with = "lenient_string")]
    pub target: String,
    /// Stored (encoded) size.
    #[serde(default)]
    pub size: u64,
    /// Size after decoding, recorded by flavor: readers stop decoding the slot there.
    /// Upstream writers record none (their slots are verified before they are decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded_size: Option<u64>,
    /// `sha256:<64 hex>` of the stored bytes (Python's `_attestation` slot: 16 bare hex digits).
    #[serde(default, deserialize_with = "lenient_string")]
    pub checksum: String,
    /// The codec by name (the descriptor's op chain is what readers decode by).
    #[serde(default, deserialize_with = "lenient_term")]
    pub operations: Lenient<Codec>,
    /// What the slot is for.
    #[serde(default, deserialize_with = "lenient_term")]
    pub purpose: Lenient<Purpose>,
    /// What launchers act on (`init`, `volatile`); unknown values behave like `runtime`.
    #[serde(default, deserialize_with = "lenient_term")]
    pub lifecycle: Lenient<Lifecycle>,
    /// Octal mode string such as `"0755"`; `None` when absent or `null`.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub permissions: Option<String>,
    /// Upstream resolution hint (kept, not acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// True for an upstream `$SELF` slot: it has no bytes and refers to the package itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_ref: Option<bool>,
}

/// `execution{primary_slot, command, env}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Execution {
    /// The slot holding the program (upstream writers record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_slot: Option<u64>,
    /// The command line, with `{workenv}` placeholders.
    pub command: String,
    /// Environment variables set for the command.
    #[serde(default, alias = "environment", deserialize_with = "null_as_default")]
    pub env: BTreeMap<String, String>,
}

/// `runtime{env}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Runtime {
    /// The environment policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<RuntimeEnv>,
}

/// `runtime.env{unset, pass, set, map}`: the launcher's environment policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RuntimeEnv {
    /// Variables (or `*` patterns) removed from the environment.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub unset: Vec<String>,
    /// Variables (or patterns) kept even when unset would remove them.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub pass: Vec<String>,
    /// Variables set to a value.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub set: BTreeMap<String, String>,
    /// Variables renamed: old name → new name.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub map: BTreeMap<String, String>,
}

/// `workenv{directories, env}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Workenv {
    /// Directories created in the work environment.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub directories: Vec<WorkenvDirectory>,
    /// Variables set for setup commands and the command.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub env: BTreeMap<String, String>,
}

/// One directory the launcher creates in the workenv.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WorkenvDirectory {
    /// Path, with `{workenv}` placeholders; must stay inside the work environment.
    pub path: String,
    /// Octal mode string such as `"0700"`.
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn value_to_string(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => Some(other.to_string()),
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(value_to_string(Value::deserialize(d)?).unwrap_or_default())
}

/// A vocabulary field read leniently: any scalar is taken as its text; null is absent.
fn lenient_term<'de, D: Deserializer<'de>, T: Term>(
    d: D,
) -> std::result::Result<Lenient<T>, D::Error> {
    Ok(value_to_string(Value::deserialize(d)?)
        .map(|s| Lenient::parse(&s))
        .unwrap_or_default())
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(value_to_string(Value::deserialize(d)?))
}

impl SlotMetadata {
    /// Where the slot lands, as recorded (`target`, or the `id` when a writer left it out).
    pub fn destination(&self) -> &str {
        if self.target.is_empty() {
            &self.id
        } else {
            &self.target
        }
    }

    /// The full SHA-256 this entry records for the stored bytes, when it records one
    /// (`sha256:<64 hex>`).
    pub fn sha256(&self) -> Option<[u8; 32]> {
        let hex_part = self.checksum.strip_prefix("sha256:")?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut out).ok()?;
        Some(out)
    }

    /// Whether `digest` (the SHA-256 of the stored bytes) matches what this entry records.
    /// `None` when the entry records nothing checkable. A bare hex string (Python's
    /// `_attestation` slot writes 16 digits) is compared as a prefix of the hex digest.
    pub fn digest_matches(&self, digest: &[u8; 32]) -> Option<bool> {
        if let Some(full) = self.sha256() {
            return Some(&full == digest);
        }
        let c = self.checksum.trim();
        let bare = c.strip_prefix("sha256:").unwrap_or(c);
        if bare.len() >= 16
            && bare.len() <= 64
            && bare.len().is_multiple_of(2)
            && bare.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Some(hex::encode(digest).starts_with(&bare.to_ascii_lowercase()));
        }
        None
    }

    /// Permissions as a number, when the string is a valid octal mode.
    pub fn mode(&self) -> Option<u32> {
        parse_mode(self.permissions.as_deref()?)
    }
}

/// Parse an octal mode string (`"0755"`, `"755"`, `"0o755"`); `None` when it is not one.
pub fn parse_mode(s: &str) -> Option<u32> {
    let t = s.trim();
    let t = t.strip_prefix("0o").unwrap_or(t);
    if t.is_empty() || t.len() > 6 {
        return None;
    }
    u32::from_str_radix(t, 8).ok().filter(|m| *m <= 0o7777)
}

impl Metadata {
    /// Parse metadata JSON bytes leniently and check the fields every reader needs.
    pub fn from_json(bytes: &[u8]) -> Result<Metadata> {
        let meta: Metadata = serde_json::from_slice(bytes).map_err(Error::metadata)?;
        if meta.package.name.is_empty() {
            return Err(Error::metadata("package.name is missing or empty"));
        }
        if meta.execution.command.trim().is_empty() {
            return Err(Error::metadata("execution.command is missing or empty"));
        }
        for (i, slot) in meta.slots.iter().enumerate() {
            if slot.destination().is_empty() {
                return Err(Error::metadata(format!(
                    "slots[{i}] has neither a target nor an id"
                )));
            }
        }
        Ok(meta)
    }

    /// Every value no vocabulary knows (a slot's unknown lifecycle, purpose or codec name, a
    /// setup command flavor cannot run), as messages naming where it is. Readers keep such
    /// values instead of failing; `inspect` and `verify` report them.
    pub fn unrecognised(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, s) in self.slots.iter().enumerate() {
            let terms = [
                ("operations", s.operations.unrecognised()),
                ("purpose", s.purpose.unrecognised()),
                ("lifecycle", s.lifecycle.unrecognised()),
            ];
            for (field, problem) in terms {
                if let Some(p) = problem {
                    out.push(format!("slots[{i}] ({}).{field}: {p}", s.id));
                }
            }
        }
        for (i, entry) in self.setup_commands.iter().enumerate() {
            if let SetupEntry::Invalid { problem, .. } = entry {
                out.push(format!("setup_commands[{i}]: {problem}"));
            }
        }
        out
    }

    /// The platform `build.platform` names (its `os` and `arch`, as any writer spells
    /// them); `None` when it names none or one that is not a [`Platform`].
    pub fn platform(&self) -> Option<Platform> {
        let p = self.build.as_ref()?.get("platform")?;
        Platform::from_os_arch(p.get("os")?.as_str()?, p.get("arch")?.as_str()?)
    }

    /// Record `platform` in `build.platform` (`os`, `arch`, and an empty `host`: which machine
    /// built a package is not part of it), keeping the rest of `build`.
    pub fn set_platform(&mut self, platform: Platform) {
        let value = serde_json::json!({"os": platform.os(), "arch": platform.arch(), "host": ""});
        match &mut self.build {
            Some(Value::Object(build)) => {
                build.insert("platform".into(), value);
            }
            build => *build = Some(serde_json::json!({ "platform": value })),
        }
    }

    /// Canonical JSON: pretty, two-space indent, object keys sorted at every level.
    pub fn to_canonical_json(&self) -> Result<Vec<u8>> {
        let value = serde_json::to_value(self).map_err(Error::metadata)?;
        canonical_json(&value)
    }
}

/// Serialise any JSON value canonically (pretty, sorted keys), independent of serde_json's
/// `preserve_order` feature.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>> {
    struct Sorted<'a>(&'a Value);
    impl Serialize for Sorted<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            use serde::ser::{SerializeMap, SerializeSeq};
            match self.0 {
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    let mut m = s.serialize_map(Some(keys.len()))?;
                    for k in keys {
                        m.serialize_entry(k, &Sorted(&map[k]))?;
                    }
                    m.end()
                }
                Value::Array(items) => {
                    let mut seq = s.serialize_seq(Some(items.len()))?;
                    for item in items {
                        seq.serialize_element(&Sorted(item))?;
                    }
                    seq.end()
                }
                other => other.serialize(s),
            }
        }
    }
    serde_json::to_vec_pretty(&Sorted(value)).map_err(Error::metadata)
}

/// Decompress gzip metadata, refusing more than [`MAX_METADATA_JSON`] bytes.
pub fn gunzip_metadata(gz: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(MAX_METADATA_JSON + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::metadata(format!("gzip: {e}")))?;
    if out.len() as u64 > MAX_METADATA_JSON {
        return Err(Error::metadata(format!(
            "it decompresses to more than {MAX_METADATA_JSON} bytes, the most a reader accepts"
        )));
    }
    Ok(out)
}

/// Gzip metadata JSON as flavor stores it: level 9, mtime 0, no file name.
#[cfg(feature = "write")]
pub fn gzip_metadata(json: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(json);
    enc.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_reader_accepts_upstream_variants() {
        let json = br#"{
            "format": "PSPF/2025", "format_version": "",
            "package": {"name": "p", "version": "1"},
            "slots": [{"slot": 0, "id": "a", "target": "{workenv}/a", "permissions": null,
                       "checksum": "a648687acb80e778", "unknown": [1,2]}],
            "execution": {"command": "x", "environment": {"K": "V"}},
            "build": {"platform": {"os": "linux"}},
            "surprise": true
        }"#;
        let m = Metadata::from_json(json).unwrap();
        assert_eq!(m.execution.env["K"], "V");
        assert_eq!(m.slots[0].permissions, None);
        assert_eq!(m.execution.primary_slot, None);
    }

    #[test]
    fn unknown_vocabulary_is_kept_and_reported() {
        let json = br#"{
            "package": {"name": "p", "version": "1"},
            "slots": [{"id": "a", "target": "x", "lifecycle": "hibernate", "purpose": "code",
                       "operations": "tar,bzip2"},
                      {"id": "b", "target": "y", "lifecycle": "cached", "purpose": 7}],
            "execution": {"command": "x"},
            "setup_commands": [{"type": "shell", "command": "true"}]
        }"#;
        let m = Metadata::from_json(json).unwrap();
        assert_eq!(m.slots[0].lifecycle, Lenient::Unknown("hibernate".into()));
        assert!(m.slots[1].lifecycle.is(Lifecycle::Cache));
        assert_eq!(m.slots[0].purpose, Lenient::Known(Purpose::Code));
        assert_eq!(m.slots[1].purpose.as_str(), "7");
        let report = m.unrecognised();
        assert_eq!(report.len(), 4, "{report:?}");
        assert!(report[0].starts_with("slots[0] (a).operations: unknown codec `tar,bzip2`"));
        assert!(report[1].starts_with("slots[0] (a).lifecycle: unknown lifecycle `hibernate`"));
        assert!(report[2].starts_with("slots[1] (b).purpose: unknown purpose `7`"));
        assert!(report[3].starts_with("setup_commands[0]: unknown type \"shell\""));
    }

    #[test]
    fn missing_required_fields_are_named() {
        let err = Metadata::from_json(
            br#"{"package":{"name":"p","version":"1"},"execution":{"command":""}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("execution.command"), "{err}");
        let err =
            Metadata::from_json(br#"{"package":{"version":"1"},"execution":{"command":"x"}}"#)
                .unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b": {"z": 1, "a": [{"y": 2, "x": 3}]}, "a": 0}"#).unwrap();
        let out = String::from_utf8(canonical_json(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\n  \"a\": 0,\n  \"b\": {\n    \"a\": [\n      {\n        \"x\": 3,\n        \"y\": 2\n      }\n    ],\n    \"z\": 1\n  }\n}"
        );
    }

    #[test]
    fn gzip_is_deterministic_and_round_trips() {
        let a = gzip_metadata(b"{}");
        assert_eq!(a, gzip_metadata(b"{}"));
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime must be zero");
        assert_eq!(gunzip_metadata(&a).unwrap(), b"{}");
    }

    #[test]
    fn digest_matching_handles_full_and_short_forms() {
        let digest = [0xab; 32];
        let mut s = SlotMetadata {
            checksum: format!("sha256:{}", hex::encode(digest)),
            ..Default::default()
        };
        assert_eq!(s.digest_matches(&digest), Some(true));
        assert_eq!(s.digest_matches(&[0; 32]), Some(false));
        s.checksum = "abababababababab".into();
        assert_eq!(s.digest_matches(&digest), Some(true));
        s.checksum = "whatever".into();
        assert_eq!(s.digest_matches(&digest), None);
    }

    #[test]
    fn the_platform_is_read_from_any_writer_and_recorded_in_build() {
        let read = |build: &str| {
            let json = format!(
                r#"{{"package": {{"name": "p", "version": "1"}}, "execution": {{"command": "x"}}, "build": {build}}}"#
            );
            Metadata::from_json(json.as_bytes()).unwrap().platform()
        };
        let ours = r#"{"platform": {"os": "linux", "arch": "aarch64", "host": ""}}"#;
        assert_eq!(read(ours), Some(Platform::LinuxAarch64));
        let go = r#"{"platform": {"os": "darwin", "arch": "arm64"}}"#;
        assert_eq!(read(go), Some(Platform::DarwinArm64));
        assert_eq!(
            read(r#"{"platform": {"os": "plan9", "arch": "x86_64"}}"#),
            None
        );
        assert_eq!(read(r#"{"tool": "x"}"#), None);

        let mut m = Metadata {
            build: Some(serde_json::json!({"tool": "flavor"})),
            ..Default::default()
        };
        m.set_platform(Platform::WindowsX86_64);
        assert_eq!(m.platform(), Some(Platform::WindowsX86_64));
        let build = m.build.as_ref().unwrap();
        assert_eq!(build["tool"], "flavor");
        assert_eq!(build["platform"]["os"], "windows");
        assert_eq!(build["platform"]["arch"], "x86_64");
        assert_eq!(build["platform"]["host"], "");
        let mut bare = Metadata::default();
        bare.set_platform(Platform::LinuxX86_64);
        assert_eq!(bare.platform(), Some(Platform::LinuxX86_64));
    }

    #[test]
    fn modes_parse() {
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("755"), Some(0o755));
        assert_eq!(parse_mode("0"), Some(0));
        assert_eq!(parse_mode("9"), None);
        assert_eq!(parse_mode(""), None);
    }
}
