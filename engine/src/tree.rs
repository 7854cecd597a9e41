//! Directory trees as action outputs: a [`Tree`] of files (contents and executable bit),
//! directories and symbolic links, stored in the CAS as a Merkle tree.
//!
//! Each directory is one blob: a canonical JSON document listing its entries sorted by name
//! (`{"tree":1,"entries":[{"type":"file","name":…,"digest":…,"size":…,"executable":…},
//! {"type":"dir","name":…,"digest":…}, {"type":"symlink","name":…,"target":…}]}`), where a
//! file's digest names its contents and a subdirectory's digest names its own directory blob.
//! The digest of the root directory blob is the tree's digest: equal trees (same paths,
//! contents, executable bits and links) have equal digests on every machine, and a tree
//! whose digest is known can be checked piece by piece.
//!
//! Modes are normalised as for a source directory: only "executable or not" survives, so a
//! checkout's umask never changes a digest. Names must be UTF-8 (as in REAPI). Only files,
//! directories and symbolic links are allowed, and a link must resolve inside the tree
//! (followed through the tree's own links): a link that is absolute or climbs out of the tree
//! is refused with its path and target ([`TreeError::LinkOutside`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Digest, Store};

/// Format version of directory blobs.
const FORMAT: u32 = 1;

/// Deepest nesting accepted when reading a tree (a guard against a malformed store).
const MAX_DEPTH: usize = 512;

/// How many links are followed when resolving one link (as the kernel's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Largest directory blob read (a guard against a malformed store).
const MAX_NODE_BYTES: u64 = 256 * 1024 * 1024;

/// A directory: its entries by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tree {
    /// The entries, sorted by name.
    pub entries: BTreeMap<String, TreeEntry>,
}

/// One entry of a [`Tree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeEntry {
    /// A regular file.
    File(TreeFile),
    /// A subdirectory.
    Dir(Tree),
    /// A symbolic link, with its target as written.
    Symlink(String),
}

/// A file of a [`Tree`]: its contents' digest and size, and whether it is executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeFile {
    /// The digest of its contents (a blob in the CAS).
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// True if any execute bit was set.
    pub executable: bool,
}

/// What is wrong with a directory that should become a tree, or with a stored tree.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A symbolic link that is absolute or resolves outside the tree.
    #[error(
        "symbolic link `{path}` points outside the tree (`{target}`); a directory output \
         must be self-contained: make the link relative and inside it, or copy what it \
         points to"
    )]
    LinkOutside {
        /// The link's path inside the tree.
        path: String,
        /// Its target, as written.
        target: String,
    },
    /// A symbolic link that leads to itself through other links.
    #[error("symbolic link `{path}` (`{target}`) is a loop")]
    LinkLoop {
        /// The link's path inside the tree.
        path: String,
        /// Its target, as written.
        target: String,
    },
    /// Something other than a file, directory or link (a FIFO, a socket, a device).
    #[error("`{path}` is a {what}; a tree holds only files, directories and symbolic links")]
    Unsupported {
        /// Its path inside the tree.
        path: String,
        /// What it is.
        what: &'static str,
    },
    /// A name that is not UTF-8, or cannot be a single path component.
    #[error("`{path}` is not a usable name ({why})")]
    BadName {
        /// The path inside the tree (lossily shown).
        path: String,
        /// Why.
        why: &'static str,
    },
    /// A directory blob is missing from the store, or is not a valid directory.
    #[error("directory blob {digest} of a tree {why}")]
    Corrupt {
        /// The directory blob.
        digest: Digest,
        /// What is wrong.
        why: String,
    },
    /// Reading the directory or writing the store failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// A directory blob as stored.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Node {
    tree: u32,
    entries: Vec<NodeEntry>,
}

/// One entry of a directory blob.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum NodeEntry {
    File {
        name: String,
        digest: Digest,
        size: u64,
        executable: bool,
    },
    Dir {
        name: String,
        digest: Digest,
    },
    Symlink {
        name: String,
        target: String,
    },
}

impl NodeEntry {
    fn name(&self) -> &str {
        match self {
            NodeEntry::File { name, .. }
            | NodeEntry::Dir { name, .. }
            | NodeEntry::Symlink { name, .. } => name,
        }
    }
}

/// Why `name` cannot be one component of a tree path, if it cannot.
pub fn bad_component(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty")
    } else if name == "." || name == ".." {
        Some("a directory reference")
    } else if name.contains('/') {
        Some("contains `/`")
    } else if name.contains('\0') {
        Some("contains a NUL character")
    } else {
        None
    }
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

impl Tree {
    /// An empty directory.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Total size of the files' contents.
    pub fn size(&self) -> u64 {
        self.entries
            .values()
            .map(|e| match e {
                TreeEntry::File(f) => f.size,
                TreeEntry::Dir(d) => d.size(),
                TreeEntry::Symlink(_) => 0,
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Every entry with its path (`a/b/c`), sorted by path as text — the order a source
    /// directory is archived in (parents before their contents).
    pub fn flatten(&self) -> Vec<(String, &TreeEntry)> {
        let mut out = Vec::new();
        self.flatten_into("", &mut out);
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    fn flatten_into<'t>(&'t self, prefix: &str, out: &mut Vec<(String, &'t TreeEntry)>) {
        for (name, entry) in &self.entries {
            let path = join(prefix, name);
            if let TreeEntry::Dir(sub) = entry {
                out.push((path.clone(), entry));
                sub.flatten_into(&path, out);
            } else {
                out.push((path, entry));
            }
        }
    }

    /// The entry at `path` (components separated by `/`), links not followed.
    pub fn get(&self, path: &[&str]) -> Option<&TreeEntry> {
        let (first, rest) = path.split_first()?;
        let entry = self.entries.get(*first)?;
        match (entry, rest.is_empty()) {
            (_, true) => Some(entry),
            (TreeEntry::Dir(sub), false) => sub.get(rest),
            _ => None,
        }
    }

    fn file_mut(&mut self, path: &str) -> Option<&mut TreeFile> {
        let (first, rest) = match path.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (path, None),
        };
        match (self.entries.get_mut(first)?, rest) {
            (TreeEntry::File(f), None) => Some(f),
            (TreeEntry::Dir(sub), Some(rest)) => sub.file_mut(rest),
            _ => None,
        }
    }

    /// Checks that every symbolic link resolves inside the tree.
    ///
    /// # Errors
    /// [`TreeError::LinkOutside`] or [`TreeError::LinkLoop`] for the first bad link (in path
    /// order).
    pub fn check_links(&self) -> Result<(), TreeError> {
        for (path, entry) in self.flatten() {
            if let TreeEntry::Symlink(target) = entry {
                let dir: Vec<&str> = path.split('/').collect();
                let dir = dir.get(..dir.len().saturating_sub(1)).unwrap_or_default();
                let mut budget = MAX_LINKS;
                match self.resolve(dir, target, &mut budget) {
                    Ok(_) => {}
                    Err(Escape::Outside) => {
                        return Err(TreeError::LinkOutside {
                            path,
                            target: target.clone(),
                        });
                    }
                    Err(Escape::Loop) => {
                        return Err(TreeError::LinkLoop {
                            path,
                            target: target.clone(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Where `target`, read in directory `dir`, leads: the components of the path inside
    /// the tree (following the tree's links), or why it cannot be resolved inside it. A
    /// component that does not exist ends the walk lexically (it cannot be followed).
    fn resolve<'a>(
        &'a self,
        dir: &[&'a str],
        target: &'a str,
        budget: &mut usize,
    ) -> Result<Vec<&'a str>, Escape> {
        if target.starts_with('/') {
            return Err(Escape::Outside);
        }
        let mut at: Vec<&str> = dir.to_vec();
        for part in target.split('/') {
            match part {
                "" | "." => continue,
                ".." => {
                    at.pop().ok_or(Escape::Outside)?;
                }
                name => {
                    at.push(name);
                    if let Some(TreeEntry::Symlink(next)) = self.get(&at) {
                        *budget = budget.checked_sub(1).ok_or(Escape::Loop)?;
                        at.pop();
                        at = self.resolve(&at, next, budget)?;
                    }
                }
            }
        }
        Ok(at)
    }

    /// Writes this tree's directory blobs into `store` (its files must be there already);
    /// returns its digest and the total size of its files.
    ///
    /// # Errors
    /// The store cannot be written.
    pub fn write(&self, store: &dyn Store) -> Result<(Digest, u64), TreeError> {
        let mut entries = Vec::with_capacity(self.entries.len());
        for (name, entry) in &self.entries {
            entries.push(match entry {
                TreeEntry::File(f) => NodeEntry::File {
                    name: name.clone(),
                    digest: f.digest,
                    size: f.size,
                    executable: f.executable,
                },
                TreeEntry::Dir(sub) => NodeEntry::Dir {
                    name: name.clone(),
                    digest: sub.write(store)?.0,
                },
                TreeEntry::Symlink(target) => NodeEntry::Symlink {
                    name: name.clone(),
                    target: target.clone(),
                },
            });
        }
        let bytes = serde_json::to_vec(&Node {
            tree: FORMAT,
            entries,
        })
        .map_err(|e| io_error(&store.tmp_dir(), io::Error::other(e)))?;
        let tmp_dir = store.tmp_dir();
        let mut tmp =
            tempfile::NamedTempFile::new_in(&tmp_dir).map_err(|e| io_error(&tmp_dir, e))?;
        tmp.write_all(&bytes).map_err(|e| io_error(tmp.path(), e))?;
        let path = tmp.into_temp_path();
        let (digest, _) = store.put_blob(&path).map_err(|e| io_error(&path, e))?;
        // put_blob moved the file away; nothing left for the guard to delete.
        let _ = path.keep();
        Ok((digest, self.size()))
    }

    /// Reads the tree whose root directory blob is `root` from `store`.
    ///
    /// # Errors
    /// [`TreeError::Corrupt`] if a directory blob is missing or malformed.
    pub fn read(store: &dyn Store, root: &Digest) -> Result<Tree, TreeError> {
        read_node(store, root, 0, &mut |_, _| {})
    }

    /// Every blob a stored tree consists of: its directory blobs (size `None`) and its
    /// files' contents (with their size).
    ///
    /// # Errors
    /// As [`Tree::read`].
    pub fn blobs(
        store: &dyn Store,
        root: &Digest,
    ) -> Result<Vec<(Digest, Option<u64>)>, TreeError> {
        let mut out = vec![(*root, None)];
        read_node(store, root, 0, &mut |digest, size| out.push((digest, size)))?;
        Ok(out)
    }

    /// The tree with the location of every file's blob in `store`, ready to be read or
    /// materialised.
    ///
    /// # Errors
    /// [`TreeError::Corrupt`] naming a file blob the store does not have.
    pub fn resolve_blobs(&self, store: &dyn Store) -> Result<ResolvedTree, TreeError> {
        let mut entries = Vec::new();
        for (path, entry) in self.flatten() {
            let resolved = match entry {
                TreeEntry::Dir(_) => ResolvedEntry::Dir,
                TreeEntry::Symlink(target) => ResolvedEntry::Symlink(target.clone()),
                TreeEntry::File(f) => ResolvedEntry::File {
                    blob: store
                        .blob_path(&f.digest)
                        .ok_or_else(|| TreeError::Corrupt {
                            digest: f.digest,
                            why: format!("(file `{path}`) is missing from the store"),
                        })?,
                    size: f.size,
                    executable: f.executable,
                },
            };
            entries.push((path, resolved));
        }
        Ok(ResolvedTree { entries })
    }
}

enum Escape {
    Outside,
    Loop,
}

fn io_error(path: &Path, source: io::Error) -> TreeError {
    TreeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads directory `dir` from disk (links not followed) into a tree whose file digests are
/// still zero, listing every file (where it is, its path in the tree) in `files`.
fn scan_dir(
    dir: &Path,
    prefix: &str,
    files: &mut Vec<(PathBuf, String)>,
    depth: usize,
) -> Result<Tree, TreeError> {
    if depth > MAX_DEPTH {
        return Err(TreeError::BadName {
            path: prefix.to_string(),
            why: "nested too deeply",
        });
    }
    let mut tree = Tree::new();
    let read = fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    for entry in read {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let os_name = entry.file_name();
        let Some(name) = os_name.to_str() else {
            return Err(TreeError::BadName {
                path: join(prefix, &os_name.to_string_lossy()),
                why: "not UTF-8",
            });
        };
        let path = join(prefix, name);
        let full = entry.path();
        let meta = fs::symlink_metadata(&full).map_err(|e| io_error(&full, e))?;
        let kind = meta.file_type();
        let node = if kind.is_dir() {
            TreeEntry::Dir(scan_dir(&full, &path, files, depth + 1)?)
        } else if kind.is_file() {
            files.push((full, path.clone()));
            TreeEntry::File(TreeFile {
                // Filled in once the file is in the store.
                digest: Digest([0; 32]),
                size: meta.len(),
                executable: meta.permissions().mode() & 0o111 != 0,
            })
        } else if kind.is_symlink() {
            let target = fs::read_link(&full).map_err(|e| io_error(&full, e))?;
            let Some(target) = target.to_str() else {
                return Err(TreeError::BadName {
                    path,
                    why: "its link target is not UTF-8",
                });
            };
            TreeEntry::Symlink(target.to_string())
        } else {
            return Err(TreeError::Unsupported {
                path,
                what: special_kind(&kind),
            });
        };
        tree.entries.insert(name.to_string(), node);
    }
    Ok(tree)
}

#[cfg(unix)]
fn special_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "FIFO"
    } else if kind.is_socket() {
        "socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: &fs::FileType) -> &'static str {
    "special file"
}

/// Reads directory blob `digest` (and those below it) into a [`Tree`], telling `seen` about
/// every blob below the root.
fn read_node(
    store: &dyn Store,
    digest: &Digest,
    depth: usize,
    seen: &mut dyn FnMut(Digest, Option<u64>),
) -> Result<Tree, TreeError> {
    let corrupt = |why: String| TreeError::Corrupt {
        digest: *digest,
        why,
    };
    if depth > MAX_DEPTH {
        return Err(corrupt("is nested too deeply".into()));
    }
    let path = store
        .blob_path(digest)
        .ok_or_else(|| corrupt("is missing from the store".into()))?;
    let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if len > MAX_NODE_BYTES {
        return Err(corrupt(format!("is too large ({len} bytes)")));
    }
    let bytes = fs::read(&path).map_err(|e| io_error(&path, e))?;
    let node: Node =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("is not a directory ({e})")))?;
    if node.tree != FORMAT {
        return Err(corrupt(format!("has format {}, not {FORMAT}", node.tree)));
    }
    let mut tree = Tree::new();
    let mut previous: Option<String> = None;
    for entry in node.entries {
        let name = entry.name().to_string();
        if let Some(why) = bad_component(&name) {
            return Err(corrupt(format!("has an entry whose name is {why}")));
        }
        if previous.as_ref().is_some_and(|p| *p >= name) {
            return Err(corrupt("lists its entries out of order".into()));
        }
        previous = Some(name.clone());
        let entry = match entry {
            NodeEntry::File {
                digest,
                size,
                executable,
                ..
            } => {
                seen(digest, Some(size));
                TreeEntry::File(TreeFile {
                    digest,
                    size,
                    executable,
                })
            }
            NodeEntry::Dir { digest: sub, .. } => {
                seen(sub, None);
                TreeEntry::Dir(read_node(store, &sub, depth + 1, seen)?)
            }
            NodeEntry::Symlink { target, .. } => TreeEntry::Symlink(target),
        };
        tree.entries.insert(name, entry);
    }
    Ok(tree)
}

/// Moves the directory `dir` into `store` as a tree: scans it, checks its links, moves every
/// file into the CAS and writes its directory blobs. Returns its digest and total size.
///
/// # Errors
/// An entry that is neither file, directory nor link, a name that is not UTF-8, a link
/// leading outside ([`Tree::check_links`]), or the store cannot be written.
pub fn store_tree(store: &dyn Store, dir: &Path) -> Result<(Digest, u64), TreeError> {
    let mut files = Vec::new();
    let mut tree = scan_dir(dir, "", &mut files, 0)?;
    tree.check_links()?;
    for (path, at) in &files {
        let (digest, size) = store.put_blob(path).map_err(|e| io_error(path, e))?;
        if let Some(file) = tree.file_mut(at) {
            file.digest = digest;
            file.size = size;
        }
    }
    tree.write(store)
}

/// A stored tree with the location of every file's contents: what an action reading a tree
/// input sees ([`RunContext::input_tree`](crate::RunContext::input_tree)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedTree {
    /// Every entry with its path, sorted by path as text (parents first).
    pub entries: Vec<(String, ResolvedEntry)>,
}

/// One entry of a [`ResolvedTree`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolvedEntry {
    /// A directory.
    Dir,
    /// A file: where its contents are (a read-only blob: never write to it), its size, and
    /// whether it is executable.
    File {
        /// The blob holding its contents.
        blob: PathBuf,
        /// Its size.
        size: u64,
        /// True if it is executable.
        executable: bool,
    },
    /// A symbolic link and its target.
    Symlink(String),
}

impl ResolvedTree {
    /// Total size of the files.
    pub fn size(&self) -> u64 {
        self.entries
            .iter()
            .map(|(_, e)| match e {
                ResolvedEntry::File { size, .. } => *size,
                _ => 0,
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Writes the tree out under `dest` (created if missing): directories 0755, files copied
    /// with mode 0755 or 0644 (0555 or 0444 when `read_only`), links as links. Never writes
    /// outside `dest`: names are single components and no link is followed.
    ///
    /// # Errors
    /// A file cannot be written (e.g. `dest` already holds something at that path).
    pub fn materialize(&self, dest: &Path, read_only: bool) -> io::Result<()> {
        fs::create_dir_all(dest)?;
        for (path, entry) in &self.entries {
            let to = dest.join(path);
            match entry {
                ResolvedEntry::Dir => {
                    fs::create_dir(&to)?;
                    fs::set_permissions(&to, fs::Permissions::from_mode(0o755))?;
                }
                ResolvedEntry::File {
                    blob, executable, ..
                } => {
                    fs::copy(blob, &to)?;
                    let mode = match (executable, read_only) {
                        (true, false) => 0o755,
                        (false, false) => 0o644,
                        (true, true) => 0o555,
                        (false, true) => 0o444,
                    };
                    fs::set_permissions(&to, fs::Permissions::from_mode(mode))?;
                }
                ResolvedEntry::Symlink(target) => std::os::unix::fs::symlink(target, &to)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> TreeEntry {
        TreeEntry::File(TreeFile {
            digest: Digest::of_bytes(&size.to_le_bytes()),
            size,
            executable: false,
        })
    }

    fn dir(entries: &[(&str, TreeEntry)]) -> Tree {
        Tree {
            entries: entries
                .iter()
                .map(|(n, e)| (n.to_string(), e.clone()))
                .collect(),
        }
    }

    fn link(target: &str) -> TreeEntry {
        TreeEntry::Symlink(target.into())
    }

    #[test]
    fn links_inside_are_fine_and_links_outside_are_refused() {
        let ok = dir(&[
            ("bin", TreeEntry::Dir(dir(&[("tool", link("../lib/tool"))]))),
            ("lib", TreeEntry::Dir(dir(&[("tool", file(3))]))),
            ("dot", link(".")),
            ("dangling", link("nowhere/deeper")),
            ("via", link("bin/../lib")),
        ]);
        ok.check_links().unwrap();

        for (name, target) in [
            ("abs", "/etc/passwd"),
            ("up", "../x"),
            ("deep", "lib/../../x"),
        ] {
            let bad = dir(&[("lib", TreeEntry::Dir(Tree::new())), (name, link(target))]);
            let err = bad.check_links().unwrap_err();
            assert!(
                matches!(&err, TreeError::LinkOutside { path, .. } if path == name),
                "{err}"
            );
            assert!(err.to_string().contains(target), "{err}");
        }
        // Lexically inside, physically outside: `here` is the root, so `here/../x` climbs out.
        let sneaky = dir(&[("here", link(".")), ("out", link("here/../x"))]);
        assert!(matches!(
            sneaky.check_links(),
            Err(TreeError::LinkOutside { .. })
        ));
        // Through a link deeper down.
        let sub = dir(&[(
            "a",
            TreeEntry::Dir(dir(&[("up", link("..")), ("esc", link("up/../.."))])),
        )]);
        assert!(matches!(
            sub.check_links(),
            Err(TreeError::LinkOutside { .. })
        ));
        let lp = dir(&[("a", link("b")), ("b", link("a"))]);
        assert!(matches!(lp.check_links(), Err(TreeError::LinkLoop { .. })));
    }

    #[test]
    fn flatten_sorts_like_a_source_directory() {
        let t = dir(&[
            ("a", TreeEntry::Dir(dir(&[("b", file(1))]))),
            ("a-c", file(2)),
        ]);
        let paths: Vec<String> = t.flatten().into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["a", "a-c", "a/b"]);
        assert_eq!(t.size(), 3);
    }

    #[test]
    fn bad_components() {
        for name in ["", ".", "..", "a/b", "a\0"] {
            assert!(bad_component(name).is_some(), "{name:?}");
        }
        assert!(bad_component("ok.txt").is_none());
    }
}
