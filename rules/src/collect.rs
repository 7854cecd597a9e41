//! Collecting the files of a directory slot: sorted, honouring `.gitignore` (via `ignore`),
//! the slot's include/exclude globs, and never `dist/`, `.flavor/` or `.git/`. Modes are
//! normalised to 0755 (directories, executables) or 0644.

use crate::Error;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One collected entry, with its path relative to the source directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// A regular file.
    File {
        /// Its path relative to the source directory.
        rel: String,
        /// Its absolute path.
        path: PathBuf,
        /// Its normalised mode (0755 or 0644).
        mode: u32,
    },
    /// A directory.
    Dir {
        /// Its path relative to the source directory.
        rel: String,
        /// Its mode (0755).
        mode: u32,
    },
    /// A symbolic link (stored as a link, never followed).
    Symlink {
        /// Its path relative to the source directory.
        rel: String,
        /// What it points to, as written.
        target: String,
    },
}

impl Collected {
    /// Its path relative to the source directory.
    pub fn rel(&self) -> &str {
        match self {
            Collected::File { rel, .. }
            | Collected::Dir { rel, .. }
            | Collected::Symlink { rel, .. } => rel,
        }
    }
}

pub(crate) fn globset(what: &str, patterns: &[String]) -> Result<Option<GlobSet>, Error> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let bad = |pattern: &str| {
        let what = what.to_string();
        let pattern = pattern.to_string();
        move |source| Error::Glob {
            what,
            pattern,
            source,
        }
    };
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(bad(p))?);
        // `dir/**` style patterns should also match the directory's contents when written
        // as a bare directory name.
        if !p.contains('*') {
            let dir = format!("{p}/**");
            b.add(Glob::new(&dir).map_err(bad(&dir))?);
        }
    }
    b.build().map(Some).map_err(bad(&patterns.join(", ")))
}

fn walk_error(what: &str, path: &Path) -> impl FnOnce(ignore::Error) -> Error {
    let what = what.to_string();
    let path = path.to_path_buf();
    move |source| Error::Walk { what, path, source }
}

/// The walk of a directory slot: sorted, `.gitignore` honoured, links not followed, never
/// into `.git/`, `.flavor/` or the `never` directories.
fn walker(source: &Path, never: &[PathBuf]) -> ignore::Walk {
    let never: Vec<PathBuf> = never.to_vec();
    ignore::WalkBuilder::new(source)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(true)
        .require_git(false)
        .parents(true)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |e| {
            let name = e.file_name();
            if e.depth() > 0 && (name == ".git" || name == ".flavor") {
                return false;
            }
            !never.iter().any(|n| e.path() == n)
        })
        .build()
}

/// Walk `source` (a directory) and return its entries sorted by path. `never` lists absolute
/// directories that are never collected (the package's `dist/`, `.flavor/`). `what` names the
/// slot in errors.
pub fn collect_dir(
    what: &str,
    source: &Path,
    include: &[String],
    exclude: &[String],
    never: &[PathBuf],
) -> Result<Vec<Collected>, Error> {
    let include = globset(what, include)?;
    let exclude = globset(what, exclude)?;
    let unreadable = |path: &Path| {
        let what = what.to_string();
        let path = path.to_path_buf();
        move |source| Error::Read { what, path, source }
    };
    let mut out = Vec::new();
    for entry in walker(source, never) {
        let entry = entry.map_err(walk_error(what, source))?;
        let (Some(ft), Ok(rel_path)) = (entry.file_type(), entry.path().strip_prefix(source))
        else {
            continue;
        };
        if entry.depth() == 0 || exclude.as_ref().is_some_and(|g| g.is_match(rel_path)) {
            continue;
        }
        let rel = rel_path.to_string_lossy().replace('\\', "/");
        let meta = entry
            .path()
            .symlink_metadata()
            .map_err(unreadable(entry.path()))?;
        // Normalised like `cargo package` does: only "executable or not" survives, so a
        // checkout's umask never changes the package.
        let mode = if ft.is_dir() || meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        };
        if ft.is_dir() {
            if include.is_none() {
                out.push(Collected::Dir { rel, mode });
            }
        } else if include.as_ref().is_some_and(|g| !g.is_match(rel_path)) {
            continue;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path()).map_err(unreadable(entry.path()))?;
            out.push(Collected::Symlink {
                rel,
                target: target.to_string_lossy().into_owned(),
            });
        } else if ft.is_file() {
            let path = entry.path().to_path_buf();
            out.push(Collected::File { rel, path, mode });
        }
    }
    out.sort_by(|a, b| a.rel().cmp(b.rel()));
    Ok(out)
}

/// Files under `base` matching any of `patterns` (a step's `inputs`), sorted. `what` names
/// the step in errors.
pub fn glob_files(what: &str, base: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, Error> {
    let Some(set) = globset(what, patterns)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in ignore::WalkBuilder::new(base)
        .hidden(false)
        .require_git(false)
        .filter_entry(|e| {
            !(e.depth() > 0 && (e.file_name() == ".git" || e.file_name() == ".flavor"))
        })
        .build()
    {
        let entry = entry.map_err(walk_error(what, base))?;
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        if let Ok(rel) = entry.path().strip_prefix(base)
            && set.is_match(rel)
        {
            out.push(entry.path().to_path_buf());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn modes_are_normalised_and_entries_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("run"), "#!/bin/sh\n").unwrap();
        fs::write(src.join("sub/data"), "x").unwrap();
        fs::set_permissions(src.join("run"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(src.join("sub/data"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::set_permissions(src.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
        let got = collect_dir("slot `t`", &src, &[], &[], &[]).unwrap();
        let summary: Vec<(String, u32)> = got
            .iter()
            .map(|c| match c {
                Collected::File { rel, mode, .. } | Collected::Dir { rel, mode } => {
                    (rel.clone(), *mode)
                }
                Collected::Symlink { rel, .. } => (rel.clone(), 0),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("run".to_string(), 0o755),
                ("sub".to_string(), 0o755),
                ("sub/data".to_string(), 0o644)
            ]
        );
    }
}
