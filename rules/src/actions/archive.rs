//! `archive`: a deterministic tar of files, directories and symbolic links.
//!
//! Entries are written in the order given (the planner sorts them), with uid/gid 0, empty
//! owner names, the planned mode and one fixed mtime (`SOURCE_DATE_EPOCH` or 0), so the same
//! files give the same bytes on every machine.
//!
//! With `compression` set, the tar stream goes straight into the codec's encoder (zstd's
//! workers compress while the archive is still being written, as `tar | zstd` overlaps them)
//! and the action has two outputs: the compressed bytes and the decoded size as decimal text.

use flavor_engine::{Action, ActionError, Input, RunContext};
use pspf::Codec;
use pspf::encode::{Compression, Encoder};
use serde_json::json;
use std::fs::File;
use std::io::{BufWriter, Write};

/// Counts the bytes that pass through to the encoder (the decoded size of the slot).
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// What an archive entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file whose bytes are the action's input number `input`.
    File {
        /// Which of the action's inputs.
        input: usize,
    },
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink {
        /// What it points to, as written.
        target: String,
    },
}

/// One entry: its path inside the archive, kind and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Its path inside the archive.
    pub path: String,
    /// File, directory or link.
    pub kind: EntryKind,
    /// Its mode.
    pub mode: u32,
}

/// Write a deterministic tar of `entries` (optionally compressed as it is written).
pub struct ArchiveAction {
    /// What the action is called in progress and errors.
    pub label: String,
    /// The entries, in the order written.
    pub entries: Vec<ArchiveEntry>,
    /// The files the `File` entries read.
    pub inputs: Vec<Input>,
    /// The one mtime of every entry.
    pub mtime: u64,
    /// Compress the archive as it is written (codec and level).
    pub compression: Option<(Codec, i32)>,
}

impl Action for ArchiveAction {
    fn kind(&self) -> &'static str {
        "archive"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        self.label.clone()
    }
    fn params(&self) -> Vec<u8> {
        let entries: Vec<_> = self
            .entries
            .iter()
            .map(|e| match &e.kind {
                EntryKind::File { input } => json!(["file", e.path, e.mode, input]),
                EntryKind::Dir => json!(["dir", e.path, e.mode]),
                EntryKind::Symlink { target } => json!(["symlink", e.path, e.mode, target]),
            })
            .collect();
        let compression = self.compression.map(|(c, level)| json!([c.name(), level]));
        super::canonical(
            &json!({"entries": entries, "mtime": self.mtime, "compression": compression}),
        )
    }
    fn inputs(&self) -> Vec<Input> {
        self.inputs.clone()
    }
    fn output_count(&self) -> usize {
        if self.compression.is_some() { 2 } else { 1 }
    }
    fn threads(&self) -> usize {
        match self.compression {
            Some((Codec::Zstd | Codec::TarZst, _)) => 2,
            _ => 1,
        }
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let file = File::create(ctx.output(0))?;
        let buffered = BufWriter::with_capacity(256 * 1024, &file);
        let (codec, level) = self.compression.unwrap_or((Codec::Tar, 0));
        let settings = Compression {
            level: Some(level),
            workers: ctx.threads().max(1) as u32,
        };
        let encoder = Encoder::new(codec, buffered, settings)
            .map_err(|e| ActionError::new(format!("{}: {e}", self.label)))?;
        let mut builder = tar::Builder::new(Counting {
            inner: encoder,
            count: 0,
        });
        builder.mode(tar::HeaderMode::Deterministic);
        for e in &self.entries {
            let mut h = tar::Header::new_gnu();
            h.set_mode(e.mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(self.mtime);
            let _ = h.set_username("");
            let _ = h.set_groupname("");
            match &e.kind {
                EntryKind::File { input } => {
                    let path = ctx.input(*input);
                    let file = File::open(path)
                        .map_err(|err| ActionError::new(format!("{}: {err}", path.display())))?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(file.metadata()?.len());
                    builder.append_data(&mut h, &e.path, file)?;
                }
                EntryKind::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    let dir = format!("{}/", e.path.trim_end_matches('/'));
                    builder.append_data(&mut h, dir, std::io::empty())?;
                }
                EntryKind::Symlink { target } => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    builder.append_link(&mut h, &e.path, target)?;
                }
            }
        }
        let counting = builder.into_inner()?;
        let decoded = counting.count;
        counting
            .inner
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        file.sync_all()?;
        if self.compression.is_some() {
            std::fs::write(ctx.output(1), decoded.to_string())?;
        }
        Ok(())
    }
}
