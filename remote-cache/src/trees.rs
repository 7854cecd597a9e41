//! Tree outputs in REAPI's shape: a local [`Tree`] (blake3, one directory blob per directory)
//! becomes a REAPI `Tree` message (the root `Directory` and every child `Directory`, files
//! named by SHA-256) stored as one blob, and back.
//!
//! Coming back, nothing in the message is trusted: every name must be one path component,
//! names are unique within a directory, every child directory named must be in the message,
//! nesting is bounded, every file's contents are checked against their SHA-256 as they are
//! downloaded, and the links must stay inside the tree ([`Tree::check_links`]) — a tree from
//! the server that would reach outside its directory is refused like a local one.

use std::collections::HashMap;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use flavor_engine::tree::bad_component;
use flavor_engine::{Digest, Tree, TreeEntry, TreeFile};
use prost::Message;
use sha2::{Digest as _, Sha256};

use crate::index::is_sha256_hex;

/// Deepest nesting accepted from a server.
const MAX_DEPTH: usize = 256;

/// Largest `Tree` blob accepted from a server.
pub(crate) const MAX_TREE_BLOB: u64 = 64 * 1024 * 1024;

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn digest_of(bytes: &[u8]) -> re::Digest {
    re::Digest {
        hash: sha256_hex(bytes),
        size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
    }
}

/// A local tree as a REAPI `Tree`, its files named by `sha256(file)` (`None` when a file's
/// SHA-256 cannot be had). Entries are sorted by name, as REAPI requires; identical child
/// directories are stored once.
pub(crate) fn to_reapi(
    tree: &Tree,
    sha256: &mut dyn FnMut(&TreeFile) -> Option<String>,
) -> Option<re::Tree> {
    let mut children = Vec::new();
    let root = directory(tree, sha256, &mut children)?;
    let mut seen = std::collections::HashSet::new();
    children.retain(|d: &re::Directory| seen.insert(d.encode_to_vec()));
    Some(re::Tree {
        root: Some(root),
        children,
    })
}

fn directory(
    tree: &Tree,
    sha256: &mut dyn FnMut(&TreeFile) -> Option<String>,
    children: &mut Vec<re::Directory>,
) -> Option<re::Directory> {
    let mut dir = re::Directory::default();
    for (name, entry) in &tree.entries {
        match entry {
            TreeEntry::File(file) => dir.files.push(re::FileNode {
                name: name.clone(),
                digest: Some(re::Digest {
                    hash: sha256(file)?,
                    size_bytes: i64::try_from(file.size).ok()?,
                }),
                is_executable: file.executable,
                ..Default::default()
            }),
            TreeEntry::Dir(sub) => {
                let child = directory(sub, sha256, children)?;
                let digest = digest_of(&child.encode_to_vec());
                children.push(child);
                dir.directories.push(re::DirectoryNode {
                    name: name.clone(),
                    digest: Some(digest),
                });
            }
            TreeEntry::Symlink(target) => dir.symlinks.push(re::SymlinkNode {
                name: name.clone(),
                target: target.clone(),
                ..Default::default()
            }),
        }
    }
    Some(dir)
}

/// The SHA-256 digest of a `Directory` (for an output directory's `root_directory_digest`).
pub(crate) fn root_digest(tree: &re::Tree) -> (String, u64) {
    let bytes = tree.root.clone().unwrap_or_default().encode_to_vec();
    (sha256_hex(&bytes), bytes.len() as u64)
}

/// A REAPI `Tree` from a server as a local tree. `fetch(sha256, size)` downloads one file
/// (checking it) into the local store and returns its blake3 digest, or `None` (the whole
/// tree is then a miss). `Err` says what is wrong with the message.
pub(crate) fn from_reapi(
    tree: re::Tree,
    fetch: &mut dyn FnMut(&str, u64) -> Option<Digest>,
) -> Result<Option<Tree>, String> {
    let root = tree.root.ok_or("has no root directory")?;
    let children: HashMap<String, re::Directory> = tree
        .children
        .into_iter()
        .map(|d| (sha256_hex(&d.encode_to_vec()), d))
        .collect();
    let mut fetched: HashMap<String, Digest> = HashMap::new();
    let mut converter = Converter {
        children: &children,
        fetched: &mut fetched,
        fetch,
    };
    let Some(local) = converter.convert(&root, "", 0)? else {
        return Ok(None);
    };
    local.check_links().map_err(|e| e.to_string())?;
    Ok(Some(local))
}

struct Converter<'a> {
    children: &'a HashMap<String, re::Directory>,
    /// Files downloaded so far, by SHA-256 (a file repeated in a tree is fetched once).
    fetched: &'a mut HashMap<String, Digest>,
    fetch: &'a mut dyn FnMut(&str, u64) -> Option<Digest>,
}

impl Converter<'_> {
    fn convert(
        &mut self,
        dir: &re::Directory,
        at: &str,
        depth: usize,
    ) -> Result<Option<Tree>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nests directories deeper than {MAX_DEPTH}"));
        }
        let mut tree = Tree::new();
        let add = |tree: &mut Tree, name: &str, entry: TreeEntry| -> Result<(), String> {
            if let Some(why) = bad_component(name) {
                return Err(format!("has an entry in `{at}` whose name is {why}"));
            }
            if tree.entries.insert(name.to_string(), entry).is_some() {
                return Err(format!("names `{name}` twice in `{at}`"));
            }
            Ok(())
        };
        for file in &dir.files {
            let digest = file.digest.as_ref().ok_or("has a file without a digest")?;
            let size = u64::try_from(digest.size_bytes).map_err(|_| "has a negative size")?;
            if !is_sha256_hex(&digest.hash) {
                return Err("has a file with a malformed SHA-256".into());
            }
            let local = match self.fetched.get(&digest.hash) {
                Some(local) => *local,
                None => match (self.fetch)(&digest.hash, size) {
                    Some(local) => {
                        self.fetched.insert(digest.hash.clone(), local);
                        local
                    }
                    None => return Ok(None),
                },
            };
            let entry = TreeEntry::File(TreeFile {
                digest: local,
                size,
                executable: file.is_executable,
            });
            add(&mut tree, &file.name, entry)?;
        }
        for node in &dir.directories {
            let digest = node
                .digest
                .as_ref()
                .ok_or("has a directory without a digest")?;
            let child = self
                .children
                .get(&digest.hash)
                .ok_or("names a directory it does not hold")?;
            let path = if at.is_empty() {
                node.name.clone()
            } else {
                format!("{at}/{}", node.name)
            };
            let Some(sub) = self.convert(child, &path, depth + 1)? else {
                return Ok(None);
            };
            add(&mut tree, &node.name, TreeEntry::Dir(sub))?;
        }
        for link in &dir.symlinks {
            add(
                &mut tree,
                &link.name,
                TreeEntry::Symlink(link.target.clone()),
            )?;
        }
        Ok(Some(tree))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, executable: bool) -> TreeEntry {
        TreeEntry::File(TreeFile {
            digest: Digest::of_bytes(text.as_bytes()),
            size: text.len() as u64,
            executable,
        })
    }

    fn tree(entries: Vec<(&str, TreeEntry)>) -> Tree {
        Tree {
            entries: entries
                .into_iter()
                .map(|(n, e)| (n.to_string(), e))
                .collect(),
        }
    }

    /// The file's "SHA-256" in these tests: the hex of its blake3 digest (any injective name
    /// will do for the mapping).
    fn name(file: &TreeFile) -> Option<String> {
        Some(file.digest.to_hex())
    }

    #[test]
    fn a_tree_survives_the_round_trip() {
        let shared = tree(vec![("x", file("same", false))]);
        let local = tree(vec![
            ("bin", TreeEntry::Dir(tree(vec![("run", file("#!", true))]))),
            ("a", TreeEntry::Dir(shared.clone())),
            ("b", TreeEntry::Dir(shared)),
            ("link", TreeEntry::Symlink("bin/run".into())),
            ("empty", TreeEntry::Dir(Tree::new())),
        ]);
        let remote = to_reapi(&local, &mut name).unwrap();
        // `a` and `b` are the same directory: stored once.
        assert_eq!(remote.children.len(), 3, "{remote:?}");
        let mut fetches = 0;
        let back = from_reapi(remote, &mut |sha, _| {
            fetches += 1;
            Digest::from_hex(sha).ok()
        })
        .unwrap()
        .unwrap();
        assert_eq!(back, local);
        assert_eq!(fetches, 2, "a file repeated in the tree is fetched once");
    }

    #[test]
    fn hostile_trees_are_refused() {
        let fetch = &mut |sha: &str, _: u64| Digest::from_hex(sha).ok();
        let leaky = tree(vec![("l", TreeEntry::Symlink("../../etc".into()))]);
        let err = from_reapi(to_reapi(&leaky, &mut name).unwrap(), fetch).unwrap_err();
        assert!(err.contains("outside the tree"), "{err}");

        let mut dotdot = to_reapi(&tree(vec![("f", file("x", false))]), &mut name).unwrap();
        dotdot.root.as_mut().unwrap().files[0].name = "..".into();
        let err = from_reapi(dotdot, fetch).unwrap_err();
        assert!(err.contains("directory reference"), "{err}");

        let mut slash = to_reapi(&tree(vec![("f", file("x", false))]), &mut name).unwrap();
        slash.root.as_mut().unwrap().files[0].name = "a/b".into();
        assert!(from_reapi(slash, fetch).unwrap_err().contains('/'));

        let sub = tree(vec![("d", TreeEntry::Dir(Tree::new()))]);
        let mut orphan = to_reapi(&sub, &mut name).unwrap();
        orphan.children.clear();
        let err = from_reapi(orphan, fetch).unwrap_err();
        assert!(err.contains("does not hold"), "{err}");

        let mut twice = to_reapi(&tree(vec![("f", file("x", false))]), &mut name).unwrap();
        let root = twice.root.as_mut().unwrap();
        root.symlinks.push(re::SymlinkNode {
            name: "f".into(),
            target: "x".into(),
            ..Default::default()
        });
        assert!(from_reapi(twice, fetch).unwrap_err().contains("twice"));
    }

    #[test]
    fn a_file_that_cannot_be_fetched_is_a_miss() {
        let local = tree(vec![("f", file("x", false))]);
        let remote = to_reapi(&local, &mut name).unwrap();
        assert_eq!(from_reapi(remote, &mut |_, _| None), Ok(None));
    }
}
