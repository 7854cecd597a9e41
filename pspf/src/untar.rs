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

use crate::archive::{Member, for_each_member};
use crate::error::{Error, Result};
use crate::extract::check_entry_path;
use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Unpacks one or more tar streams into a destination directory.
pub struct Unpacker {
    root: PathBuf,
    /// Relative directories known to be real directories inside `root`.
    dirs: HashSet<PathBuf>,
    /// Directory modes to apply at the end, in creation order.
    dir_modes: Vec<(PathBuf, u32)>,
    /// Whether an entry has replaced something already on disk (see [`Unpacker::finish`]).
    replaced: bool,
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

impl Unpacker {
    /// An unpacker for `dest`, which must exist.
    pub fn new(dest: &Path) -> Result<Unpacker> {
        Ok(Unpacker {
            root: dest.canonicalize()?,
            dirs: HashSet::new(),
            dir_modes: Vec::new(),
            replaced: false,
        })
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
            let full = self.root.join(&prefix);
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => match full.canonicalize() {
                    Ok(real) if real.starts_with(&self.root) && real.is_dir() => {}
                    _ => {
                        return Err(unsafe_path(
                            rel,
                            "would be written through a symbolic link that leaves the destination",
                        ));
                    }
                },
                Ok(_) => {
                    return Err(unsafe_path(rel, "a parent path is not a directory"));
                }
                Err(_) => fs::create_dir(&full)?,
            }
            self.dirs.insert(prefix.clone());
        }
        Ok(())
    }

    /// Remove what is at `rel` before a new entry takes its place, forgetting every directory
    /// known to be safe: one reached through a symbolic link (another path than `rel`) may
    /// have led through what was just removed.
    fn replace(&mut self, full: &Path) -> Result<()> {
        if remove_existing(full)? {
            self.dirs.clear();
            self.replaced = true;
        }
        Ok(())
    }

    /// Unpack one tar stream, reading it to its end (so a verifying reader underneath gets to
    /// check its digest). Returns the number of members written. Headers are bounded before
    /// they are read (see [`crate::archive`]).
    pub fn unpack<R: Read>(&mut self, reader: R) -> Result<u64> {
        let count = for_each_member(reader, |member, data| self.member(member, data))?;
        self.finish()?;
        Ok(count)
    }

    fn member(&mut self, member: &Member, data: &mut dyn Read) -> Result<()> {
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
            match fs::symlink_metadata(&full) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    self.replace(&full)?;
                    fs::create_dir(&full)?;
                }
                Err(_) => fs::create_dir(&full)?,
            }
            self.dirs.insert(rel.clone());
            self.dir_modes.push((full, member.mode));
        } else if kind.is_symlink() {
            let target = member
                .link
                .as_ref()
                .ok_or_else(|| unsafe_path(raw, "symbolic link without a target"))?;
            self.replace(&full)?;
            std::os::unix::fs::symlink(target, &full)?;
        } else if kind.is_hard_link() {
            let target = member
                .link
                .as_ref()
                .ok_or_else(|| unsafe_path(raw, "hard link without a target"))?;
            check_entry_path(target)?;
            let target_rel = normalise(target);
            self.ensure_parents(&target_rel)?;
            self.replace(&full)?;
            fs::hard_link(self.root.join(target_rel), &full)?;
        } else if kind.is_file() || kind == tar::EntryType::Continuous {
            self.replace(&full)?;
            let mut file = create_file(&full)?;
            io::copy(data, &mut file).map_err(Error::from_io)?;
            finish_file(&file, member.mode, member.mtime)?;
        }
        // Other member kinds (GNU volume labels and the like) carry nothing to write.
        Ok(())
    }

    /// Apply directory modes, deepest first. Once an entry has replaced something, a recorded
    /// directory (or one on its way) may have become a symbolic link: its mode is then applied
    /// only where the path still resolves to a directory inside the root, never through a link
    /// that leaves it.
    fn finish(&mut self) -> Result<()> {
        for (dir, mode) in self.dir_modes.drain(..).rev() {
            let dir = if self.replaced {
                match dir.canonicalize() {
                    Ok(real) if real.starts_with(&self.root) && real.is_dir() => real,
                    _ => continue,
                }
            } else {
                dir
            };
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    }
}

fn create_file(path: &Path) -> io::Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn finish_file(file: &fs::File, mode: u32, mtime: u64) -> io::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    let _ = file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_size(size);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        h
    }

    #[test]
    fn a_directory_replaced_by_an_outward_link_is_not_written_through() {
        let root = tempfile::tempdir().unwrap();
        let (dest, outside) = (root.path().join("dest"), root.path().join("outside"));
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("a/", tar::EntryType::Directory, 0, None), &[][..])
            .unwrap();
        b.append(
            &header("a/one", tar::EntryType::Regular, 1, None),
            &b"1"[..],
        )
        .unwrap();
        let out = outside.to_str().unwrap();
        b.append(&header("a", tar::EntryType::Symlink, 0, Some(out)), &[][..])
            .unwrap();
        b.append(
            &header("a/two", tar::EntryType::Regular, 1, None),
            &b"2"[..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        let err = Unpacker::new(&dest)
            .unwrap()
            .unpack(&bytes[..])
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{err}");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    /// Regression (found while writing the `tar_slot` fuzz target, whose checks flag it): `b`
    /// was remembered as a safe directory through the link `b -> a`, then `a` was replaced by
    /// an outward link, and `b/pwned` was written outside through the stale entry.
    #[test]
    fn a_remembered_directory_reached_through_a_replaced_link_is_checked_again() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&header("a/", tar::EntryType::Directory, 0, None), &[][..])
            .unwrap();
        b.append(&header("b", tar::EntryType::Symlink, 0, Some("a")), &[][..])
            .unwrap();
        b.append(&header("b/x", tar::EntryType::Regular, 1, None), &b"x"[..])
            .unwrap();
        b.append(
            &header("a", tar::EntryType::Symlink, 0, Some("..")),
            &[][..],
        )
        .unwrap();
        b.append(
            &header("b/pwned", tar::EntryType::Regular, 1, None),
            &b"p"[..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        let err = Unpacker::new(&dest)
            .unwrap()
            .unpack(&bytes[..])
            .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{err}");
        assert!(!root.path().join("pwned").exists());
    }

    /// Regression (same origin): the mode of directory `a/` was applied at the end through the
    /// link `a -> ..` that had replaced it, changing the mode of the directory around `dest`.
    #[test]
    fn a_directory_mode_is_not_applied_through_a_link_that_replaced_it() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut dir = header("a/", tar::EntryType::Directory, 0, None);
        dir.set_mode(0o700);
        dir.set_cksum();
        b.append(&dir, &[][..]).unwrap();
        b.append(
            &header("a", tar::EntryType::Symlink, 0, Some("..")),
            &[][..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        Unpacker::new(&dest).unwrap().unpack(&bytes[..]).unwrap();
        let mode = fs::metadata(root.path()).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755);
    }

    #[test]
    fn modes_links_and_read_only_directories_unpack() {
        let root = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut ro = header("ro/", tar::EntryType::Directory, 0, None);
        ro.set_mode(0o555);
        ro.set_cksum();
        b.append(&ro, &[][..]).unwrap();
        let mut exe = header("ro/run", tar::EntryType::Regular, 3, None);
        exe.set_mode(0o755);
        exe.set_cksum();
        b.append(&exe, &b"abc"[..]).unwrap();
        b.append(
            &header("ln", tar::EntryType::Symlink, 0, Some("ro/run")),
            &[][..],
        )
        .unwrap();
        b.append(
            &header("hard", tar::EntryType::Link, 0, Some("ro/run")),
            &[][..],
        )
        .unwrap();
        let bytes = b.into_inner().unwrap();
        assert_eq!(
            Unpacker::new(root.path())
                .unwrap()
                .unpack(&bytes[..])
                .unwrap(),
            4
        );
        let run = root.path().join("ro/run");
        assert_eq!(
            fs::metadata(&run).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(
            fs::metadata(root.path().join("ro"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o555
        );
        assert_eq!(fs::read(root.path().join("ln")).unwrap(), b"abc");
        assert_eq!(fs::read(root.path().join("hard")).unwrap(), b"abc");
        fs::set_permissions(root.path().join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
    }
}
