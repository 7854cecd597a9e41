//! `workenv.directories`: directories a package wants in its workenv, with their modes.
//!
//! Only paths inside the workenv are accepted: `{workenv}/…` or relative, without `..`
//! (after placeholders are expanded). A package naming any other path is refused before
//! anything is extracted, and the directories are created component by component without
//! following a link, so one that a slot placed in the workenv cannot lead them outside.

use crate::env::Placeholders;
use crate::error::{Failure, Result, exit};
use flavor_workenv::files::create_dir_within;
use pspf::metadata::Metadata;
use std::path::{Component, Path, PathBuf};

/// One directory to create: where (relative to the workenv), its mode, and how the package
/// wrote it (for messages).
pub struct Planned {
    rel: PathBuf,
    mode: u32,
    index: usize,
    written: String,
}

/// The package's `workenv.directories`, checked to stay inside `ph.workenv`.
pub fn plan(meta: &Metadata, ph: &Placeholders<'_>) -> Result<Vec<Planned>> {
    let Some(workenv) = &meta.workenv else {
        return Ok(Vec::new());
    };
    let mut planned = Vec::with_capacity(workenv.directories.len());
    for (index, dir) in workenv.directories.iter().enumerate() {
        let expanded = PathBuf::from(ph.expand(&dir.path));
        let rel = expanded
            .strip_prefix(ph.workenv)
            .map(Path::to_path_buf)
            .unwrap_or(expanded);
        if rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(Failure::new(
                exit::EXTRACT,
                format!(
                    "workenv.directories[{index}]: {:?} is outside the workenv; a package may only create directories inside it ({{workenv}}/… or a relative path without '..')",
                    dir.path
                ),
            ));
        }
        let mode = dir
            .mode
            .as_deref()
            .and_then(pspf::metadata::parse_mode)
            .unwrap_or(0o700);
        planned.push(Planned {
            rel,
            mode,
            index,
            written: dir.path.clone(),
        });
    }
    Ok(planned)
}

/// Create the planned directories in `workenv`, never through a link.
pub fn create(planned: &[Planned], workenv: &Path) -> Result<()> {
    for p in planned {
        create_dir_within(workenv, &p.rel, p.mode).map_err(|e| {
            let code = match e {
                flavor_workenv::Error::Outside { .. } => exit::EXTRACT,
                _ => exit::IO,
            };
            Failure::new(
                code,
                format!("workenv.directories[{}] {:?}: {e}", p.index, p.written),
            )
        })?;
    }
    Ok(())
}
