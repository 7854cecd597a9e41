//! Who is using a package build, and when it was last used — both told by the build's lock
//! file, `versions/<hash>.lock`.
//!
//! - **Unpacking** holds an exclusive `flock` on it ([`lock_for_extraction`]).
//! - **Running**: every launch holds a shared `flock` on it for as long as the launched
//!   command runs — the descriptor is inherited across `exec` (and by the command's own
//!   children), so the lock lives exactly as long as some process runs from the build
//!   ([`hold_shared`], [`InUse::keep`]).
//! - **Removing** (the launcher's pruning, `flavor workenv clean|remove`) needs the exclusive
//!   lock without waiting ([`try_lock_for_removal`]): a build in use or being unpacked is never
//!   removed.
//! - **Last use** is the lock file's modification time, set to now by every launch: one
//!   `futimens` on a descriptor the launch opens anyway, so exact to the second whatever the
//!   filesystem's `atime` policy ([`last_use`]).

use crate::error::{Error, Result};
use crate::layout::BuildLayout;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::time::SystemTime;

/// Opens the build's lock file for a shared lock: read-only, never following a link.
fn open_existing(build: &BuildLayout) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(build.lock())
}

/// A shared lock on a build's lock file: this launch runs from the build. Dropping it
/// releases the lock; [`InUse::keep`] hands it to the command the launch `exec`s.
#[derive(Debug)]
pub struct InUse(File);

impl InUse {
    /// Records the use (the lock file's time, now) and keeps the lock for as long as the
    /// command this process `exec`s runs: the descriptor stays open across `exec`, and is
    /// never closed by this process.
    pub fn keep(self) {
        let _ = self.0.set_modified(SystemTime::now());
        let fd = self.0.as_raw_fd();
        // SAFETY: F_GETFD/F_SETFD on a descriptor this value owns.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
            }
        }
        std::mem::forget(self.0);
    }
}

/// A shared lock on the build for a launch that runs from it; `None` when the build has no
/// lock file (never unpacked) or is being unpacked or removed right now (the launch then
/// takes the first-run path, which waits for that).
pub fn hold_shared(build: &BuildLayout) -> Option<InUse> {
    let lock = open_existing(build).ok()?;
    lock.try_lock_shared().ok()?;
    Some(InUse(lock))
}

/// Whether `file` is still the lock file at the build's path (a removal may have unlinked
/// it while this process waited for its lock).
fn still_linked(file: &File, build: &BuildLayout) -> bool {
    match (file.metadata(), fs::symlink_metadata(build.lock())) {
        (Ok(held), Ok(now)) => held.dev() == now.dev() && held.ino() == now.ino(),
        _ => false,
    }
}

/// The exclusive lock of a launch that unpacks a build.
#[derive(Debug)]
pub struct Unpacking(File);

impl Unpacking {
    /// The build is ready: the lock becomes this launch's shared one.
    pub fn into_running(self) -> InUse {
        let _ = self.0.lock_shared();
        InUse(self.0)
    }
}

/// What [`lock_for_extraction`] got: the lock to unpack the build, or — another launch
/// unpacked it meanwhile — a shared lock on the ready build and what `ready` found.
#[derive(Debug)]
pub enum Extraction<T> {
    /// This launch unpacks the build (exclusive lock).
    Unpack(Unpacking),
    /// Another launch finished unpacking it: run from it (shared lock).
    Ready(InUse, T),
}

/// Takes the build's lock exclusively for unpacking it. When another launch holds it, waits
/// only until that launch has unpacked the build (a shared lock), and if `ready` then finds
/// it usable, returns [`Extraction::Ready`] — a launch never waits for the commands other
/// launches run from a build that is fine. Only a build that must be unpacked again waits for
/// those commands to end (a build is never replaced under a running command); `waiting` is
/// called once, then.
pub fn lock_for_extraction<T>(
    build: &BuildLayout,
    mut ready: impl FnMut() -> Option<T>,
    waiting: impl FnOnce(),
) -> Result<Extraction<T>> {
    let path = build.lock();
    let mut waiting = Some(waiting);
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        if file.try_lock().is_err() {
            file.lock_shared().map_err(|e| Error::io(&path, e))?;
            if !still_linked(&file, build) {
                continue;
            }
            if let Some(found) = ready() {
                return Ok(Extraction::Ready(InUse(file), found));
            }
            file.unlock().map_err(|e| Error::io(&path, e))?;
            if let Some(say) = waiting.take() {
                say();
            }
            file.lock().map_err(|e| Error::io(&path, e))?;
        }
        if still_linked(&file, build) {
            return Ok(Extraction::Unpack(Unpacking(file)));
        }
    }
}

impl<T> Extraction<T> {
    /// The exclusive lock, for callers that only ever unpack (tests, tools).
    pub fn unpacking(self) -> Option<Unpacking> {
        match self {
            Extraction::Unpack(u) => Some(u),
            Extraction::Ready(..) => None,
        }
    }
}

/// Takes the build's lock exclusively without waiting, to remove the build; `None` when a
/// process runs from it or unpacks it. With no lock file (an upstream or interrupted build)
/// there is nothing to hold, and the removal may go ahead: `Some(None)`.
pub fn try_lock_for_removal(build: &BuildLayout) -> Option<Option<File>> {
    let Ok(file) = open_existing(build) else {
        return Some(None);
    };
    match file.try_lock() {
        Ok(()) if still_linked(&file, build) => Some(Some(file)),
        _ => None,
    }
}

/// Whether a process runs from the build or unpacks it right now.
pub fn in_use(build: &BuildLayout) -> bool {
    try_lock_for_removal(build).is_none()
}

/// When the build was last launched (the lock file's modification time); `None` when it has
/// no lock file.
pub fn last_use(build: &BuildLayout) -> Option<SystemTime> {
    fs::symlink_metadata(build.lock()).ok()?.modified().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::WorkenvLayout;
    use std::time::Duration;

    fn build() -> (tempfile::TempDir, BuildLayout) {
        let t = tempfile::tempdir().unwrap();
        let b = WorkenvLayout::new(t.path(), "app").build("00aa11bb22cc33dd");
        fs::create_dir_all(b.workenv.versions()).unwrap();
        (t, b)
    }

    #[test]
    fn a_running_build_cannot_be_removed_and_its_use_is_recorded() {
        let (_t, b) = build();
        assert!(hold_shared(&b).is_none(), "no lock file: never unpacked");
        assert_eq!(try_lock_for_removal(&b).map(|f| f.is_some()), Some(false));
        let lock = lock_for_extraction(&b, || None::<()>, || panic!("free"))
            .unwrap()
            .unpacking()
            .unwrap();
        assert!(in_use(&b), "being unpacked");
        assert!(hold_shared(&b).is_none(), "not while it is being unpacked");
        let old = SystemTime::now() - Duration::from_secs(3600);
        lock.0.set_modified(old).unwrap();
        let running = lock.into_running();
        assert!(in_use(&b));
        let second = hold_shared(&b).expect("a second launch shares it");
        drop(second);
        // Stands in for the exec: the shared lock stays while this process lives.
        running.keep();
        assert!(in_use(&b));
        assert!(last_use(&b).unwrap() > old);
    }

    #[test]
    fn an_unused_build_can_be_removed() {
        let (_t, b) = build();
        drop(
            lock_for_extraction(&b, || None::<()>, || panic!("free"))
                .unwrap()
                .unpacking()
                .unwrap(),
        );
        assert!(!in_use(&b));
        let held = try_lock_for_removal(&b).unwrap().unwrap();
        assert!(hold_shared(&b).is_none(), "not while it is being removed");
        drop(held);
        assert!(hold_shared(&b).is_some());
    }
}
