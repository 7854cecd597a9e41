//! Writing an output through the engine ([`OutputFile`],
//! [`RunContext::create_output`](crate::RunContext::create_output)): its digest is taken as
//! the bytes go by, so moving it into the CAS needs no second read of a large file.
//!
//! The digest is used only for the file as [`OutputFile::finish`] left it: same size, times
//! and inode when the output is stored. Anything else (an output written some other way,
//! or touched after it was finished) is hashed from its bytes as usual.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use crate::Digest;
use crate::sources::{Stamp, stamp};

/// An output file as [`OutputFile::finish`] left it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Written {
    pub(crate) digest: Digest,
    pub(crate) stamp: Stamp,
}

/// The outputs of one run written through [`OutputFile`], by output index.
#[derive(Debug)]
pub(crate) struct WriteLog {
    outputs: Mutex<Vec<Option<Written>>>,
}

impl WriteLog {
    pub(crate) fn new(outputs: usize) -> WriteLog {
        WriteLog {
            outputs: Mutex::new(vec![None; outputs]),
        }
    }

    /// The digest of output `i` at `path`, if it was finished through an [`OutputFile`] and
    /// has not changed since.
    pub(crate) fn digest_of(&self, i: usize, path: &Path) -> Option<(Digest, u64)> {
        let written = (*self.lock().get(i)?)?;
        let now = std::fs::symlink_metadata(path).ok()?;
        (now.is_file() && stamp(&now) == written.stamp)
            .then_some((written.digest, written.stamp.size))
    }

    fn record(&self, i: usize, written: Option<Written>) {
        if let Some(slot) = self.lock().get_mut(i) {
            *slot = written;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Option<Written>>> {
        // Single assignments only: a poisoned lock holds consistent data.
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An output file created by [`RunContext::create_output`](crate::RunContext::create_output),
/// digested as it is written. Write every byte of the output through it (it cannot seek),
/// then call [`finish`](Self::finish).
#[derive(Debug)]
pub struct OutputFile {
    file: File,
    hasher: blake3::Hasher,
    written: u64,
    log: Arc<WriteLog>,
    index: usize,
}

impl OutputFile {
    pub(crate) fn create(path: &Path, log: Arc<WriteLog>, index: usize) -> io::Result<Self> {
        // Whatever was recorded for an earlier file at this path is no longer true.
        log.record(index, None);
        Ok(OutputFile {
            file: File::create(path)?,
            hasher: blake3::Hasher::new(),
            written: 0,
            log,
            index,
        })
    }

    /// Flushes the file to disk and hands its digest to the engine.
    ///
    /// # Errors
    /// If the file cannot be synced or its metadata read.
    pub fn finish(self) -> io::Result<()> {
        self.file.sync_all()?;
        let meta = self.file.metadata()?;
        let now = stamp(&meta);
        let written = (now.size == self.written).then(|| Written {
            digest: Digest(*self.hasher.finalize().as_bytes()),
            stamp: now,
        });
        self.log.record(self.index, written);
        Ok(())
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_output_has_the_digest_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let log = Arc::new(WriteLog::new(2));
        let mut out = OutputFile::create(&path, log.clone(), 1).unwrap();
        let bytes: Vec<u8> = (0..700_000u32).map(|i| (i % 241) as u8).collect();
        for chunk in bytes.chunks(65_536) {
            out.write_all(chunk).unwrap();
        }
        assert!(log.digest_of(1, &path).is_none(), "not finished yet");
        out.finish().unwrap();
        assert_eq!(
            log.digest_of(1, &path),
            Some((Digest::of_bytes(&bytes), bytes.len() as u64))
        );
        assert!(log.digest_of(0, &path).is_none(), "never created");
    }

    #[test]
    fn an_output_changed_after_it_was_finished_has_no_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let log = Arc::new(WriteLog::new(1));
        let mut out = OutputFile::create(&path, log.clone(), 0).unwrap();
        out.write_all(b"written through the engine").unwrap();
        out.finish().unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b" and more")
            .unwrap();
        assert!(log.digest_of(0, &path).is_none());

        // Replaced by another file.
        let mut out = OutputFile::create(&path, log.clone(), 0).unwrap();
        out.write_all(b"first").unwrap();
        out.finish().unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, b"other").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(log.digest_of(0, &path).is_none());
    }

    #[test]
    fn an_output_not_finished_has_no_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let log = Arc::new(WriteLog::new(1));
        let mut out = OutputFile::create(&path, log.clone(), 0).unwrap();
        out.write_all(b"dropped").unwrap();
        drop(out);
        assert!(log.digest_of(0, &path).is_none());
    }
}
