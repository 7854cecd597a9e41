//! A batch of files (or a piece of one) and how a writer writes it: created new, never
//! through a link, with its mode and modification time applied once its bytes are written.

use super::{CHUNK, Shared, at_path};
use crate::error::Result;
use crate::pieces::Piece;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Mode and modification time a file gets once its bytes are written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Finish {
    /// Permission bits (and set-id/sticky bits) from the archive.
    pub mode: u32,
    /// Seconds since the epoch.
    pub mtime: u64,
}

impl Finish {
    /// The mode to create the file with, and whether `fchmod` must follow: when the umask
    /// would strip bits, and for set-id bits, which a write clears.
    pub(super) fn create_mode(self, umask: Option<u32>) -> (u32, bool) {
        match umask {
            Some(mask) if self.mode & 0o7000 == 0 && self.mode & mask == 0 => (self.mode, false),
            _ => (0o600, true),
        }
    }

    pub(super) fn apply(self, file: &File, chmod: bool) -> io::Result<()> {
        if chmod {
            file.set_permissions(std::fs::Permissions::from_mode(self.mode))?;
        }
        // A time the file system cannot store is not worth failing over.
        let _ = file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(self.mtime));
        Ok(())
    }
}

/// Create a new file (never following or replacing anything at `path`).
pub(super) fn create(path: &Path, mode: u32) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

/// A large file being written piece by piece; finished when the last piece is dropped.
pub(super) struct Large {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) finish: Finish,
    pub(super) chmod: bool,
    pub(super) shared: Arc<Shared>,
}

impl Drop for Large {
    fn drop(&mut self) {
        if let Err(e) = self.finish.apply(&self.file, self.chmod) {
            self.shared.fail(at_path(&self.path, e));
        }
    }
}

/// The bytes of an item: the next `len` of its batch's own buffer, or a piece of a frame.
pub(super) enum Bytes {
    Own(usize),
    Shared(Piece),
}

impl Bytes {
    pub(super) fn len(&self) -> usize {
        match self {
            Bytes::Own(len) => *len,
            Bytes::Shared(piece) => piece.len(),
        }
    }
}

/// One file (or piece of one) in a batch.
pub(super) enum Item {
    Whole {
        path: PathBuf,
        bytes: Bytes,
        finish: Finish,
    },
    Piece {
        file: Arc<Large>,
        offset: u64,
        bytes: Bytes,
    },
}

/// Files (or a piece of one) to write, in order, with the bytes they need.
pub(super) struct Batch {
    /// Bytes copied in (empty until the first [`Bytes::Own`]).
    pub(super) buf: Vec<u8>,
    /// Of `buf`, the bytes in use.
    pub(super) own: usize,
    /// Bytes of all items.
    pub(super) used: usize,
    pub(super) items: Vec<Item>,
}

impl Batch {
    pub(super) fn room(&self) -> usize {
        CHUNK - self.used
    }

    /// The bytes of an item, at `at` in the batch's own buffer when they are there.
    fn slice<'a>(&'a self, bytes: &'a Bytes, at: &mut usize) -> &'a [u8] {
        match bytes {
            Bytes::Own(len) => {
                *at += len;
                &self.buf[*at - len..*at]
            }
            Bytes::Shared(piece) => piece,
        }
    }

    /// The large files this batch writes pieces of, by address.
    pub(super) fn larges(&self) -> impl Iterator<Item = usize> + '_ {
        self.items.iter().filter_map(|item| match item {
            Item::Piece { file, .. } => Some(Arc::as_ptr(file) as usize),
            Item::Whole { .. } => None,
        })
    }

    /// Write every item; stop at the first error.
    pub(super) fn write(&self, umask: Option<u32>) -> Result<()> {
        let mut at = 0;
        for item in &self.items {
            match item {
                Item::Whole {
                    path,
                    bytes,
                    finish,
                } => {
                    let (mode, chmod) = finish.create_mode(umask);
                    let file = create(path, mode).map_err(|e| at_path(path, e))?;
                    write_all_at(&file, self.slice(bytes, &mut at), 0)
                        .and_then(|()| finish.apply(&file, chmod))
                        .map_err(|e| at_path(path, e))?;
                }
                Item::Piece {
                    file,
                    offset,
                    bytes,
                } => {
                    write_all_at(&file.file, self.slice(bytes, &mut at), *offset)
                        .map_err(|e| at_path(&file.path, e))?;
                }
            }
        }
        Ok(())
    }
}

fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    file.write_all_at(bytes, offset)
}
