//! Where a package's work environments and bookkeeping live under the cache root.
//!
//! ```text
//! <root>/CACHEDIR.TAG
//! <root>/workenv/<name>                       → symlink to the version in use (upstream path)
//! <root>/workenv/.<name>.pspf/package/psp.json          upstream bookkeeping (current version)
//! <root>/workenv/.<name>.pspf/instance/package.checksum
//! <root>/workenv/.<name>.pspf/instance/index.json
//! <root>/workenv/.<name>.pspf/instance/extract/complete
//! <root>/workenv/.<name>.pspf/instance/extract/lock      an upstream launcher's lock file
//! <root>/workenv/.<name>.pspf/versions/<hash>/          the workenv of one package build
//! <root>/workenv/.<name>.pspf/versions/<hash>.ready     exec plan; written last = complete
//! <root>/workenv/.<name>.pspf/versions/<hash>.lock      extraction lock (flock)
//! <root>/workenv/.<name>.pspf/tmp/<hash>.<pid>/         private staging directory
//! ```
//!
//! `<name>` is the package file name minus `.psp`/`.pspf`; `<hash>` is the first 16 hex digits
//! of the SHA-256 of the 8192 index bytes, so a rebuilt package or another package with the
//! same file name gets its own directory and never runs (or deletes) another's files.
//!
//! Upstream FlavorPack launchers use the same bookkeeping with the workenv itself as a real
//! directory at `<root>/workenv/<name>/`.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The directory under the cache root holding every workenv.
pub fn workenvs_dir(root: &Path) -> PathBuf {
    root.join("workenv")
}

/// The cache root's `CACHEDIR.TAG`.
pub fn cachedir_tag(root: &Path) -> PathBuf {
    root.join("CACHEDIR.TAG")
}

/// What `CACHEDIR.TAG` says (the signature line of the Cache Directory Tagging Specification).
pub const CACHEDIR_TAG_CONTENT: &str = "Signature: 8a477f597d28d172789f06886806bc55\n# This directory holds work environments unpacked by flavor packages.\n# It can be deleted at any time; packages unpack again on their next run.\n";

/// The workenv name of a package file: its file name minus `.psp` or `.pspf`.
pub fn package_name(exe: &Path) -> String {
    let file = exe
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "package".into());
    strip_package_extension(&file).to_string()
}

/// `hello.psp` → `hello`, `hello.pspf` → `hello`; anything else unchanged.
pub fn strip_package_extension(file: &str) -> &str {
    [".pspf", ".psp"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext).filter(|s| !s.is_empty()))
        .unwrap_or(file)
}

/// Every workenv name under `root`: a `.<name>.pspf` bookkeeping directory or a `<name>`
/// directory or link. No `workenv/` directory at all means none.
pub fn workenv_names(root: &Path) -> io::Result<BTreeSet<String>> {
    let rd = match fs::read_dir(workenvs_dir(root)) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e),
    };
    let mut names = BTreeSet::new();
    for e in rd.flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = f.strip_prefix('.').and_then(|r| r.strip_suffix(".pspf")) {
            if !n.is_empty() && e.path().is_dir() {
                names.insert(n.to_string());
            }
        } else if !f.starts_with('.') && e.file_type().is_ok_and(|t| t.is_dir() || t.is_symlink()) {
            names.insert(f);
        }
    }
    Ok(names)
}

/// Everything of one workenv name (one package file name) under a cache root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkenvLayout {
    /// The cache root.
    pub root: PathBuf,
    /// The workenv name.
    pub name: String,
}

impl WorkenvLayout {
    /// The layout of workenv `name` under `root`.
    pub fn new(root: impl Into<PathBuf>, name: impl Into<String>) -> WorkenvLayout {
        WorkenvLayout {
            root: root.into(),
            name: name.into(),
        }
    }
    /// `<root>/workenv`.
    pub fn workenvs(&self) -> PathBuf {
        workenvs_dir(&self.root)
    }
    /// The upstream workenv path: flavor's link to the build in use, or an upstream
    /// launcher's workenv directory.
    pub fn link(&self) -> PathBuf {
        self.workenvs().join(&self.name)
    }
    /// The bookkeeping directory `.<name>.pspf`.
    pub fn meta(&self) -> PathBuf {
        self.workenvs().join(format!(".{}.pspf", self.name))
    }
    /// `versions/`: one workenv, plan and lock per package build.
    pub fn versions(&self) -> PathBuf {
        self.meta().join("versions")
    }
    /// `tmp/`: private staging directories.
    pub fn staging_parent(&self) -> PathBuf {
        self.meta().join("tmp")
    }
    /// `instance/`: upstream bookkeeping of the version in use.
    pub fn instance(&self) -> PathBuf {
        self.meta().join("instance")
    }
    /// `instance/index.json`.
    pub fn index_json(&self) -> PathBuf {
        self.instance().join("index.json")
    }
    /// `instance/package.checksum`.
    pub fn package_checksum(&self) -> PathBuf {
        self.instance().join("package.checksum")
    }
    /// `instance/extract/complete`: upstream's completion marker.
    pub fn upstream_complete(&self) -> PathBuf {
        self.instance().join("extract").join("complete")
    }
    /// `instance/extract/lock`: an upstream launcher's lock file (its pid).
    pub fn upstream_lock(&self) -> PathBuf {
        self.instance().join("extract").join("lock")
    }
    /// `package/psp.json`: the metadata of the package in use.
    pub fn package_json(&self) -> PathBuf {
        self.meta().join("package").join("psp.json")
    }
    /// The layout of build `hash`.
    pub fn build(&self, hash: impl Into<String>) -> BuildLayout {
        BuildLayout {
            workenv: self.clone(),
            hash: hash.into(),
        }
    }
    /// The build a link target (`.<name>.pspf/versions/<hash>`) names, if it names one.
    pub fn linked_hash(target: &Path) -> Option<String> {
        (target.parent().and_then(Path::file_name) == Some("versions".as_ref()))
            .then(|| target.file_name())
            .flatten()
            .map(|f| f.to_string_lossy().into_owned())
    }
    /// The hashes of the builds under `versions/`: a `<hash>/` directory or a `<hash>.ready`
    /// plan.
    pub fn build_hashes(&self) -> BTreeSet<String> {
        let mut hashes = BTreeSet::new();
        let Ok(rd) = fs::read_dir(self.versions()) else {
            return hashes;
        };
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            match f.split_once('.') {
                None if e.path().is_dir() => {
                    hashes.insert(f);
                }
                Some((h, "ready")) if !h.is_empty() => {
                    hashes.insert(h.to_string());
                }
                _ => {}
            }
        }
        hashes
    }
}

/// One package build's workenv, plan, lock and staging directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildLayout {
    /// The workenv name's layout.
    pub workenv: WorkenvLayout,
    /// The build's hash: the first 16 hex digits of the SHA-256 of its index.
    pub hash: String,
}

impl BuildLayout {
    /// The layout of the build whose 8192 index bytes hash to `index_sha256`.
    pub fn for_index(root: PathBuf, name: String, index_sha256: &[u8; 32]) -> BuildLayout {
        WorkenvLayout::new(root, name).build(hex::encode(&index_sha256[..8]))
    }
    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.workenv.root
    }
    /// The work environment of this build (`{workenv}`).
    pub fn dir(&self) -> PathBuf {
        self.workenv.versions().join(&self.hash)
    }
    /// The exec plan, whose presence marks the build complete.
    pub fn ready(&self) -> PathBuf {
        self.workenv.versions().join(format!("{}.ready", self.hash))
    }
    /// The extraction lock.
    pub fn lock(&self) -> PathBuf {
        self.workenv.versions().join(format!("{}.lock", self.hash))
    }
    /// This process's private staging directory.
    pub fn staging(&self) -> PathBuf {
        self.workenv.staging_parent().join(format!(
            "{}{}",
            self.staging_prefix(),
            std::process::id()
        ))
    }
    /// The name prefix of every staging directory of this build (`<hash>.`).
    pub fn staging_prefix(&self) -> String {
        format!("{}.", self.hash)
    }
    /// Refuse the cache directories leading to this build's plan — the root, `workenv/`,
    /// `.<name>.pspf/` and `versions/`, those that exist — unless the current user owns them
    /// and others cannot write them (see [`crate::ownership`]).
    pub fn check_private(&self, root_may_be_link: bool) -> crate::Result<()> {
        let (workenvs, meta, versions) = (
            self.workenv.workenvs(),
            self.workenv.meta(),
            self.workenv.versions(),
        );
        crate::ownership::check_chain(
            &[self.root(), &workenvs, &meta, &versions],
            root_may_be_link,
        )
    }
    /// What the `<name>` link points at: `.<name>.pspf/versions/<hash>`, relative.
    pub fn link_target(&self) -> PathBuf {
        PathBuf::from(format!(".{}.pspf", self.workenv.name))
            .join("versions")
            .join(&self.hash)
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

    #[test]
    fn a_build_lives_under_its_names_bookkeeping() {
        let b = BuildLayout::for_index("/c".into(), "app".into(), &[0xab; 32]);
        assert_eq!(b.hash, "abababababababab");
        assert_eq!(
            b.dir(),
            Path::new("/c/workenv/.app.pspf/versions/abababababababab")
        );
        assert_eq!(
            b.ready(),
            Path::new("/c/workenv/.app.pspf/versions/abababababababab.ready")
        );
        assert_eq!(b.workenv.link(), Path::new("/c/workenv/app"));
        assert_eq!(
            WorkenvLayout::linked_hash(&b.link_target()),
            Some(b.hash.clone())
        );
        assert_eq!(WorkenvLayout::linked_hash(Path::new("elsewhere")), None);
    }
}
