//! The launcher embedded in this `flavor` binary (built static by build.rs), written out once
//! per workspace so build actions can read it like any other input.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// The launcher's bytes.
pub static BYTES: &[u8] = include_bytes!(env!("FLAVOR_LAUNCHER_BIN"));

/// Path of the builtin launcher under `dir` (written if missing; content-named, so several
/// flavor versions never overwrite each other's).
pub fn materialise(dir: &Path) -> anyhow::Result<PathBuf> {
    let digest = flavor_engine::Digest::of_bytes(BYTES).to_string();
    let path = dir.join(format!("flavor-launcher-{}", &digest[..16]));
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == BYTES.len() as u64) {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::fs::write(tmp.path(), BYTES)?;
    tmp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
