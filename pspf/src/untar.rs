//! A streaming tar unpacker that never writes outside its destination.
//!
//! Members come from [`crate::archive`], which bounds every header before reading it. They
//! are written by hand rather than through `tar::Entry::unpack_in`, which
//! canonicalises every parent and probes the file system a dozen times per entry. Safety
//! comes from three rules instead: entry paths (and hard-link targets) may not be absolute or
//! contain `..`; a directory on the way to an entry that turns out to be a symbolic link must
//! resolve inside the destination (checked once per directory, with the result remembered);
//! and an existing file or link at an entry's own path is removed before the entry is created
//! with `O_EXCL`, so nothing is ever written through a link. Device and FIFO entries are
//! refused. Modes and modification times come from the headers; directory modes are applied
//! last, so a read-only directory can still be filled.
//!
//! Regular files are written by [`crate::writers`] threads while this thread goes on decoding.
//! What makes that safe is knowing, without asking the file system, that nothing is in the way:
//! a directory this unpacker created (or the destination, when it starts empty) is *fresh* — it
//! held nothing but what this archive put there — and every path this archive has used is
//! remembered. An entry whose directory is fresh and whose path is new is created straight
//! away (no `stat` first), its file handed to a writer. Anything else — a path used twice, a
//! directory that existed before, a hard link — waits for the writers to finish and is checked
//! on disk as above. Once a symbolic link has led the way to an entry, two paths may name one
//! file, so from there on every entry is checked on disk and written before the next one.

use crate::archive::{Member, MemberData, for_each_member_in};
use crate::error::{Error, Result};
use crate::extract::check_entry_path;
use crate::pieces::Stream;
use crate::writers::{Finish, Writers, at_path, current_umask};
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Unpacks one or more tar streams into a destination directory.
pub struct Unpacker {
    root: PathBuf,
    /// Relative directories known to be directories inside `root` (real directories, not
    /// links, until `aliased`).
    dirs: PathSet,
    /// Directories that held nothing but what this unpacker put there: made by it, or the
    /// root when it started empty.
    fresh: PathSet,
    /// Paths of the non-directory entries created so far (a writer may still be on them).
    created: PathSet,
    /// A symbolic link has led the way to an entry: paths may alias each other.
    aliased: bool,
    /// Directory modes to apply at the end, in creation order.
    dir_modes: Vec<(PathBuf, u32)>,
    /// Whether an entry has replaced something already on disk (see [`Unpacker::finish`]).
    replaced: bool,
    /// The mode `mkdir` gives a new directory here (from the umask), once one directory made
    /// has shown it: a directory entry made with the mode it asks for needs no `chmod` at the
    /// end. `None`: unknown, or something else decides (a default ACL, a set-group-ID parent).
    made_dir_mode: Option<u32>,
    /// Whether `made_dir_mode` has been checked against a directory on disk.
    made_dir_mode_seen: bool,
    writers: Writers,
}

/// A set of normalised relative paths, compared (and hashed) as bytes: hashing a `Path`
/// walks its components, several times per entry.
#[derive(Default)]
struct PathSet(HashSet<OsString>);

impl PathSet {
    fn contains(&self, path: &Path) -> bool {
        self.0.contains(path.as_os_str())
    }

    fn insert(&mut self, path: PathBuf) {
        self.0.insert(path.into_os_string());
    }

    fn remove(&mut self, path: &Path) {
        self.0.remove(path.as_os_str());
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

fn unsafe_path(path: &Path, reason: &str) -> Error {
    Error::UnsafePath {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// `a/./b/` → `a/b`; the entry checks have already refused `..` and absolute paths.
fn normalise(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Remove whatever is at `path`; true when something was there.
fn remove_existing(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map(|()| true),
        Ok(_) => fs::remove_file(path).map(|()| true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn mkdir(path: &Path) -> Result<()> {
    fs::create_dir(path).map_err(|e| at_path(path, e))
}

impl Unpacker {
    /// An unpacker for `dest` writing files on `threads` threads besides the calling one (0:
    /// on the calling thread).
    pub fn with_writers(dest: &Path, threads: usize) -> Result<Unpacker> {
        let root = dest.canonicalize().map_err(|e| at_path(dest, e))?;
        let mut fresh = PathSet::default();
        let empty = fs::read_dir(&root)
            .map_err(|e| at_path(&root, e))?
            .next()
            .is_none();
        if empty {
            fresh.insert(PathBuf::new());
        }
        Ok(Unpacker {
            root,
            dirs: PathSet::default(),
            fresh,
            created: PathSet::default(),
            aliased: false,
            dir_modes: Vec::new(),
            replaced: false,
            // Every directory made in an empty root descends from it through directories made
            // here, so the first one shows what all the others get.
            made_dir_mode: current_umask()
                .filter(|_| empty)
                .map(|umask| 0o777 & !umask),
            made_dir_mode_seen: false,
            writers: Writers::new(threads),
        })
    }

    /// True when nothing can be at `rel` yet: its directory is fresh and this archive has
    /// not used the path.
    fn is_new(&self, rel: &Path) -> bool {
        let parent = rel.parent().unwrap_or(Path::new(""));
        !self.aliased
            && self.fresh.contains(parent)
            && !self.created.contains(rel)
            && !self.dirs.contains(rel)
    }

    /// Make sure every ancestor of `rel` is a directory inside the root, creating what is
    /// missing. A symbolic link on the way must resolve inside the root.
    fn ensure_parents(&mut self, rel: &Path) -> Result<()> {
        let Some(parent) = rel.parent() else {
            return Ok(());
        };
        if parent.as_os_str().is_empty() || self.dirs.contains(parent) {
            return Ok(());
        }
        let mut prefix = PathBuf::new();
        for comp in parent.components() {
            prefix.push(comp);
            if self.dirs.contains(&prefix) {
                continue;
            }
            if self.is_new(&prefix) {
                mkdir(&self.root.join(&prefix))?;
                self.fresh.insert(prefix.clone());
            } else {
                self.check_parent(&prefix, rel)?;
            }
            self.dirs.insert(prefix.clone());
        }
        Ok(())
    }

    /// [`Unpacker::ensure_parents`] for a directory that may already exist: look at it on disk.
    fn check_parent(&mut self, prefix: &Path, rel: &Path) -> Result<()> {
        if self.created.contains(prefix) {
            // A file of this archive, perhaps still being written.
            self.writers.barrier()?;
        }
        let full = self.root.join(prefix);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(m) if m.file_type().is_symlink() => match full.canonicalize() {
                Ok(real) if real.starts_with(&self.root) && real.is_dir() => self.alias(),
                _ => Err(unsafe_path(
                    rel,
                    "would be written through a symbolic link that leaves the destination",
                )),
            },
            Ok(_) => Err(unsafe_path(rel, "a parent path is not a directory")),
            Err(_) => self.new_dir(prefix, &full),
        }
    }

    /// A link leads the way to an entry: from here on, every entry is checked on disk and
    /// written before the next.
    fn alias(&mut self) -> Result<()> {
        self.aliased = true;
        self.fresh.clear();
        self.writers.barrier()
    }

    /// Remove what is at `rel` before a new entry takes its place, forgetting every directory
    /// known to be safe: one reached through a symbolic link (another path than `rel`) may
    /// have led through what was just removed.
    fn replace(&mut self, full: &Path) -> Result<()> {
        // Nothing is removed while a writer may still be writing below it.
        self.writers.barrier()?;
        if remove_existing(full).map_err(|e| at_path(full, e))? {
            self.dirs.clear();
            self.fresh.clear();
            self.replaced = true;
        }
        Ok(())
    }

    /// Unpack one tar stream, reading it to its end (so a verifying reader underneath gets to
    /// check its digest). Returns the number of members written. Headers are bounded before
    /// they are read (see [`crate::archive`]). When this returns, every file is written (or,
    /// on an error, nothing more is being written).
    pub fn unpack(&mut self, stream: &mut dyn Stream) -> Result<u64> {
        let result = for_each_member_in(stream, |member, data| self.member(member, data))
            .and_then(|count| self.finish().map(|()| count));
        if result.is_err() {
            self.writers.stop();
        }
        result
    }

    fn member(&mut self, member: &Member, data: &mut MemberData<'_>) -> Result<()> {
        let raw = &member.path;
        check_entry_path(raw)?;
        let rel = normalise(raw);
        let kind = member.kind;
        if kind.is_block_special() || kind.is_character_special() || kind.is_fifo() {
            return Err(unsafe_path(
                raw,
                "device and FIFO entries are not allowed in a package",
            ));
        }
        if rel.as_os_str().is_empty() {
            // "./" itself: nothing to create.
            return Ok(());
        }
        self.ensure_parents(&rel)?;
        let full = self.root.join(&rel);
        if kind.is_dir() {
            self.directory(rel, full, member.mode)?;
        } else if kind.is_symlink() {
            let target = member
                .link
                .as_ref()
                .ok_or_else(|| unsafe_path(raw, "symbolic link without a target"))?;
            self.make_room(&rel, &full)?;
            std::os::unix::fs::symlink(target, &full).map_err(|e| at_path(&full, e))?;
            self.created.insert(rel);
        } else if kind.is_hard_link() {
            let target = member
                .link
                .as_ref()
                .ok_or_else(|| unsafe_path(raw, "hard link without a target"))?;
            check_entry_path(target)?;
            let target_rel = normalise(target);
            self.ensure_parents(&target_rel)?;
            // The target may be a file a writer has not created yet.
            self.writers.barrier()?;
            self.replace(&full)?;
            fs::hard_link(self.root.join(target_rel), &full).map_err(|e| at_path(&full, e))?;
            self.created.insert(rel);
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            self.make_room(&rel, &full)?;
            let finish = Finish {
                mode: member.mode,
                mtime: member.mtime,
            };
            self.writers.file(full, member.size, data, finish)?;
            self.created.insert(rel);
        }
        // Other member kinds (GNU volume labels and the like) carry nothing to write.
        if self.aliased {
            self.writers.barrier()?;
        }
        Ok(())
    }

    /// Clear the way for a new non-directory entry at `rel`, unless nothing can be there.
    fn make_room(&mut self, rel: &Path, full: &Path) -> Result<()> {
        if self.is_new(rel) {
            return Ok(());
        }
        self.replace(full)?;
        self.dirs.remove(rel);
        Ok(())
    }

    fn directory(&mut self, rel: PathBuf, full: PathBuf, mode: u32) -> Result<()> {
        if self.is_new(&rel) {
            mkdir(&full)?;
            self.fresh.insert(rel.clone());
            if self.made_with(&full, mode) {
                self.dirs.insert(rel);
                return Ok(());
            }
        } else if self.aliased || !self.dirs.contains(&rel) {
            if self.created.contains(&rel) {
                self.writers.barrier()?;
            }
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    self.replace(&full)?;
                    self.new_dir(&rel, &full)?;
                }
                Err(_) => self.new_dir(&rel, &full)?,
            }
            self.created.remove(&rel);
        }
        self.dirs.insert(rel);
        self.dir_modes.push((full, mode));
        Ok(())
    }

    /// Whether the directory just made at `full` already has `mode` (checked on disk for the
    /// first one).
    fn made_with(&mut self, full: &Path, mode: u32) -> bool {
        let Some(made) = self.made_dir_mode else {
            return false;
        };
        if mode & 0o7777 != made {
            return false;
        }
        if !self.made_dir_mode_seen {
            self.made_dir_mode_seen = true;
            let on_disk = fs::symlink_metadata(full).map(|m| m.permissions().mode() & 0o7777);
            if on_disk.ok() != Some(made) {
                self.made_dir_mode = None;
                return false;
            }
        }
        true
    }

    /// Make a directory where nothing is: it starts fresh (unless paths may alias).
    fn new_dir(&mut self, rel: &Path, full: &Path) -> Result<()> {
        mkdir(full)?;
        if !self.aliased {
            self.fresh.insert(rel.to_path_buf());
        }
        Ok(())
    }

    /// Wait for the writers, then apply directory modes, deepest first. Once an entry has
    /// replaced something, a recorded directory (or one on its way) may have become a
    /// symbolic link: its mode is then applied only where the path still resolves to a
    /// directory inside the root, never through a link that leaves it.
    fn finish(&mut self) -> Result<()> {
        self.writers.barrier()?;
        for (dir, mode) in self.dir_modes.drain(..).rev() {
            let dir = if self.replaced {
                match dir.canonicalize() {
                    Ok(real) if real.starts_with(&self.root) && real.is_dir() => real,
                    _ => continue,
                }
            } else {
                dir
            };
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode))
                .map_err(|e| at_path(&dir, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
