//! Finding manifests: the nearest `flavor.toml` upwards (like cargo), the workspace root
//! above it, and the members a root's `[workspace] members` globs name.

use crate::diagnostic::{ManifestErrors, Problem};
use crate::manifest::{MANIFEST, Manifest};
use std::path::{Path, PathBuf};

/// A loaded workspace: its root directory and every package manifest in it.
#[derive(Debug)]
pub struct Workspace {
    /// Directory of the topmost manifest (holds `.flavor/`).
    pub root: PathBuf,
    /// The root manifest (a workspace root or a lone package).
    pub root_manifest: Manifest,
    /// Every package manifest: the root's own package (if any) and the members'.
    pub packages: Vec<Manifest>,
    /// The package manifest nearest to where the search started, when that was a member.
    pub current: Option<PathBuf>,
}

/// Find the nearest manifest at or above `start`.
pub fn find_manifest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(MANIFEST))
        .find(|p| p.is_file())
}

fn members(root: &Manifest) -> Result<Vec<PathBuf>, ManifestErrors> {
    let Some(ws) = &root.workspace else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for pattern in &ws.members {
        let glob = match globset::Glob::new(&pattern.value) {
            Ok(g) => g.compile_matcher(),
            Err(e) => {
                problems.push(Problem::new(
                    format!("bad members glob: {e}"),
                    pattern.span.clone(),
                ));
                continue;
            }
        };
        let mut matched = false;
        for entry in ignore::WalkBuilder::new(&root.dir)
            .hidden(false)
            .build()
            .flatten()
        {
            let Ok(rel) = entry.path().strip_prefix(&root.dir) else {
                continue;
            };
            if rel.as_os_str().is_empty() || !entry.file_type().is_some_and(|t| t.is_dir()) {
                continue;
            }
            if glob.is_match(rel) && entry.path().join(MANIFEST).is_file() {
                out.push(entry.path().join(MANIFEST));
                matched = true;
            }
        }
        if !matched {
            problems.push(
                Problem::new(
                    format!(
                        "workspace member pattern `{}` matches no directory with a flavor.toml",
                        pattern.value
                    ),
                    pattern.span.clone(),
                )
                .label("matches nothing")
                .help("members are directories (relative to this file) that hold a flavor.toml"),
            );
        }
    }
    if !problems.is_empty() {
        return Err(ManifestErrors::new(
            &root.path.display().to_string(),
            &root.text,
            problems,
        ));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Load the workspace that contains the manifest nearest to `start`.
pub fn load(start: &Path) -> Result<Workspace, Vec<ManifestErrors>> {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    let nearest = find_manifest(&start).ok_or_else(|| {
        vec![ManifestErrors::new(
            &start.display().to_string(),
            "",
            vec![
                Problem::new(
                    format!(
                        "no flavor.toml in {} or any parent directory",
                        start.display()
                    ),
                    None,
                )
                .help("create one with `flavor init`"),
            ],
        )]
    })?;
    // The workspace root: the topmost manifest above with a [workspace] that lists us.
    let mut root_path = nearest.clone();
    let mut dir = nearest.parent().and_then(Path::parent);
    while let Some(d) = dir {
        let candidate = d.join(MANIFEST);
        if candidate.is_file()
            && let Ok(m) = Manifest::load(&candidate)
            && m.workspace.is_some()
            && members(&m).is_ok_and(|ms| ms.contains(&nearest))
        {
            root_path = candidate;
        }
        dir = d.parent();
    }
    let root_manifest = Manifest::load(&root_path).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut packages = Vec::new();
    if root_manifest.package.is_some() {
        packages.push(root_manifest.clone());
    }
    match members(&root_manifest) {
        Ok(paths) => {
            for p in paths {
                match Manifest::load(&p) {
                    Ok(m) if m.package.is_some() => packages.push(m),
                    Ok(_) => {}
                    Err(e) => errors.push(e),
                }
            }
        }
        Err(e) => errors.push(e),
    }
    // Paths must stay inside the project: the workspace root.
    for m in &packages {
        if let Err(e) = m.check_paths(&root_manifest.dir) {
            errors.push(e);
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let current = (nearest != root_path).then_some(nearest);
    Ok(Workspace {
        root: root_manifest.dir.clone(),
        root_manifest,
        packages,
        current,
    })
}
