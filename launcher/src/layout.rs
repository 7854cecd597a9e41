//! Where a package's work environment and bookkeeping live under the cache root.
//!
//! ```text
//! <root>/CACHEDIR.TAG
//! <root>/workenv/<name>                       → symlink to the version in use (upstream path)
//! <root>/workenv/.<name>.pspf/package/psp.json          upstream bookkeeping (current version)
//! <root>/workenv/.<name>.pspf/instance/package.checksum
//! <root>/workenv/.<name>.pspf/instance/index.json
//! <root>/workenv/.<name>.pspf/instance/extract/complete
//! <root>/workenv/.<name>.pspf/versions/<hash>/          the workenv of one package build
//! <root>/workenv/.<name>.pspf/versions/<hash>.ready     exec plan; written last = complete
//! <root>/workenv/.<name>.pspf/versions/<hash>.lock      extraction lock (flock)
//! <root>/workenv/.<name>.pspf/tmp/<hash>.<pid>/         private staging directory
//! ```
//!
//! `<name>` is the package file name minus `.psp`/`.pspf`; `<hash>` is the first 16 hex digits
//! of the SHA-256 of the 8192 index bytes, so a rebuilt package or another package with the
//! same file name gets its own directory and never runs (or deletes) another's files.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Layout {
    pub root: PathBuf,
    pub name: String,
    pub hash: String,
}

/// The workenv name of a package file: its file name minus `.psp` or `.pspf`.
pub fn package_name(exe: &Path) -> String {
    let file = exe
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package".into());
    for ext in [".pspf", ".psp"] {
        if let Some(stem) = file.strip_suffix(ext)
            && !stem.is_empty()
        {
            return stem.to_string();
        }
    }
    file
}

impl Layout {
    pub fn new(root: PathBuf, name: String, index_sha256: &[u8; 32]) -> Layout {
        Layout {
            root,
            name,
            hash: hex::encode(&index_sha256[..8]),
        }
    }
    pub fn workenvs(&self) -> PathBuf {
        self.root.join("workenv")
    }
    /// The upstream workenv path, a symlink to the version in use.
    pub fn link(&self) -> PathBuf {
        self.workenvs().join(&self.name)
    }
    pub fn meta(&self) -> PathBuf {
        self.workenvs().join(format!(".{}.pspf", self.name))
    }
    pub fn versions(&self) -> PathBuf {
        self.meta().join("versions")
    }
    /// The work environment of this package build (`{workenv}`).
    pub fn workenv(&self) -> PathBuf {
        self.versions().join(&self.hash)
    }
    pub fn ready(&self) -> PathBuf {
        self.versions().join(format!("{}.ready", self.hash))
    }
    pub fn lock(&self) -> PathBuf {
        self.versions().join(format!("{}.lock", self.hash))
    }
    pub fn staging_parent(&self) -> PathBuf {
        self.meta().join("tmp")
    }
    pub fn staging(&self) -> PathBuf {
        self.staging_parent()
            .join(format!("{}.{}", self.hash, std::process::id()))
    }
    pub fn instance(&self) -> PathBuf {
        self.meta().join("instance")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_drop_package_extensions() {
        assert_eq!(package_name(Path::new("/x/hello.psp")), "hello");
        assert_eq!(package_name(Path::new("/x/hello.pspf")), "hello");
        assert_eq!(package_name(Path::new("/x/hello")), "hello");
        assert_eq!(package_name(Path::new("/x/.psp")), ".psp");
    }
}
