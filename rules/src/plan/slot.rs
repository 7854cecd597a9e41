//! Planning one slot: what goes in ([`Contents`]: a directory's files, one file, or a step's
//! outputs), then how it is stored ([`Encoded`]: archived, compressed, or as is).

use super::Planner;
use super::steps::PlannedStep;
use super::target::SlotCodec;
use crate::Error;
use crate::actions::{ArchiveAction, ArchiveEntry, CompressAction, EntryKind, PackageSlot};
use crate::collect::{Collected, collect_dir};
use crate::manifest::{Manifest, Package, Slot, SlotSource, Spanned};
use crate::paths::lexical;
use flavor_engine::{ActionId, Input};
use pspf::Codec;
use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// What goes into a slot.
pub(super) struct Contents {
    /// The one file, when the slot is a single file (or a single step output).
    pub(super) file: Option<Input>,
    /// Its entries as an archive (a single file is a one-entry archive at its target).
    pub(super) entries: Vec<ArchiveEntry>,
    /// The inputs the entries' `File { input }` indices refer to.
    pub(super) inputs: Vec<Input>,
    /// The source recorded in the metadata.
    pub(super) source: String,
    /// The codec when the slot names none.
    pub(super) default_codec: Codec,
    /// The mode recorded for the slot.
    pub(super) mode: u32,
}

/// Where a slot's stored and decoded bytes come from.
struct Encoded {
    stored: Input,
    /// The decoded bytes, or — when `decoded_size_file` — the archive action's summary (decoded
    /// size and the stored bytes' SHA-256).
    decoded: Input,
    decoded_size_file: bool,
}

pub(super) fn output(action: ActionId, index: usize) -> Input {
    Input::Output { action, index }
}

/// `rel` under `prefix` (`""` and `"."` are the workenv root).
pub(super) fn under(prefix: &str, rel: &str) -> String {
    let prefix = prefix.trim_matches('/').trim_start_matches("./");
    if prefix.is_empty() || prefix == "." {
        rel.to_string()
    } else {
        format!("{prefix}/{rel}")
    }
}

/// Single files from this size up are compressed (zstd) unless the slot names a codec;
/// below it the few bytes saved do not pay for the decompression.
pub const COMPRESS_FILES_FROM: u64 = 16 * 1024;

/// The codec of a single-file slot that names none: zstd from [`COMPRESS_FILES_FROM`]
/// bytes, else raw (`codec = "raw"` keeps a large file as it is, e.g. for upstream launchers,
/// which cannot read zstd).
fn single_file_codec(len: u64) -> Codec {
    if len >= COMPRESS_FILES_FROM {
        Codec::Zstd
    } else {
        Codec::Raw
    }
}

/// The slot's `target`, or `default`.
pub(super) fn target_or(slot: &Slot, default: &str) -> String {
    slot.target
        .as_ref()
        .map(|t| t.value.clone())
        .unwrap_or_else(|| default.to_string())
}

impl Planner<'_> {
    /// Plan one slot: its actions, and what the package records about it.
    pub(super) fn slot(
        &mut self,
        m: &Manifest,
        pkg: &Package,
        slot: &Slot,
        steps: &HashMap<String, PlannedStep>,
        never: &[PathBuf],
        choice: &SlotCodec,
    ) -> Result<PackageSlot, Error> {
        let contents = match &slot.source {
            SlotSource::Path(src) => self.path_contents(m, slot, src, never)?,
            SlotSource::Step(step) => step_contents(pkg, slot, step, steps, choice.given)?,
            SlotSource::Python(part) => self.python_contents(m, pkg, *part)?,
        };
        let codec = choice.pick(contents.default_codec);
        let level = self.level(slot, codec, choice.own_level);
        let encoded = self.encode(slot, codec, level, &contents)?;
        let target = if codec.is_tar() {
            "{workenv}".to_string()
        } else {
            contents
                .entries
                .first()
                .map(|e| e.path.clone())
                .unwrap_or_else(|| slot.id.value.clone())
        };
        Ok(PackageSlot {
            id: slot.id.value.clone(),
            source: contents.source,
            target,
            codec,
            purpose: slot.purpose,
            lifecycle: slot.lifecycle,
            permissions: contents.mode,
            stored: encoded.stored,
            decoded: encoded.decoded,
            decoded_size_file: encoded.decoded_size_file,
        })
    }

    /// A source path: a directory's collected files, or one file.
    fn path_contents(
        &mut self,
        m: &Manifest,
        slot: &Slot,
        src: &Spanned<String>,
        never: &[PathBuf],
    ) -> Result<Contents, Error> {
        // Lexically normal, so the same source reached from several manifests
        // (`../../shared/lib`) is the same input and its actions are planned once.
        let path = lexical(&m.dir.join(&src.value));
        let meta = std::fs::metadata(&path).map_err(|source| Error::Source {
            slot: slot.id.value.clone(),
            path: path.clone(),
            source,
        })?;
        if meta.is_dir() {
            return dir_contents(slot, src, &path, never);
        }
        let mode = match slot.permissions {
            Some(mode) => mode,
            None if meta.permissions().mode() & 0o111 != 0 => 0o755,
            None => 0o644,
        };
        let target = target_or(slot, &src.value);
        Ok(Contents {
            file: Some(Input::File(path.clone())),
            entries: vec![ArchiveEntry {
                path: target.trim_start_matches("./").to_string(),
                kind: EntryKind::File { input: 0 },
                mode,
            }],
            inputs: vec![Input::File(path)],
            source: src.value.clone(),
            default_codec: single_file_codec(meta.len()),
            mode,
        })
    }

    /// How much to compress: the slot's `level` (when `own_level`: the codec is the slot's
    /// own, not one a target gave it), else by codec and `--release`.
    fn level(&self, slot: &Slot, codec: Codec, own_level: bool) -> i32 {
        match (
            slot.level.as_ref().filter(|_| own_level),
            codec,
            self.opts.release,
        ) {
            (Some(l), _, _) => i32::try_from(l.value).unwrap_or(i32::MAX),
            (None, Codec::Gzip | Codec::TarGz, true) => 9,
            (None, Codec::Gzip | Codec::TarGz, false) => 6,
            (None, _, true) => 19,
            (None, _, false) => 3,
        }
    }

    /// Plan the archive and compression actions a slot's contents need. A compressed tar is
    /// archived and compressed in one streaming action; anything else is archived (tar) or
    /// taken as is (one file), then compressed separately.
    fn encode(
        &mut self,
        slot: &Slot,
        codec: Codec,
        level: i32,
        c: &Contents,
    ) -> Result<Encoded, Error> {
        let id = &slot.id.value;
        let archive = |label: String, compression| ArchiveAction {
            label,
            entries: c.entries.clone(),
            inputs: c.inputs.clone(),
            mtime: self.opts.timestamp,
            compression,
        };
        if matches!(codec, Codec::TarGz | Codec::TarZst) {
            let action = archive(format!("archive slot {id} ({codec})"), Some((codec, level)));
            let action = self.add(Box::new(action))?;
            return Ok(Encoded {
                stored: output(action, 0),
                decoded: output(action, 1),
                decoded_size_file: true,
            });
        }
        let decoded = if codec.is_tar() {
            let action = archive(format!("archive slot {id}"), None);
            output(self.add(Box::new(action))?, 0)
        } else {
            c.file.clone().ok_or_else(|| Error::CodecNeedsOneFile {
                slot: id.clone(),
                codec,
            })?
        };
        let stored = match codec {
            Codec::Raw | Codec::Tar => decoded.clone(),
            Codec::Gzip | Codec::Zstd | Codec::TarGz | Codec::TarZst => {
                let action = CompressAction {
                    label: format!("compress slot {id} ({codec})"),
                    codec,
                    level,
                    input: decoded.clone(),
                };
                output(self.add(Box::new(action))?, 0)
            }
        };
        Ok(Encoded {
            stored,
            decoded,
            decoded_size_file: false,
        })
    }
}

/// A directory source: its files, directories and links under the slot's target.
fn dir_contents(
    slot: &Slot,
    src: &Spanned<String>,
    path: &Path,
    never: &[PathBuf],
) -> Result<Contents, Error> {
    let prefix = target_or(slot, &src.value);
    let include: Vec<String> = slot.include.iter().map(|s| s.value.clone()).collect();
    let exclude: Vec<String> = slot.exclude.iter().map(|s| s.value.clone()).collect();
    let what = format!("slot `{}`", slot.id.value);
    let mut entries = Vec::new();
    let mut inputs = Vec::new();
    for c in collect_dir(&what, path, &include, &exclude, never)? {
        let (rel, kind, mode) = match c {
            Collected::File { rel, path, mode } => {
                inputs.push(Input::File(path));
                let input = inputs.len() - 1;
                (rel, EntryKind::File { input }, mode)
            }
            Collected::Dir { rel, mode } => (rel, EntryKind::Dir, mode),
            Collected::Symlink { rel, target } => (rel, EntryKind::Symlink { target }, 0o777),
        };
        entries.push(ArchiveEntry {
            path: under(&prefix, &rel),
            kind,
            mode,
        });
    }
    Ok(Contents {
        file: None,
        entries,
        inputs,
        source: src.value.clone(),
        default_codec: Codec::TarZst,
        mode: 0o755,
    })
}

/// A step's declared outputs, each under the slot's target at its destination (its `to`, its
/// path without `strip_prefix`, or its path relative to the manifest).
fn step_contents(
    _pkg: &Package,
    slot: &Slot,
    step_id: &Spanned<String>,
    steps: &HashMap<String, PlannedStep>,
    given: Option<Codec>,
) -> Result<Contents, Error> {
    let step = steps
        .get(&step_id.value)
        .ok_or_else(|| Error::UnknownStep {
            step: step_id.value.clone(),
        })?;
    let action = step.action;
    let prefix = target_or(slot, "");
    let mut entries = Vec::new();
    let mut inputs = Vec::new();
    for (i, dest) in step.dests.iter().enumerate() {
        entries.push(ArchiveEntry {
            path: under(&prefix, dest).trim_end_matches('/').to_string(),
            kind: EntryKind::Output { input: i },
            mode: 0o755,
        });
        inputs.push(output(action, i));
    }
    let single = (step.outputs.len() == 1).then(|| output(action, 0));
    let default_codec = match (&single, given) {
        (Some(_), Some(c)) if !c.is_tar() => Codec::Raw,
        _ => Codec::TarZst,
    };
    Ok(Contents {
        file: single,
        entries,
        inputs,
        source: format!("step:{}", step_id.value),
        default_codec,
        mode: 0o755,
    })
}
