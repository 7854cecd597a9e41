//! Path arithmetic without the filesystem: `.` and `..` applied lexically, and one path
//! relative to a directory.

use std::path::{Component, Path, PathBuf};

/// `path` without `.` components and with each `..` applied to the component before it (a
/// leading `..` is kept). Joined to a canonical directory, this names the same file unless a
/// component before a `..` is a symbolic link.
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push(c);
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` relative to the directory `from` (both absolute and lexical); `.` for `from` itself.
pub fn relative_to(path: &Path, from: &Path) -> PathBuf {
    let p: Vec<Component<'_>> = path.components().collect();
    let f: Vec<Component<'_>> = from.components().collect();
    let common = p.iter().zip(&f).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..f.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_dot_is_applied_lexically() {
        assert_eq!(
            lexical(Path::new("/ws/apps/greet/../../shared/./lib")),
            Path::new("/ws/shared/lib")
        );
        assert_eq!(lexical(Path::new("../a/./b")), Path::new("../a/b"));
    }

    #[test]
    fn paths_are_made_relative() {
        assert_eq!(
            relative_to(Path::new("/a/b/c"), Path::new("/a/x")),
            PathBuf::from("../b/c")
        );
        assert_eq!(
            relative_to(Path::new("/a"), Path::new("/a")),
            PathBuf::from(".")
        );
    }
}
