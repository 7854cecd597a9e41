//! The rollback rule: under `strict`, a package whose version is older (by semver) than the
//! newest version of the same package name and signing key already seen on this machine is
//! refused, unless `FLAVOR_ALLOW_DOWNGRADE=1`. Every launch that verified a package's
//! signature records its version (see `flavor_workenv::seen`); versions that are not semantic
//! versions have no order and are neither refused nor recorded.

use crate::config::Validation;
use crate::error::{Failure, Result, exit};
use crate::log::log_debug;
use flavor_workenv::seen::SeenVersions;
use flavor_workenv::semver::compare;
use std::cmp::Ordering;
use std::path::Path;

fn downgrade_allowed() -> bool {
    std::env::var("FLAVOR_ALLOW_DOWNGRADE")
        .is_ok_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// Apply the rule to version `version` of package `name` signed by `key`, verified at
/// `level`, and record it as seen. Below `strict` nothing is refused, and a record that
/// cannot be written does not stop the launch.
pub fn enforce(
    root: &Path,
    key: &[u8; 32],
    name: &str,
    version: &str,
    level: Validation,
) -> Result<()> {
    if !level.enforcing() {
        return Ok(());
    }
    let seen = SeenVersions::new(root);
    let strict = level == Validation::Strict;
    if strict {
        let newest = seen.newest(key, name)?;
        if let Some(newest) = newest
            && compare(version, &newest) == Some(Ordering::Less)
            && !downgrade_allowed()
        {
            return Err(Failure::new(
                exit::INTEGRITY,
                format!(
                    "refusing to run {name} {version}: version {newest} signed by the same key already ran on this machine, and strict validation refuses a downgrade (a replayed older release?); to run it anyway set FLAVOR_ALLOW_DOWNGRADE=1"
                ),
            ));
        }
    }
    match seen.record(key, name, version) {
        Ok(_) => Ok(()),
        Err(e) if strict => Err(e.into()),
        Err(e) => {
            log_debug!("cannot record {name} {version} as seen: {e}");
            Ok(())
        }
    }
}
