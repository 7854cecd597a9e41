//! The exec plan: everything a warm launch needs, computed once by the first run, and the
//! validation levels it is verified at.
//!
//! The first run verifies the package, extracts it and then stores, as the completion marker
//! (`versions/<hash>.ready`), the index digest it verified plus the resolved command, argument
//! list and environment rules. A warm launch reads the trailer, compares its digest with the
//! plan, checks that the metadata bytes still match the index and that the command is still
//! there (a stat), and execs: no gunzip, no metadata parse, no signature check. A plan serves
//! only launches at a validation level no stricter than the one it was verified at, so a
//! workenv that a `relaxed` launch extracted from a damaged package is never run by a
//! `standard` one.

use crate::error::{Error, Result};
use pspf::metadata::RuntimeEnv;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bump when the plan's shape changes: an older plan is then ignored (re-extraction).
pub const EXEC_PLAN_VERSION: u32 = 1;

/// `FLAVOR_VALIDATION` levels, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Validation {
    /// Check nothing.
    None,
    /// Check, warn, go on.
    Minimal,
    /// Check, warn, go on.
    Relaxed,
    /// Refuse a package whose index, metadata, signature or any slot digest is wrong.
    Standard,
    /// `standard`, and the signing key must be trusted.
    Strict,
}

impl Validation {
    /// The level `FLAVOR_VALIDATION` asks for (`standard` when unset or unknown).
    pub fn from_env() -> Validation {
        Validation::parse(&std::env::var("FLAVOR_VALIDATION").unwrap_or_default())
            .unwrap_or(Validation::Standard)
    }

    /// A level from its name (case-insensitive); `None` for an unknown name.
    pub fn parse(name: &str) -> Option<Validation> {
        match name.to_ascii_lowercase().as_str() {
            "strict" => Some(Validation::Strict),
            "standard" => Some(Validation::Standard),
            "relaxed" => Some(Validation::Relaxed),
            "minimal" => Some(Validation::Minimal),
            "none" => Some(Validation::None),
            _ => None,
        }
    }

    /// Whether a failed check stops the launch.
    pub fn enforcing(self) -> bool {
        self >= Validation::Standard
    }

    /// The level's name, as `FLAVOR_VALIDATION` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Validation::None => "none",
            Validation::Minimal => "minimal",
            Validation::Relaxed => "relaxed",
            Validation::Standard => "standard",
            Validation::Strict => "strict",
        }
    }
}

/// Everything a warm launch of one package build needs (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecPlan {
    /// [`EXEC_PLAN_VERSION`] of the launcher that wrote it.
    pub plan_version: u32,
    /// Hex SHA-256 of the 8192 index bytes that were verified.
    pub index_sha256: String,
    /// The package's name and version, from its metadata.
    pub package: String,
    /// The package's version.
    pub version: String,
    /// The work environment (`{workenv}`).
    pub workenv: PathBuf,
    /// The program, placeholders substituted.
    pub program: String,
    /// Its arguments, placeholders substituted.
    pub args: Vec<String>,
    /// A file whose absence means the workenv was damaged (the command's executable when it
    /// lives in the workenv).
    pub check: Option<PathBuf>,
    /// The package's `runtime.env` policy, placeholders substituted in `set`.
    pub runtime_env: Option<RuntimeEnv>,
    /// `workenv.env`, placeholders substituted.
    pub workenv_env: BTreeMap<String, String>,
    /// `execution.env`, placeholders substituted.
    pub execution_env: BTreeMap<String, String>,
    /// Slots re-extracted on every launch (`volatile` lifecycle).
    pub volatile: Vec<usize>,
    /// Validation level the first run verified at.
    pub validation: Validation,
    /// Whether the signing key was trusted then.
    pub key_trusted: bool,
}

/// Just the version field, to say why a plan of another shape does not parse.
#[derive(Deserialize)]
struct VersionOnly {
    plan_version: u32,
}

impl ExecPlan {
    /// Parse a plan read from `path` (named in errors); a plan of another
    /// [`EXEC_PLAN_VERSION`] is an error that says which version it is.
    pub fn from_json(bytes: &[u8], path: &Path) -> Result<ExecPlan> {
        let error = |reason: String| Error::Plan {
            path: path.to_path_buf(),
            reason,
        };
        let other_version = |found: u32| {
            format!(
                "written as plan version {found}, this flavor reads version {EXEC_PLAN_VERSION}"
            )
        };
        match serde_json::from_slice::<ExecPlan>(bytes) {
            Ok(plan) if plan.plan_version == EXEC_PLAN_VERSION => Ok(plan),
            Ok(plan) => Err(error(other_version(plan.plan_version))),
            Err(e) => Err(error(match serde_json::from_slice::<VersionOnly>(bytes) {
                Ok(v) if v.plan_version != EXEC_PLAN_VERSION => other_version(v.plan_version),
                _ => format!("unreadable: {e}"),
            })),
        }
    }

    /// The plan at `path` if there is a readable one of this version; an error when the
    /// file is another user's or others can write it (it could say to run anything).
    pub fn load(path: &Path) -> Result<Option<ExecPlan>> {
        let Ok(mut file) = std::fs::File::open(path) else {
            return Ok(None);
        };
        let meta = file.metadata().map_err(|e| Error::io(path, e))?;
        crate::ownership::check_owned(path, &meta)?;
        let mut bytes = Vec::new();
        if std::io::Read::read_to_end(&mut file, &mut bytes).is_err() {
            return Ok(None);
        }
        // Why a plan is unusable does not matter here: it is simply not used.
        Ok(serde_json::from_slice::<ExecPlan>(&bytes)
            .ok()
            .filter(|p| p.plan_version == EXEC_PLAN_VERSION))
    }

    /// The plan as stored.
    pub fn to_json(&self) -> Vec<u8> {
        // A struct of strings, paths, maps and numbers always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Store the plan at `path` atomically: readers see the old file or the whole new one.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::files::write_atomic(path, &self.to_json())
    }

    /// Whether this plan may serve a launch of the build whose index hashes to `index_sha256`
    /// at `level`: the same build, verified at least as strictly as `level` asks (with the
    /// key trusted for `strict`), and a workenv that still looks intact.
    pub fn serves(&self, index_sha256: &str, level: Validation) -> bool {
        self.index_sha256 == index_sha256
            && self.validation >= level
            && (level != Validation::Strict || self.key_trusted)
            && self.healthy()
    }

    /// The cheap damage check: the workenv and the command's file still exist.
    pub fn healthy(&self) -> bool {
        let target = self.check.as_deref().unwrap_or(&self.workenv);
        std::fs::metadata(target).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(validation: Validation, key_trusted: bool) -> ExecPlan {
        ExecPlan {
            plan_version: EXEC_PLAN_VERSION,
            index_sha256: "ab".into(),
            package: "p".into(),
            version: "1".into(),
            // Any directory that exists stands in for a healthy workenv.
            workenv: std::env::temp_dir(),
            program: "x".into(),
            args: vec![],
            check: None,
            runtime_env: None,
            workenv_env: BTreeMap::new(),
            execution_env: BTreeMap::new(),
            volatile: vec![],
            validation,
            key_trusted,
        }
    }

    #[test]
    fn a_plan_serves_only_launches_it_was_verified_strictly_enough_for() {
        use Validation::*;
        assert!(plan(Standard, false).serves("ab", Standard));
        assert!(plan(Standard, false).serves("ab", Relaxed));
        assert!(!plan(Standard, false).serves("cd", Standard));
        assert!(!plan(Relaxed, false).serves("ab", Standard));
        assert!(!plan(None, false).serves("ab", Minimal));
        assert!(!plan(Standard, false).serves("ab", Strict));
        assert!(!plan(Strict, false).serves("ab", Strict));
        assert!(plan(Strict, true).serves("ab", Strict));
    }

    #[test]
    fn plans_round_trip_and_other_shapes_are_refused() {
        let p = plan(Validation::Strict, true);
        let json = p.to_json();
        assert!(String::from_utf8_lossy(&json).contains("\"validation\":\"strict\""));
        let path = Path::new("x.ready");
        assert_eq!(ExecPlan::from_json(&json, path).unwrap(), p);
        let bogus = String::from_utf8_lossy(&json).replace("\"strict\"", "\"bogus\"");
        assert!(ExecPlan::from_json(bogus.as_bytes(), path).is_err());
        let newer =
            String::from_utf8_lossy(&json).replace("\"plan_version\":1", "\"plan_version\":9");
        let err = ExecPlan::from_json(newer.as_bytes(), path).unwrap_err();
        assert!(err.to_string().contains("plan version 9"), "{err}");
        let err = ExecPlan::from_json(br#"{"plan_version":7}"#, path).unwrap_err();
        assert!(err.to_string().contains("plan version 7"), "{err}");
        assert!(ExecPlan::from_json(b"not json", path).is_err());
    }
}
