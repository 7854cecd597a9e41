//! Paths that must stay inside the project: slot sources and step directories (unless
//! `[package] allow_sources_outside` names a directory they are in) and target outputs.
//!
//! "Inside" is decided on resolved paths: symbolic links are followed, so a link in the project
//! that points elsewhere is outside. A path that does not exist yet (an output) is resolved up
//! to its deepest existing directory.

use super::model::*;
use crate::diagnostic::Problem;
use crate::paths::lexical;
use std::path::{Path, PathBuf};

/// Problems with the paths of `m` against the project `root`.
pub(super) fn check(m: &Manifest, root: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(pkg) = &m.package else {
        return problems;
    };
    let root = resolve(root);
    let mut allowed = vec![root.clone()];
    for a in &pkg.allow_sources_outside {
        let dir = m.dir.join(&a.value);
        if dir.is_dir() {
            allowed.push(resolve(&dir));
        } else {
            problems.push(
                Problem::new(
                    format!("allow_sources_outside: `{}` is not a directory", a.value),
                    a.span.clone(),
                )
                .label("no such directory")
                .help("list directories, relative to this manifest"),
            );
        }
    }
    let mut sources: Vec<(String, &Spanned<String>)> = Vec::new();
    for s in &pkg.slots {
        if let SlotSource::Path(src) = &s.source {
            sources.push((format!("slot `{}`: source", s.id.value), src));
        }
    }
    for s in &pkg.steps {
        if let Some(cwd) = &s.cwd {
            sources.push((format!("step `{}`: cwd", s.id.value), cwd));
        }
    }
    for (what, v) in sources {
        let path = resolve(&m.dir.join(&v.value));
        if !allowed.iter().any(|a| path.starts_with(a)) {
            problems.push(outside(&what, v, &path, &root).help(format!(
                "a source must be inside the project; to use files from elsewhere on purpose, \
                 add their directory to [package] allow_sources_outside, e.g. \
                 allow_sources_outside = [{:?}]",
                parent_dir(&v.value)
            )));
        }
    }
    for t in &pkg.targets {
        if let Some(o) = &t.output {
            let path = resolve(&m.dir.join(&o.value));
            if !path.starts_with(&root) {
                let what = format!("target `{}`: output", t.name.value);
                problems.push(outside(&what, o, &path, &root).help(
                    "packages are written inside the project, e.g. output = \"dist/app.psp\"",
                ));
            }
        }
    }
    problems
}

fn outside(what: &str, v: &Spanned<String>, resolved: &Path, root: &Path) -> Problem {
    let via = if Path::new(&v.value).is_absolute() || resolved == lexical(Path::new(&v.value)) {
        String::new()
    } else {
        format!(" (it resolves to {})", resolved.display())
    };
    Problem::new(
        format!(
            "{what} `{}` is outside the project {}{via}",
            v.value,
            root.display()
        ),
        v.span.clone(),
    )
    .label("outside the project")
}

/// The directory to allow for `path` (itself when it names a directory).
fn parent_dir(path: &str) -> String {
    let p = Path::new(path);
    match p.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.display().to_string(),
        _ => path.to_string(),
    }
}

/// `path` with every symbolic link resolved, as far as it exists; the rest appended lexically.
fn resolve(path: &Path) -> PathBuf {
    let mut existing = lexical(path);
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return lexical(&out);
        }
        match (
            existing.file_name().map(|n| n.to_os_string()),
            existing.parent(),
        ) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return lexical(path),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn resolving_follows_links_and_keeps_what_does_not_exist() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        fs::create_dir(base.join("real")).unwrap();
        std::os::unix::fs::symlink(base.join("real"), base.join("link")).unwrap();
        assert_eq!(
            resolve(&base.join("link/new/file")),
            base.join("real/new/file")
        );
        assert_eq!(resolve(&base.join("real/../x/./y")), base.join("x/y"));
        assert_eq!(
            lexical(Path::new("/ws/apps/a/../../shared")),
            Path::new("/ws/shared")
        );
    }
}
