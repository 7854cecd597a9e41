//! Writing and removing files in the cache: atomic writes, private directories, and removal,
//! creation and moves that never follow a symbolic link.
//!
//! Everything below a trusted directory is reached with `openat(O_NOFOLLOW | O_DIRECTORY)`
//! one component at a time and changed with `unlinkat`, `mkdirat` and `renameat`, so a link
//! that a package (or anyone else) left inside a workenv is removed or replaced as a link —
//! never followed to whatever it points at. The trusted directory itself (a cache root, a
//! workenv, a staging directory) is opened by its path.

use crate::error::{Error, Result};
use std::ffi::{CStr, CString, OsStr};
use std::fs;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// Create `path` and its missing parents, each new one with mode 0700.
pub fn mkdir_private(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(path, e))
}

/// Write `bytes` to `path` atomically: into a new private (0600) temporary file beside it,
/// synced, then renamed over `path`. Readers see the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    // A crashed earlier process with this pid may have left one.
    let _ = fs::remove_file(&tmp);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
    written.and_then(|()| fs::rename(&tmp, path)).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Bytes a tree takes on disk (allocated blocks), not following symbolic links and counting
/// hard-linked files once; what cannot be read counts as nothing.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0u64;
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            continue;
        }
        total = total.saturating_add(m.blocks().saturating_mul(512));
        if m.is_dir()
            && let Ok(rd) = fs::read_dir(&p)
        {
            todo.extend(rd.flatten().map(|e| e.path()));
        }
    }
    total
}

/// What [`remove_within`] removes at the end of the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remove {
    /// Whatever is there: a file, a link (the link itself), or a directory tree.
    Tree,
    /// A file or link; a directory is left alone.
    NonDir,
    /// An empty directory; anything else is left alone.
    EmptyDir,
}

/// Remove `path` (a file, a link itself, or a whole directory tree) without following any
/// link inside it. A missing `path` is not an error.
pub fn remove_tree(path: &Path) -> Result<()> {
    let (parent, name) = split(path)?;
    let dir = match open_dir(parent) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other.map_err(|e| Error::io(parent, e))?,
    };
    remove_tree_at(dir.as_raw_fd(), &name).map_err(|e| Error::io(path, e))
}

/// Remove `rel` inside `root` as `what` says, never following a link: when a component on
/// the way is a link (or not a directory, or missing) nothing is removed. `rel` must be
/// relative and free of `..`.
pub fn remove_within(root: &Path, rel: &Path, what: Remove) -> Result<()> {
    let names = normal_components(rel)?;
    let Some((last, parents)) = names.split_last() else {
        return Ok(());
    };
    let mut dir = open_dir(root).map_err(|e| Error::io(root, e))?;
    for name in parents {
        match open_dir_at(dir.as_raw_fd(), name) {
            Ok(next) => dir = next,
            // A link, a file or nothing on the way: what lies beyond is not ours.
            Err(e) if stops_walk(&e) => return Ok(()),
            Err(e) => return Err(Error::io(root.join(rel), e)),
        }
    }
    let fd = dir.as_raw_fd();
    let result = match (what, kind_at(fd, last)) {
        (_, Ok(None)) => Ok(()),
        (Remove::Tree, Ok(Some(_))) => remove_tree_at(fd, last),
        (Remove::NonDir, Ok(Some(Kind::Other))) => unlink_at(fd, last, 0),
        (Remove::EmptyDir, Ok(Some(Kind::Dir))) => match unlink_at(fd, last, libc::AT_REMOVEDIR) {
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => Ok(()),
            other => other,
        },
        (_, Ok(Some(_))) => Ok(()),
        (_, Err(e)) => Err(e),
    };
    result.map_err(|e| Error::io(root.join(rel), e))
}

/// Create directory `rel` inside `root` (and its missing parents, mode 0700), never through
/// a link, and set its mode to `mode`. `rel` must be relative and free of `..`.
pub fn create_dir_within(root: &Path, rel: &Path, mode: u32) -> Result<()> {
    let names = normal_components(rel)?;
    let mut dir = open_dir(root).map_err(|e| Error::io(root, e))?;
    let mut walked = PathBuf::new();
    for name in &names {
        walked.push(OsStr::from_bytes(name.to_bytes()));
        // SAFETY: mkdirat with a valid directory descriptor and a NUL-terminated name.
        let made = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o700) };
        if made != 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::AlreadyExists {
                return Err(Error::io(root.join(&walked), e));
            }
        }
        dir = open_dir_at(dir.as_raw_fd(), name).map_err(|e| {
            if stops_walk(&e) {
                Error::Outside {
                    path: rel.display().to_string(),
                    reason: format!(
                        "{} is a symbolic link or not a directory; directories are never created through a link",
                        walked.display()
                    ),
                }
            } else {
                Error::io(root.join(&walked), e)
            }
        })?;
    }
    // SAFETY: fchmod on a descriptor this function owns.
    if unsafe { libc::fchmod(dir.as_raw_fd(), mode as libc::mode_t) } != 0 {
        return Err(Error::io(root.join(rel), io::Error::last_os_error()));
    }
    Ok(())
}

/// Move everything in directory `src` into directory `dst`, entry by entry with `renameat`:
/// directories present in both are merged, anything else in `dst` (a file, a link, a
/// directory where `src` has a file) is replaced — a link in `dst` is replaced, never
/// followed. What `src` still holds afterwards (empty directories) is the caller's to remove.
pub fn merge_tree(src: &Path, dst: &Path) -> Result<()> {
    let s = open_dir(src).map_err(|e| Error::io(src, e))?;
    let d = open_dir(dst).map_err(|e| Error::io(dst, e))?;
    merge_at(s.as_raw_fd(), d.as_raw_fd()).map_err(|e| Error::io(dst, e))
}

fn split(path: &Path) -> Result<(&Path, CString)> {
    let name = path.file_name().ok_or_else(|| Error::Outside {
        path: path.display().to_string(),
        reason: "names no file".into(),
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok((parent, c_name(name).map_err(|e| Error::io(path, e))?))
}

/// The components of a relative path without `..`, as C strings.
fn normal_components(rel: &Path) -> Result<Vec<CString>> {
    let mut names = Vec::new();
    for comp in rel.components() {
        match comp {
            Component::Normal(c) => names.push(c_name(c).map_err(|e| Error::io(rel, e))?),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(Error::Outside {
                    path: rel.display().to_string(),
                    reason: "must be a relative path without '..'".into(),
                });
            }
        }
    }
    Ok(names)
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A link (`ELOOP`), a non-directory (`ENOTDIR`) or nothing (`ENOENT`) where a directory was
/// expected.
fn stops_walk(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ELOOP | libc::ENOTDIR | libc::ENOENT)
    )
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Open a directory by path (following links: the caller trusts this path).
fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = c_name(path.as_os_str())?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: open with a NUL-terminated path; the descriptor is owned from here on.
    let fd = cvt(unsafe { libc::open(c.as_ptr(), flags) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Open entry `name` of `dir` as a directory, refusing a link (`ELOOP`) or a non-directory.
fn open_dir_at(dir: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: openat with a valid directory descriptor and a NUL-terminated name.
    let fd = cvt(unsafe { libc::openat(dir, name.as_ptr(), flags) })?;
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Other,
}

/// What entry `name` of `dir` is, without following a link; `None` when it does not exist.
fn kind_at(dir: RawFd, name: &CStr) -> io::Result<Option<Kind>> {
    // SAFETY: an all-zero `stat` is a valid value for fstatat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstatat with a valid descriptor, a NUL-terminated name and a live buffer.
    let r = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    match cvt(r) {
        Ok(_) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => Ok(Some(Kind::Dir)),
        Ok(_) => Ok(Some(Kind::Other)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The names in directory `dir` (without `.` and `..`).
fn entries(dir: RawFd) -> io::Result<Vec<CString>> {
    // SAFETY: duplicating a valid descriptor; fdopendir takes ownership of the copy.
    let copy = cvt(unsafe { libc::fcntl(dir, libc::F_DUPFD_CLOEXEC, 0) })?;
    // SAFETY: `copy` is a directory descriptor this function owns.
    let stream = unsafe { libc::fdopendir(copy) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so `copy` is still ours to close.
        unsafe { libc::close(copy) };
        return Err(e);
    }
    let mut names = Vec::new();
    let result = loop {
        // SAFETY: errno is thread-local; zeroing it tells end of stream from an error.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: `stream` is a live directory stream.
        let entry = unsafe { libc::readdir(stream) };
        if entry.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error() == Some(0) {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: readdir returned a valid entry whose name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*entry).d_name.as_ptr()) };
        if name.to_bytes() != b"." && name.to_bytes() != b".." {
            names.push(name.to_owned());
        }
    };
    // SAFETY: closing the stream (and `copy` with it) exactly once.
    unsafe { libc::closedir(stream) };
    result.map(|()| names)
}

fn unlink_at(dir: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unlinkat with a valid descriptor and a NUL-terminated name.
    match cvt(unsafe { libc::unlinkat(dir, name.as_ptr(), flags) }) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other.map(drop),
    }
}

fn rename_at(from: RawFd, name: &CStr, to: RawFd) -> io::Result<()> {
    // SAFETY: renameat with valid descriptors and NUL-terminated names.
    cvt(unsafe { libc::renameat(from, name.as_ptr(), to, name.as_ptr()) }).map(drop)
}

/// Remove entry `name` of `dir`: a directory with everything below it, anything else (a
/// link included) by unlinking it.
fn remove_tree_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(Kind::Other) => unlink_at(dir, name, 0),
        Some(Kind::Dir) => {
            let sub = open_dir_at(dir, name)?;
            for entry in entries(sub.as_raw_fd())? {
                remove_tree_at(sub.as_raw_fd(), &entry)?;
            }
            drop(sub);
            unlink_at(dir, name, libc::AT_REMOVEDIR)
        }
    }
}

fn merge_at(src: RawFd, dst: RawFd) -> io::Result<()> {
    for name in entries(src)? {
        match (kind_at(src, &name)?, kind_at(dst, &name)?) {
            (None, _) => {}
            (Some(Kind::Dir), Some(Kind::Dir)) => {
                let s = open_dir_at(src, &name)?;
                let d = open_dir_at(dst, &name)?;
                merge_at(s.as_raw_fd(), d.as_raw_fd())?;
            }
            (Some(Kind::Other), Some(Kind::Dir)) => {
                remove_tree_at(dst, &name)?;
                rename_at(src, &name, dst)?;
            }
            (Some(Kind::Dir), Some(Kind::Other)) => {
                unlink_at(dst, &name, 0)?;
                rename_at(src, &name, dst)?;
            }
            (Some(_), _) => rename_at(src, &name, dst)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    /// A directory `outside` with a file and a subtree, and a `root` with links into it.
    fn world() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        fs::create_dir_all(outside.join("tree/deep")).unwrap();
        fs::write(outside.join("victim.txt"), "keep").unwrap();
        fs::write(outside.join("tree/deep/f"), "keep").unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("real/sub")).unwrap();
        fs::write(root.join("real/sub/f"), "x").unwrap();
        symlink(&outside, root.join("link")).unwrap();
        symlink(&outside, root.join("real/link")).unwrap();
        (t, root, outside)
    }

    fn intact(outside: &Path) {
        assert_eq!(
            fs::read_to_string(outside.join("victim.txt")).unwrap(),
            "keep"
        );
        assert_eq!(
            fs::read_to_string(outside.join("tree/deep/f")).unwrap(),
            "keep"
        );
    }

    #[test]
    fn removal_never_follows_a_link() {
        let (_t, root, outside) = world();
        for (rel, what) in [
            ("link/victim.txt", Remove::NonDir),
            ("link/tree", Remove::Tree),
            ("link/tree/deep", Remove::EmptyDir),
            ("real/link/victim.txt", Remove::Tree),
        ] {
            remove_within(&root, Path::new(rel), what).unwrap();
            intact(&outside);
        }
        // A tree holding links loses the links, not what they point at.
        remove_tree(&root.join("real")).unwrap();
        assert!(!root.join("real").exists());
        intact(&outside);
        // A link itself is removed as a link.
        remove_within(&root, Path::new("link"), Remove::Tree).unwrap();
        assert!(fs::symlink_metadata(root.join("link")).is_err());
        intact(&outside);
        assert!(remove_within(&root, Path::new("../outside"), Remove::Tree).is_err());
        remove_tree(&root.join("missing")).unwrap();
    }

    #[test]
    fn directories_are_created_inside_only() {
        let (_t, root, outside) = world();
        create_dir_within(&root, Path::new("var/cache"), 0o750).unwrap();
        let mode = fs::metadata(root.join("var/cache"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
        let err = create_dir_within(&root, Path::new("link/made"), 0o777).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert!(!outside.join("made").exists());
        let mode = fs::metadata(&outside).unwrap().permissions().mode();
        assert_ne!(mode & 0o777, 0o777);
        assert!(create_dir_within(&root, Path::new("/abs"), 0o700).is_err());
        assert!(create_dir_within(&root, Path::new("a/../../b"), 0o700).is_err());
    }

    #[test]
    fn merging_replaces_links_and_never_writes_through_them() {
        let (t, root, outside) = world();
        let staged = t.path().join("staged");
        fs::create_dir_all(staged.join("real/sub")).unwrap();
        fs::create_dir_all(staged.join("link")).unwrap();
        fs::write(staged.join("real/sub/f"), "new").unwrap();
        fs::write(staged.join("real/link"), "a file now").unwrap();
        fs::write(staged.join("link/victim.txt"), "planted").unwrap();
        merge_tree(&staged, &root).unwrap();
        intact(&outside);
        assert_eq!(fs::read_to_string(root.join("real/sub/f")).unwrap(), "new");
        assert_eq!(
            fs::read_to_string(root.join("real/link")).unwrap(),
            "a file now"
        );
        assert!(fs::symlink_metadata(root.join("link")).unwrap().is_dir());
        assert_eq!(
            fs::read_to_string(root.join("link/victim.txt")).unwrap(),
            "planted"
        );
    }

    #[test]
    fn atomic_writes_replace_whole_files() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("plan.ready");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
        let mode = fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
