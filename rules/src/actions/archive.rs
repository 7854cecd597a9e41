//! `archive`: a deterministic tar of files, directories and symbolic links.
//!
//! Entries are written in the order given (the planner sorts them), with uid/gid 0, empty
//! owner names, the planned mode and one fixed mtime (`SOURCE_DATE_EPOCH` or 0), so the same
//! files give the same bytes on every machine.
//!
//! With `compression` set, the tar stream goes straight into the codec's encoder (zstd's
//! workers compress while the archive is still being written, as `tar | zstd` overlaps them)
//! and the action has two outputs: the compressed bytes, and a line with the decoded size in
//! decimal and the compressed bytes' SHA-256 in hex (hashed as they are written, so the
//! package action need not read the slot twice; see [`SlotSummary`]).

use flavor_engine::{Action, ActionError, Input, ResolvedEntry, RunContext};
use pspf::Codec;
use pspf::encode::{Compression, Encoder};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The second output of a compressing archive action: `DECODED_SIZE SHA256_HEX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotSummary {
    /// The size of the tar stream before compression.
    pub decoded_size: u64,
    /// The SHA-256 of the compressed bytes (the slot checksum PSPF records).
    pub stored_sha256: [u8; 32],
}

impl SlotSummary {
    /// Reads the summary file an archive action wrote.
    pub fn read(path: &Path) -> Result<SlotSummary, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bad = || format!("{}: not `SIZE SHA256`: {:?}", path.display(), text.trim());
        let mut fields = text.split_ascii_whitespace();
        let decoded_size = fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad)?;
        let mut stored_sha256 = [0u8; 32];
        let hex_digest = fields.next().ok_or_else(bad)?;
        hex::decode_to_slice(hex_digest, &mut stored_sha256).map_err(|_| bad())?;
        if fields.next().is_some() {
            return Err(bad());
        }
        Ok(SlotSummary {
            decoded_size,
            stored_sha256,
        })
    }

    fn line(&self) -> String {
        format!(
            "{} {}\n",
            self.decoded_size,
            hex::encode(self.stored_sha256)
        )
    }
}

/// Hashes the bytes that pass through to the file (the compressed slot).
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

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
    /// A step's output, known only once the step ran: a file at the entry's path (mode
    /// 0755), or a directory whose contents go under it (the path `""` is the archive's
    /// root) — directories 0755, files 0755 or 0644 by their executable bit, links as
    /// links, in path order like a source directory.
    Output {
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
        // 3: zstd as independent frames with a seek table.
        3
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
                EntryKind::Output { input } => json!(["output", e.path, e.mode, input]),
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
    fn accepts_tree(&self, i: usize) -> bool {
        (self.entries.iter()).any(|e| e.kind == EntryKind::Output { input: i })
    }
    /// Every file input is read once, to its end, through [`RunContext::open_input`].
    fn digests_while_reading(&self) -> bool {
        true
    }
    fn threads(&self) -> usize {
        match self.compression {
            Some((Codec::Zstd | Codec::TarZst, _)) => 2,
            _ => 1,
        }
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let hashing = Hashing {
            inner: ctx.create_output(0)?,
            hasher: Sha256::new(),
        };
        let buffered = BufWriter::with_capacity(256 * 1024, hashing);
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
        for (path, what, mode) in self.expanded(ctx)? {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(self.mtime);
            let _ = h.set_username("");
            let _ = h.set_groupname("");
            match what {
                Written::Input(i) => {
                    let file = ctx.open_input(i).map_err(|err| {
                        ActionError::new(format!("{}: {err}", ctx.input(i).display()))
                    })?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(file.len());
                    builder.append_data(&mut h, &path, file)?;
                }
                Written::Blob(from) => {
                    let file = File::open(&from)
                        .map_err(|err| ActionError::new(format!("{}: {err}", from.display())))?;
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(file.metadata()?.len());
                    builder.append_data(&mut h, &path, file)?;
                }
                Written::Dir => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    let dir = format!("{}/", path.trim_end_matches('/'));
                    builder.append_data(&mut h, dir, std::io::empty())?;
                }
                Written::Symlink(target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_size(0);
                    builder.append_link(&mut h, &path, target)?;
                }
            }
        }
        let counting = builder.into_inner()?;
        let decoded = counting.count;
        let hashing = counting
            .inner
            .finish()?
            .into_inner()
            .map_err(|e| e.into_error())?;
        let summary = SlotSummary {
            decoded_size: decoded,
            stored_sha256: hashing.hasher.finalize().into(),
        };
        hashing.inner.finish()?;
        if self.compression.is_some() {
            std::fs::write(ctx.output(1), summary.line())?;
        }
        Ok(())
    }

    /// A compressed archive from a shared cache is used only if its summary's SHA-256 is that
    /// of its bytes: the package action records it as the slot checksum without rehashing.
    fn vet_remote_outputs(&self, _inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<(), String> {
        let (Some(stored), Some(summary)) = (outputs.first(), outputs.get(1)) else {
            return Ok(());
        };
        let summary = SlotSummary::read(summary)?;
        let (digest, _) = File::open(stored)
            .and_then(pspf::stream::sha256_reader)
            .map_err(|e| format!("{}: {e}", stored.display()))?;
        if digest != summary.stored_sha256 {
            return Err(format!(
                "the archive's SHA-256 is {}, its summary says {}",
                hex::encode(digest),
                hex::encode(summary.stored_sha256)
            ));
        }
        Ok(())
    }
}

/// What one archive entry is once step outputs are known: where its bytes are (one of the
/// action's inputs, or a file of a tree input), a directory, or a link.
enum Written {
    Input(usize),
    Blob(PathBuf),
    Dir,
    Symlink(String),
}

impl ArchiveAction {
    /// Every entry to write (path, what, mode), with each step output replaced by what it
    /// turned out to be: one file, or a directory and everything in it.
    fn expanded(&self, ctx: &RunContext<'_>) -> Result<Vec<(String, Written, u32)>, ActionError> {
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let what = match &e.kind {
                EntryKind::File { input } => Written::Input(*input),
                EntryKind::Dir => Written::Dir,
                EntryKind::Symlink { target } => Written::Symlink(target.clone()),
                EntryKind::Output { input } => {
                    self.expand_output(ctx, *input, &e.path, e.mode, &mut out)?;
                    continue;
                }
            };
            out.push((e.path.clone(), what, e.mode));
        }
        Ok(out)
    }

    fn expand_output(
        &self,
        ctx: &RunContext<'_>,
        input: usize,
        at: &str,
        mode: u32,
        out: &mut Vec<(String, Written, u32)>,
    ) -> Result<(), ActionError> {
        let Some(tree) = ctx.input_tree(input) else {
            if at.is_empty() {
                return Err(ActionError::new(format!(
                    "{}: a step output is a file, but it is mapped to the slot's root; name \
                     the file's path, e.g. to = \"bin/app\"",
                    self.label
                )));
            }
            out.push((at.to_string(), Written::Input(input), mode));
            return Ok(());
        };
        if !at.is_empty() {
            out.push((at.to_string(), Written::Dir, 0o755));
        }
        for (rel, entry) in &tree.entries {
            let path = if at.is_empty() {
                rel.clone()
            } else {
                format!("{at}/{rel}")
            };
            let (what, mode) = match entry {
                ResolvedEntry::Dir => (Written::Dir, 0o755),
                ResolvedEntry::Symlink(target) => (Written::Symlink(target.clone()), 0o777),
                ResolvedEntry::File {
                    blob, executable, ..
                } => (
                    Written::Blob(blob.clone()),
                    if *executable { 0o755 } else { 0o644 },
                ),
            };
            out.push((path, what, mode));
        }
        Ok(())
    }
}
