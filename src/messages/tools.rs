//! The `--json` documents of the commands that work on package files and keys: `inspect`,
//! `verify`, `extract`/`extract-all`, `keygen`, `key trust`, `key list` and `import`.

use std::path::PathBuf;

use pspf::keys::{Fingerprint, VerifyingKey};
use serde::Serialize;

use super::{lossy, lossy_opt};

/// A public key as `--json` names it: its fingerprint and its raw bytes.
#[derive(Debug, Serialize)]
pub struct KeyNames {
    /// The SHA-256 of the raw public key, 64 hex digits (humans see its first 16).
    pub fingerprint: String,
    /// The raw 32-byte public key, 64 hex digits.
    pub public_key: String,
}

impl KeyNames {
    /// The names of a raw public key.
    pub fn of(public_key: &[u8; 32]) -> KeyNames {
        KeyNames {
            fingerprint: Fingerprint::of(public_key).to_hex(),
            public_key: hex::encode(public_key),
        }
    }
}

/// `flavor inspect --json`.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// The package file.
    #[serde(serialize_with = "lossy")]
    pub package: PathBuf,
    /// Its size.
    pub file_size: u64,
    /// The platform its metadata records (`build.platform`), if any.
    pub platform: Option<pspf::Platform>,
    /// The launcher in front, as read from its executable header; `None` when it is no
    /// executable flavor recognises.
    pub launcher: Option<InspectedLauncher>,
    /// The index fields (pspf's summary), its signature and which writer's layout it has.
    pub index: IndexSummary,
    /// The key that signed it.
    pub key: KeyNames,
    /// Every slot: descriptor and metadata side by side.
    pub slots: Vec<InspectedSlot>,
    /// The metadata JSON as stored.
    pub metadata: serde_json::Value,
    /// True if the upstream FlavorPack launchers can run it.
    pub upstream_compatible: bool,
    /// Why they cannot, one entry per broken rule.
    pub upstream_incompatibilities: Vec<Incompatibility>,
}

/// The launcher block of `inspect --json`.
#[derive(Debug, Serialize)]
pub struct InspectedLauncher {
    /// `flavor`, `flavorpack-rust` or `flavorpack-go`: whose launcher it is.
    pub kind: &'static str,
    /// The platform its header says it runs on.
    pub platform: pspf::Platform,
    /// `ELF`, `Mach-O` or `PE`.
    pub format: &'static str,
    /// Statically linked (`null` when the header does not tell).
    #[serde(rename = "static")]
    pub is_static: Option<bool>,
    /// The codecs it decodes.
    pub codecs: Vec<&'static str>,
    /// Its size in bytes.
    pub size: u64,
}

/// The index block of `inspect --json`.
#[derive(Debug, Serialize)]
pub struct IndexSummary {
    /// `format_version`, checksums, offsets, sizes, `public_key`, `key_fingerprint` (as the
    /// index stores it), … (see [`pspf::Index::summary_json`]).
    #[serde(flatten)]
    pub fields: serde_json::Value,
    /// The Ed25519 signature, hex.
    pub signature: String,
    /// `rust/python` or `go`: which writers' hint fields it carries.
    pub layout: &'static str,
}

/// One slot in `inspect --json`.
#[derive(Debug, Serialize)]
pub struct InspectedSlot {
    /// Its number.
    pub slot: usize,
    /// Its id (metadata); `null` when the metadata has no entry for it.
    pub id: Option<String>,
    /// Where it lands in the workenv (metadata).
    pub target: Option<String>,
    /// The codec its operations spell (`ops 0x…` when unknown).
    pub codec: String,
    /// The descriptor's operation chain, hex.
    pub operations: String,
    /// Offset of its stored bytes in the file.
    pub offset: u64,
    /// Stored size.
    pub size: u64,
    /// Decoded size as the descriptor records it (unsigned).
    pub original_size: u64,
    /// Decoded size as the signed metadata records it, if it does.
    pub decoded_size: Option<u64>,
    /// The descriptor's checksum, hex.
    pub checksum: String,
    /// Descriptor hint bytes.
    pub purpose: u8,
    /// Descriptor lifecycle byte.
    pub lifecycle: u8,
    /// The metadata's lifecycle name.
    pub lifecycle_name: Option<String>,
    /// Descriptor hint byte.
    pub priority: u8,
    /// Descriptor hint byte.
    pub platform: u8,
    /// Mode, octal.
    pub permissions: String,
    /// The descriptor's name hash, hex.
    pub name_hash: String,
}

/// A rule of the upstream launchers a package breaks.
#[derive(Debug, Serialize)]
pub struct Incompatibility {
    /// Which launchers (`all`, `rust-0.3.0`, …).
    pub launchers: &'static str,
    /// The rule (`codec`, `symlink`, …).
    pub rule: &'static str,
    /// What breaks it.
    pub detail: String,
}

impl From<&pspf::compat::Incompatibility> for Incompatibility {
    fn from(c: &pspf::compat::Incompatibility) -> Self {
        Incompatibility {
            launchers: c.launchers,
            rule: c.rule,
            detail: c.detail.clone(),
        }
    }
}

/// `flavor verify --json`.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// The package file.
    #[serde(serialize_with = "lossy")]
    pub package: PathBuf,
    /// True if every check passed.
    pub ok: bool,
    /// Every check, in the order they ran.
    pub checks: Vec<VerifyCheck>,
}

/// One check of `verify --json`.
#[derive(Debug, Serialize)]
pub struct VerifyCheck {
    /// Its stable name (`signature`, `slot_digest`, …).
    pub check: &'static str,
    /// The slot it is about, if any.
    pub slot: Option<usize>,
    /// That slot's id.
    pub slot_id: Option<String>,
    /// `pass`, `fail` or `skip`.
    pub status: CheckStatus,
    /// Why it failed or was skipped.
    pub detail: Option<String>,
    /// The kind of failure (pspf's `ErrorKind`), for a failed check.
    pub kind: Option<String>,
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// It passed.
    Pass,
    /// It failed.
    Fail,
    /// It was not made.
    Skip,
}

impl VerifyCheck {
    /// The message of a check of pspf's report.
    pub fn of(c: &pspf::verify::Check) -> VerifyCheck {
        use pspf::verify::Outcome;
        let (status, detail, kind) = match &c.outcome {
            Outcome::Pass => (CheckStatus::Pass, None, None),
            Outcome::Fail(e) => (
                CheckStatus::Fail,
                Some(e.to_string()),
                Some(format!("{:?}", e.kind())),
            ),
            Outcome::Skipped(why) => (CheckStatus::Skip, Some(why.clone()), None),
        };
        VerifyCheck {
            check: c.name,
            slot: c.slot.as_ref().map(|s| s.0),
            slot_id: c.slot.as_ref().map(|s| s.1.clone()),
            status,
            detail,
            kind,
        }
    }
}

/// `flavor extract --json` and `flavor extract-all --json`.
#[derive(Debug, Serialize)]
pub struct ExtractReport {
    /// The package file.
    #[serde(serialize_with = "lossy")]
    pub package: PathBuf,
    /// The directory created.
    #[serde(serialize_with = "lossy")]
    pub dir: PathBuf,
    /// The slots written into it.
    pub slots: Vec<ExtractedSlot>,
}

/// One slot `extract` wrote.
#[derive(Debug, Serialize)]
pub struct ExtractedSlot {
    /// Its number.
    pub slot: usize,
    /// Its id (its number when it has none).
    pub id: String,
    /// Its codec.
    pub codec: String,
    /// Where it landed: DIR for an archive, DIR/<target> for a file.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
}

/// `flavor keygen --json`.
#[derive(Debug, Serialize)]
pub struct KeygenOutcome {
    /// The private key file written.
    #[serde(serialize_with = "lossy")]
    pub private_key: PathBuf,
    /// The public key file written.
    #[serde(serialize_with = "lossy")]
    pub public_key: PathBuf,
    /// The raw public key, 64 hex digits.
    pub public_key_hex: String,
    /// Its fingerprint, 64 hex digits.
    pub fingerprint: String,
    /// The trusted-keys file written with `--trust`.
    #[serde(serialize_with = "lossy_opt")]
    pub trusted: Option<PathBuf>,
}

/// `flavor key trust --json`.
#[derive(Debug, Serialize)]
pub struct TrustOutcome {
    /// The key.
    #[serde(flatten)]
    pub key: KeyNames,
    /// Its file in the trusted-keys directory.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// True if it was trusted before.
    pub already_trusted: bool,
}

/// `flavor key list --json`.
#[derive(Debug, Serialize)]
pub struct TrustedKeys {
    /// The trusted-keys directory.
    #[serde(serialize_with = "lossy")]
    pub dir: PathBuf,
    /// Every file in it.
    pub keys: Vec<TrustedKeyFile>,
}

/// A file of the trusted-keys directory.
#[derive(Debug, Serialize)]
pub struct TrustedKeyFile {
    /// The file.
    #[serde(serialize_with = "lossy")]
    pub path: PathBuf,
    /// False if it holds no public key (launchers ignore it).
    pub valid: bool,
    /// The key's fingerprint (64 hex digits), when valid.
    pub fingerprint: Option<String>,
    /// The raw key (64 hex digits), when valid.
    pub public_key: Option<String>,
    /// True if it is the public half of your own signing key.
    pub yours: bool,
}

impl TrustedKeyFile {
    /// The entry for `path`, holding `key` if it is a valid public key.
    pub fn new(path: PathBuf, key: Option<&VerifyingKey>, yours: bool) -> TrustedKeyFile {
        let names = key.map(|k| KeyNames::of(k.as_bytes()));
        TrustedKeyFile {
            path,
            valid: key.is_some(),
            fingerprint: names.as_ref().map(|n| n.fingerprint.clone()),
            public_key: names.map(|n| n.public_key),
            yours,
        }
    }
}

/// `flavor import --json`.
#[derive(Debug, Serialize)]
pub struct ImportOutcome {
    /// The upstream JSON manifest read.
    #[serde(serialize_with = "lossy")]
    pub manifest: PathBuf,
    /// The `flavor.toml` written (`-o`), if any.
    #[serde(serialize_with = "lossy_opt")]
    pub output: Option<PathBuf>,
    /// The manifest's text.
    pub toml: String,
    /// What changed in the conversion, one line each.
    pub warnings: Vec<String>,
}
