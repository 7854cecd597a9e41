//! Trusting only what the current user made: a cache directory, exec plan or record that
//! another user owns, or that every user may write to, is refused — whoever could write it
//! could make a launch run anything.
//!
//! Ownership is checked against the effective uid; "writable by others" is the
//! world-writable bit (a group-writable directory of the user's own private group is common
//! under a `002` umask and stays accepted).

use crate::error::{Error, Result};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The effective uid of this process.
pub fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Refuse `meta` (of `path`) unless the current user owns it and others cannot write it.
pub fn check_owned(path: &Path, meta: &Metadata) -> Result<()> {
    let uid = current_uid();
    if meta.uid() != uid {
        return Err(Error::NotOwned {
            path: path.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    if meta.mode() & 0o002 != 0 {
        return Err(Error::WritableByOthers {
            path: path.to_path_buf(),
            mode: meta.mode() & 0o7777,
        });
    }
    Ok(())
}

/// Check directory `path` if it exists: owned by the current user, not writable by others,
/// and a directory (through links when `follow`, else a real directory). Returns whether it
/// exists.
pub fn check_dir(path: &Path, follow: bool) -> Result<bool> {
    let meta = if follow {
        fs::metadata(path)
    } else {
        fs::symlink_metadata(path)
    };
    match meta {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
        Ok(m) if !m.is_dir() => Err(Error::NotADirectory {
            path: path.to_path_buf(),
        }),
        Ok(m) => check_owned(path, &m).map(|()| true),
    }
}

/// Check each existing directory of `chain`, outermost first, stopping at the first one that
/// does not exist (nothing below it can). The first may be a link only when
/// `first_may_be_link`; the rest are followed.
pub fn check_chain(chain: &[&Path], first_may_be_link: bool) -> Result<()> {
    for (i, dir) in chain.iter().enumerate() {
        if !check_dir(dir, i > 0 || first_may_be_link)? {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    #[test]
    fn private_directories_pass_and_world_writable_ones_do_not() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("d");
        fs::create_dir(&d).unwrap();
        assert!(check_dir(&d, false).unwrap());
        assert!(!check_dir(&t.path().join("missing"), false).unwrap());
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_dir(&d, false).unwrap_err();
        assert!(
            matches!(err, Error::WritableByOthers { mode: 0o777, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("FLAVOR_CACHE"), "{err}");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o770)).unwrap();
        check_dir(&d, false).unwrap();
        let link = t.path().join("link");
        symlink(&d, &link).unwrap();
        assert!(check_dir(&link, true).unwrap());
        assert!(matches!(
            check_dir(&link, false),
            Err(Error::NotADirectory { .. })
        ));
        check_chain(&[&link, &d, &t.path().join("missing"), &link], true).unwrap();
        assert!(check_chain(&[&link, &d], false).is_err());
    }
}
