//! The exec plan: everything a warm launch needs, computed once by the first run.
//!
//! The first run verifies the package, extracts it and then stores, as the completion marker,
//! the index digest it verified plus the resolved command, argument list and environment
//! rules. A warm launch reads the trailer, compares its digest with the plan, checks that the
//! metadata bytes still match the index and that the command is still there (a stat), and
//! execs: no gunzip, no metadata parse, no signature check.

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

    /// The cheap damage check: the workenv and the command's file still exist.
    pub fn healthy(&self) -> bool {
        let target = self.check.as_deref().unwrap_or(&self.workenv);
        std::fs::metadata(target).is_ok()
    }
}
