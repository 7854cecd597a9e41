//! `fetch`: one file named by its sha256 (a locked wheel, an interpreter archive), downloaded
//! and checked. The key is the digest and the file name, not the URL: the same wheel locked by
//! ten projects, or moved to a mirror, is one action, fetched once and shared through the
//! remote cache. Downloads go through the user's downloads directory
//! ([`flavor_workenv::dirs::downloads_dir`]), so a new workspace or clone reuses them (each
//! file there is re-hashed before use).

use crate::python::fetch::{download, fetch};
use flavor_engine::{Action, ActionError, Input, RunContext};
use serde_json::json;

/// Download `url`, checking its sha256.
pub struct FetchAction {
    /// Where to get it (not part of the key).
    pub url: String,
    /// Its sha256, lowercase hex.
    pub sha256: String,
    /// Its file name (a wheel's name says what it is).
    pub file_name: String,
}

impl Action for FetchAction {
    fn kind(&self) -> &'static str {
        "fetch"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("fetch {}", self.file_name)
    }
    fn params(&self) -> Vec<u8> {
        super::super::canonical(&json!({"sha256": self.sha256, "name": self.file_name}))
    }
    fn inputs(&self) -> Vec<Input> {
        Vec::new()
    }
    fn output_count(&self) -> usize {
        1
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let path = ctx.output(0).to_path_buf();
        let hash = format!("sha256:{}", self.sha256);
        match fetch(
            &self.url,
            Some(&hash),
            &flavor_workenv::dirs::downloads_dir(),
        ) {
            Ok(shared) => {
                std::fs::copy(&shared, &path)?;
                return Ok(());
            }
            // A downloads directory that cannot be written: download straight into the output.
            Err(crate::python::fetch::FetchError::Io { path: dir, source }) => {
                ctx.log(&format!(
                    "{}: {source}; not kept for other workspaces",
                    dir.display()
                ));
            }
            Err(e) => return Err(ActionError::new(e.to_string())),
        }
        let mut file = std::fs::File::create(&path)?;
        download(&self.url, &self.sha256, &mut file, &path)
            .map_err(|e| ActionError::new(e.to_string()))?;
        file.sync_all()?;
        Ok(())
    }
}
