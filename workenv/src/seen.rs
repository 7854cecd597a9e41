//! The newest version of each package seen on this machine, per signing key: what the
//! launcher's rollback rule compares against (a package older than what already ran, signed
//! by the same key, is refused under `strict` unless the user allows the downgrade).
//!
//! One small file per (key, package name) in the user's cache root —
//! `<root>/seen/<public key hex>/<first 32 hex of SHA-256(name)>.version`, holding the
//! package name and version on two lines — written atomically under a lock
//! (`<root>/seen/.lock`), in private (0700) directories checked like the rest of the cache.
//! Only semantic versions are recorded (see [`crate::semver`]): a version without an order
//! can neither be refused nor raise the bar.

use crate::error::{Error, Result};
use crate::files::{mkdir_private, write_atomic};
use crate::ownership::{check_chain, check_owned};
use crate::semver::compare;
use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The record of versions seen, under one cache root.
#[derive(Debug, Clone)]
pub struct SeenVersions {
    dir: PathBuf,
}

/// A file name for a package name: any name, fixed length, no path characters.
fn name_digest(name: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(name.as_bytes())[..16])
}

impl SeenVersions {
    /// The record kept under cache root `root`.
    pub fn new(root: &Path) -> SeenVersions {
        SeenVersions {
            dir: root.join("seen"),
        }
    }

    fn key_dir(&self, key: &[u8; 32]) -> PathBuf {
        self.dir.join(hex::encode(key))
    }

    fn file(&self, key: &[u8; 32], name: &str) -> PathBuf {
        self.key_dir(key)
            .join(format!("{}.version", name_digest(name)))
    }

    /// The newest version of package `name` signed by `key` seen so far, if any.
    pub fn newest(&self, key: &[u8; 32], name: &str) -> Result<Option<String>> {
        check_chain(&[&self.dir, &self.key_dir(key)], false)?;
        let path = self.file(key, name);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io(&path, e))?;
        check_owned(&path, &meta)?;
        let mut text = String::new();
        // An unreadable record says nothing was seen; the next verified launch rewrites it.
        if file.take(64 * 1024).read_to_string(&mut text).is_err() {
            return Ok(None);
        }
        let mut lines = text.lines();
        Ok((lines.next() == Some(name))
            .then(|| lines.next().map(str::to_string))
            .flatten())
    }

    /// Record that version `version` of `name`, signed by `key`, was verified: it becomes the
    /// newest unless a newer one was seen. Returns the newest afterwards.
    pub fn record(&self, key: &[u8; 32], name: &str, version: &str) -> Result<Option<String>> {
        let current = self.newest(key, name)?;
        let newer = |current: &Option<String>| match current {
            None => compare(version, version).is_some(),
            Some(c) => match compare(version, c) {
                Some(order) => order == Ordering::Greater,
                // A recorded version without order gives way to one with an order.
                None => compare(version, version).is_some() && compare(c, c).is_none(),
            },
        };
        if !newer(&current) {
            return Ok(current);
        }
        mkdir_private(&self.key_dir(key))?;
        let lock_path = self.dir.join(".lock");
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        lock.lock().map_err(|e| Error::io(&lock_path, e))?;
        // Another launch may have recorded a newer one meanwhile.
        let current = self.newest(key, name)?;
        if !newer(&current) {
            return Ok(current);
        }
        write_atomic(
            &self.file(key, name),
            format!("{name}\n{version}\n").as_bytes(),
        )?;
        Ok(Some(version.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_semantic_version_is_kept_per_key_and_name() {
        let t = tempfile::tempdir().unwrap();
        let seen = SeenVersions::new(t.path());
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        assert_eq!(seen.newest(&k1, "app").unwrap(), None);
        for (version, newest) in [
            ("1.9.0", "1.9.0"),
            ("1.10.0", "1.10.0"),
            ("1.2.0", "1.10.0"),
        ] {
            let after = seen.record(&k1, "app", version).unwrap();
            assert_eq!(after.as_deref(), Some(newest), "after {version}");
        }
        assert_eq!(
            seen.record(&k1, "app", "2020.1").unwrap().as_deref(),
            Some("1.10.0")
        );
        assert_eq!(seen.newest(&k2, "app").unwrap(), None);
        assert_eq!(seen.newest(&k1, "other").unwrap(), None);
        assert_eq!(seen.record(&k2, "app", "calver").unwrap(), None);
        assert_eq!(seen.newest(&k2, "app").unwrap(), None);
    }
}
