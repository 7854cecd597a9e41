//! The exec plan: everything a warm launch needs, computed once by the first run.
//!
//! The first run verifies the package, extracts it and then stores, as the completion marker,
//! the index digest it verified plus the resolved command, argument list and environment
//! rules. A warm launch reads the trailer, compares its digest with the plan, checks that the
//! metadata bytes still match the index and that the command is still there (a stat), and
//! execs: no gunzip, no metadata parse, no signature check. A plan serves only launches at a
//! validation level no stricter than the one it was verified at, so a workenv that a
//! `relaxed` launch extracted from a damaged package is never run by a `standard` one.

use crate::config::Validation;
use pspf::metadata::RuntimeEnv;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bump when the plan's shape changes: an older plan is then ignored (re-extraction).
pub const PLAN_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub plan_version: u32,
    /// Hex SHA-256 of the 8192 index bytes that were verified.
    pub index_sha256: String,
    pub package: String,
    pub version: String,
    /// The work environment (`{workenv}`).
    pub workenv: PathBuf,
    /// Program and arguments, placeholders substituted.
    pub program: String,
    pub args: Vec<String>,
    /// A file whose absence means the workenv was damaged (the command's executable when it
    /// lives in the workenv).
    pub check: Option<PathBuf>,
    pub runtime_env: Option<RuntimeEnv>,
    pub workenv_env: BTreeMap<String, String>,
    pub execution_env: BTreeMap<String, String>,
    /// Slots re-extracted on every launch (`volatile` lifecycle).
    pub volatile: Vec<usize>,
    /// Validation level the first run verified at, and whether the key was trusted then.
    pub validation: String,
    pub key_trusted: bool,
}

impl Plan {
    pub fn load(path: &Path) -> Option<Plan> {
        let bytes = std::fs::read(path).ok()?;
        let plan: Plan = serde_json::from_slice(&bytes).ok()?;
        (plan.plan_version == PLAN_VERSION).then_some(plan)
    }

    /// Whether this plan may serve a launch of the build whose index hashes to `index_sha256`
    /// at `level`: the same build, verified at least as strictly as `level` asks (with the
    /// key trusted for `strict`), and a workenv that still looks intact.
    pub fn serves(&self, index_sha256: &str, level: Validation) -> bool {
        let verified_at = Validation::parse(&self.validation).unwrap_or(Validation::None);
        self.index_sha256 == index_sha256
            && verified_at >= level
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

    fn plan(validation: &str, key_trusted: bool) -> Plan {
        Plan {
            plan_version: PLAN_VERSION,
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
            validation: validation.into(),
            key_trusted,
        }
    }

    #[test]
    fn a_plan_serves_only_launches_it_was_verified_strictly_enough_for() {
        use Validation::*;
        assert!(plan("standard", false).serves("ab", Standard));
        assert!(plan("standard", false).serves("ab", Relaxed));
        assert!(!plan("standard", false).serves("cd", Standard));
        assert!(!plan("relaxed", false).serves("ab", Standard));
        assert!(!plan("none", false).serves("ab", Minimal));
        assert!(!plan("standard", false).serves("ab", Strict));
        assert!(!plan("strict", false).serves("ab", Strict));
        assert!(plan("strict", true).serves("ab", Strict));
        assert!(!plan("bogus", true).serves("ab", Minimal));
    }
}
