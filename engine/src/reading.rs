//! Reading an action's source-file inputs through the engine ([`InputFile`],
//! [`RunContext::open_input`](crate::RunContext::open_input)), so that a run started before
//! its key was known (see [`Action::digests_while_reading`](crate::Action::digests_while_reading))
//! digests every file as it reads it, once, instead of the build reading each file twice —
//! once to digest it for the key, once to use it.
//!
//! A digest counts only if it is of one version of the file: the open file's metadata is the
//! same when it is opened and when its end is reached, as for [`SourceDigests`]. What each
//! input turned out to be is written to a [`ReadLog`]; an input that was not read to its end,
//! changed while it was read, or read twice with different contents has no usable digest.

use std::fs::File;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::Digest;
use crate::sources::{Stamp, stamp};

/// One source file as a run read it: the digest of its bytes and the metadata they are of.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    pub(crate) stamp: Stamp,
    pub(crate) digest: Digest,
    /// When reading started (to tell whether the stamp could hide a same-size rewrite).
    pub(crate) hashed_at: SystemTime,
}

#[derive(Clone, Copy, Debug)]
enum Slot {
    Unread,
    Read(Seen),
    /// Changed while it was read, or read twice as different versions.
    Spoiled,
}

/// What a run's source-file inputs turned out to be, by input index.
#[derive(Debug)]
pub(crate) struct ReadLog {
    slots: Mutex<Vec<Slot>>,
}

impl ReadLog {
    pub(crate) fn new(inputs: usize) -> ReadLog {
        ReadLog {
            slots: Mutex::new(vec![Slot::Unread; inputs]),
        }
    }

    /// What input `i` was, if it was read to its end as one version.
    pub(crate) fn seen(&self, i: usize) -> Option<Seen> {
        match self.lock().get(i) {
            Some(Slot::Read(seen)) => Some(*seen),
            _ => None,
        }
    }

    fn record(&self, i: usize, now: Option<Seen>) {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(i) else {
            return;
        };
        *slot = match (*slot, now) {
            (Slot::Unread, Some(seen)) => Slot::Read(seen),
            (Slot::Read(before), Some(seen))
                if before.digest == seen.digest && before.stamp == seen.stamp =>
            {
                Slot::Read(before)
            }
            _ => Slot::Spoiled,
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Slot>> {
        // Single assignments only: a poisoned lock holds consistent data.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An input file opened for reading by [`RunContext::open_input`](crate::RunContext::open_input).
/// Read it to its end: when the engine digests inputs as they are read, a file left unread
/// has no digest and the run's outputs are not used.
#[derive(Debug)]
pub struct InputFile {
    file: File,
    len: u64,
    digesting: Option<Digesting>,
}

#[derive(Debug)]
struct Digesting {
    hasher: blake3::Hasher,
    before: Stamp,
    hashed_at: SystemTime,
    log: Arc<ReadLog>,
    index: usize,
}

impl InputFile {
    /// `file`, digested into `log` as input `index` if `log` is given.
    pub(crate) fn new(file: File, log: Option<(Arc<ReadLog>, usize)>) -> io::Result<InputFile> {
        let meta = file.metadata()?;
        let digesting = log.map(|(log, index)| Digesting {
            hasher: blake3::Hasher::new(),
            before: stamp(&meta),
            hashed_at: SystemTime::now(),
            log,
            index,
        });
        Ok(InputFile {
            file,
            len: meta.len(),
            digesting,
        })
    }

    /// The file's size when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the file was empty when it was opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// At the end of the file: records the digest if the file is still the version opened.
    fn finish(&mut self) {
        let Some(d) = self.digesting.take() else {
            return;
        };
        let same = self
            .file
            .metadata()
            .is_ok_and(|meta| stamp(&meta) == d.before);
        let seen = same.then(|| Seen {
            stamp: d.before,
            digest: Digest(*d.hasher.finalize().as_bytes()),
            hashed_at: d.hashed_at,
        });
        d.log.record(d.index, seen);
    }
}

impl Read for InputFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.finish();
        } else if let Some(d) = &mut self.digesting {
            d.hasher.update(buf.get(..n).unwrap_or_default());
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &std::path::Path, log: &Arc<ReadLog>, i: usize) -> InputFile {
        InputFile::new(File::open(path).unwrap(), Some((log.clone(), i))).unwrap()
    }

    #[test]
    fn a_file_read_to_its_end_is_digested() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let log = Arc::new(ReadLog::new(3));
        let mut file = open(&path, &log, 1);
        assert_eq!(file.len(), bytes.len() as u64);
        let mut read = Vec::new();
        file.read_to_end(&mut read).unwrap();
        assert_eq!(read, bytes);
        let seen = log.seen(1).unwrap();
        assert_eq!(seen.digest, Digest::of_bytes(&bytes));
        assert_eq!(seen.stamp.size, bytes.len() as u64);
        assert!(
            log.seen(0).is_none() && log.seen(2).is_none(),
            "never opened"
        );

        // Read again, same version: still known.
        open(&path, &log, 1).read_to_end(&mut Vec::new()).unwrap();
        assert!(log.seen(1).is_some());
    }

    #[test]
    fn a_file_not_read_to_its_end_has_no_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"some bytes").unwrap();
        let log = Arc::new(ReadLog::new(1));
        let mut file = open(&path, &log, 0);
        file.read_exact(&mut [0u8; 4]).unwrap();
        drop(file);
        assert!(log.seen(0).is_none());
    }

    #[test]
    fn a_file_changed_while_read_has_no_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"first version").unwrap();
        let log = Arc::new(ReadLog::new(1));
        let mut file = open(&path, &log, 0);
        let mut start = [0u8; 5];
        file.read_exact(&mut start).unwrap();
        // Rewritten while it is being read.
        std::fs::write(&path, b"the other, longer version").unwrap();
        file.read_to_end(&mut Vec::new()).unwrap();
        assert!(log.seen(0).is_none());
    }

    #[test]
    fn read_twice_as_different_versions_has_no_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").unwrap();
        let log = Arc::new(ReadLog::new(1));
        open(&path, &log, 0).read_to_end(&mut Vec::new()).unwrap();
        std::fs::write(&path, b"two").unwrap();
        open(&path, &log, 0).read_to_end(&mut Vec::new()).unwrap();
        assert!(log.seen(0).is_none());
    }
}
