//! Safe extraction of slots into a directory.
//!
//! A tar slot is unpacked at the destination root; a single-file slot lands at its target path
//! (a leading `{workenv}/` stripped). Nothing may leave the destination: absolute paths, `..`
//! components and writes through symbolic links that point outside are refused with
//! [`crate::Error::UnsafePath`], and device nodes are refused outright. Extraction streams
//! and verifies the slot as it goes; callers extract into a private staging directory and
//! publish it only when this returns `Ok`.
//!
//! What a tampered slot can write before it is refused is bounded: a slot whose stored bytes
//! are at most [`VERIFY_BEFORE_DECODING`], and every slot whose metadata declares no decoded
//! size (upstream writers), is hashed before a byte of it is decoded, so it writes nothing; a
//! larger flavor slot is decoded as it is hashed and stops at the decoded size its signed
//! metadata declares. Whatever breaks first, a slot whose digest fails is reported as
//! tampered. A zstd slot flavor wrote (independent frames and a seek table, see
//! [`crate::seekable`]) is decoded on several threads at once, under the same rules.

use crate::error::{Error, Result};
use crate::ops::Codec;
use crate::pieces::{Plain, Stream};
use crate::reader::Package;
use crate::seekable::SeekTable;
use crate::stream::{DecodeLimit, SlotReader};
use crate::writers::at_path;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Stored size up to which a slot is verified before it is decoded (hashing a mebibyte twice
/// costs well under a millisecond; larger slots are hashed as they decode, in one pass).
pub const VERIFY_BEFORE_DECODING: u64 = 1024 * 1024;

/// Turn a recorded slot target into a safe relative path (`{workenv}/bin/x` → `bin/x`).
/// Returns an empty path for the workenv root itself.
pub fn relative_target(target: &str) -> Result<PathBuf> {
    let t = target
        .strip_prefix("{workenv}")
        .map(|rest| rest.trim_start_matches('/'))
        .unwrap_or(target);
    let mut out = PathBuf::new();
    for comp in Path::new(t).components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(Error::UnsafePath {
                    path: target.to_string(),
                    reason: "contains '..'".into(),
                });
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(Error::UnsafePath {
                    path: target.to_string(),
                    reason: "is absolute".into(),
                });
            }
        }
    }
    Ok(out)
}

pub(crate) fn check_entry_path(path: &Path) -> Result<()> {
    for comp in path.components() {
        let reason = match comp {
            Component::ParentDir => "contains '..'",
            Component::RootDir | Component::Prefix(_) => "is absolute",
            _ => continue,
        };
        return Err(Error::UnsafePath {
            path: path.display().to_string(),
            reason: reason.into(),
        });
    }
    Ok(())
}

/// Refuse an entry whose parent directory, as it exists on disk now, resolves (through
/// symlinks) to somewhere outside `root`.
fn refuse_outward_parent(root: &Path, entry: &Path) -> Result<()> {
    let Some(parent) = entry.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    // Find the deepest existing ancestor; what does not exist yet will be created as a
    // real directory inside it.
    let mut probe = root.join(parent);
    loop {
        match probe.canonicalize() {
            Ok(real) if real.starts_with(root) => return Ok(()),
            Ok(_) => {
                return Err(Error::UnsafePath {
                    path: entry.display().to_string(),
                    reason: "would be written through a symbolic link that leaves the destination"
                        .into(),
                });
            }
            Err(_) if probe.symlink_metadata().is_ok() => {
                return Err(Error::UnsafePath {
                    path: entry.display().to_string(),
                    reason: "would be written through a dangling symbolic link".into(),
                });
            }
            Err(_) => {
                if !probe.pop() || probe == root {
                    return Ok(());
                }
            }
        }
    }
}

/// Unpack a tar stream into `dest` (which must exist), refusing anything that would land
/// outside it. Returns the number of entries written. The stream is read to its end, so a
/// verifying reader underneath gets to check its digest. Files are written on
/// [`writer_threads`] threads while the stream is decoded.
pub fn unpack_tar<R: Read>(reader: R, dest: &Path) -> Result<u64> {
    unpack_tar_with_writers(reader, dest, writer_threads())
}

/// [`unpack_tar`] with `threads` writer threads (0: every file is written on the calling
/// thread). The result is the same whatever the number.
pub fn unpack_tar_with_writers<R: Read>(reader: R, dest: &Path, threads: usize) -> Result<u64> {
    unpack_stream(&mut Plain(reader), dest, threads)
}

/// [`unpack_tar_with_writers`] from a [`Stream`], whose files' bytes are written without
/// being copied where it can share them.
fn unpack_stream(stream: &mut dyn Stream, dest: &Path, threads: usize) -> Result<u64> {
    crate::untar::Unpacker::with_writers(dest, threads)?.unpack(stream)
}

/// Writer threads an extraction uses on this machine: one per CPU the process may run on (at
/// most 4), none on a single CPU.
pub fn writer_threads() -> usize {
    // File creation serialises in the kernel beyond a few threads.
    const MAX_THREADS: usize = 4;
    match std::thread::available_parallelism().map(|n| n.get()) {
        Ok(n) if n > 1 => n.min(MAX_THREADS),
        _ => 0,
    }
}

/// Write a decoded single-file stream to `path` with `mode`, creating parent directories.
pub fn write_file_from<R: Read>(mut reader: R, path: &Path, mode: u32) -> Result<u64> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| at_path(parent, e))?;
    }
    let mut out = fs::File::create(path).map_err(|e| at_path(path, e))?;
    // Large reads: each one is a decoder call and a write system call.
    let mut buf = vec![0u8; crate::writers::CHUNK];
    let mut n = 0u64;
    loop {
        let got = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from_io(e)),
        };
        out.write_all(&buf[..got]).map_err(|e| at_path(path, e))?;
        n += got as u64;
    }
    out.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| at_path(path, e))?;
    Ok(n)
}

impl Package {
    /// Extract slot `i` under `dest`: a tar slot is unpacked at `dest`, a file slot lands at
    /// `dest/<target>`. Returns the path written (the directory for a tar slot).
    pub fn extract_slot(&self, i: usize, dest: &Path) -> Result<PathBuf> {
        self.extract_slot_with(i, dest, true)
    }

    /// [`Package::extract_slot`], optionally without checking the slot's digests (for
    /// launchers running at a validation level that only warns). The declared decoded size
    /// bounds the output either way.
    pub fn extract_slot_with(&self, i: usize, dest: &Path, verify: bool) -> Result<PathBuf> {
        self.extract_slot_using(i, dest, verify, writer_threads())
    }

    /// [`Package::extract_slot_with`], decoding a seekable zstd slot on `threads` threads,
    /// any other slot as one stream on a thread of its own (0: as one stream on the calling
    /// thread). The result is the same whatever the number,
    /// except for a slot whose seek table disagrees with its frames (flavor never writes
    /// one): on threads it is refused as malformed.
    pub fn extract_slot_using(
        &self,
        i: usize,
        dest: &Path,
        verify: bool,
        threads: usize,
    ) -> Result<PathBuf> {
        let codec = self.slot_codec(i)?;
        let limit = self.decode_limit(i);
        if verify && (limit.is_none() || self.descriptors()[i].size <= VERIFY_BEFORE_DECODING) {
            // Refuse a tampered slot before anything of it is decoded or written.
            self.verify_slot_bytes(i)?;
        }
        let stored = if verify {
            self.stored_reader(i)?
        } else {
            self.stored_reader_unverified(i)?
        };
        let plan = (threads > 0)
            .then(|| self.parallel_plan(i, codec, limit.as_ref()))
            .flatten();
        if let Some(table) = plan {
            return crate::parallel::decode_frames(stored, &table, codec, threads, |frames| {
                self.write_decoded(i, codec, frames, dest)
            });
        }
        let mut reader = SlotReader::new(stored, codec)?.with_limit(limit);
        if threads > 0 {
            // One stream: decoded (and hashed) on a thread of its own while this one unpacks.
            return crate::parallel::decode_stream(reader, codec, |chunks| {
                self.write_decoded(i, codec, chunks, dest)
            });
        }
        match self.write_decoded(i, codec, &mut Plain(&mut reader), dest) {
            // A tampered slot can break the archive or the decoder before its last byte is
            // hashed: hash the rest, and report tampering as what it is.
            Err(e) if !e.kind().is_integrity() => match reader.verify_rest() {
                Err(tampered) if tampered.kind().is_integrity() => Err(tampered),
                _ => Err(e),
            },
            other => other,
        }
    }

    /// The seek table to decode slot `i` by, on several threads: a zstd slot with more than
    /// one frame, whose frames add up to its signed decoded size. `None`: decode it as one
    /// stream.
    fn parallel_plan(
        &self,
        i: usize,
        codec: Codec,
        limit: Option<&DecodeLimit>,
    ) -> Option<SeekTable> {
        let declared = limit?.declared;
        if !matches!(codec, Codec::Zstd | Codec::TarZst) {
            return None;
        }
        self.seek_table(i)
            .filter(|t| t.frames.len() > 1 && t.decoded_len() == declared)
    }

    /// Write slot `i`'s decoded bytes from `reader` under `dest`: unpacked there for a tar
    /// slot, at the slot's target for a file slot.
    fn write_decoded(
        &self,
        i: usize,
        codec: Codec,
        reader: &mut dyn Stream,
        dest: &Path,
    ) -> Result<PathBuf> {
        if codec.is_tar() {
            fs::create_dir_all(dest)?;
            unpack_stream(reader, dest, writer_threads())?;
            Ok(dest.to_path_buf())
        } else {
            self.write_file_slot(i, reader, dest)
        }
    }

    /// Write file slot `i`, decoded by `reader`, at its target under `dest`.
    fn write_file_slot(&self, i: usize, reader: &mut dyn Read, dest: &Path) -> Result<PathBuf> {
        let meta = self.slot_metadata(i);
        let target = meta
            .map(|m| m.destination().to_string())
            .unwrap_or_default();
        let mut rel = relative_target(&target)?;
        if rel.as_os_str().is_empty() {
            // A file slot aimed at the root itself: name it after the slot.
            let id = meta.map(|m| m.id.as_str()).filter(|s| !s.is_empty());
            rel = relative_target(id.unwrap_or("slot"))?;
            if rel.as_os_str().is_empty() {
                rel = PathBuf::from(format!("slot_{i}"));
            }
        }
        // The signed metadata's mode wins: the descriptor's permission bytes are covered by
        // no check, so they are only a fallback for writers that record no mode.
        let desc_mode = u32::from(self.descriptors()[i].permissions) & 0o7777;
        let mode = meta
            .and_then(|m| m.mode())
            .filter(|m| *m != 0)
            .or((desc_mode != 0).then_some(desc_mode))
            .unwrap_or(0o600);
        // An earlier tar slot may have left symbolic links under `dest`: never write through
        // one, neither in a parent directory that leads outside nor as the file itself.
        fs::create_dir_all(dest)?;
        refuse_outward_parent(&dest.canonicalize()?, &rel)?;
        let path = dest.join(&rel);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::UnsafePath {
                path: rel.display().to_string(),
                reason: "is a symbolic link; a file slot is never written through one".into(),
            });
        }
        write_file_from(reader, &path, mode)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_made_relative_or_refused() {
        assert_eq!(
            relative_target("{workenv}/bin/x").unwrap(),
            PathBuf::from("bin/x")
        );
        assert_eq!(relative_target("{workenv}").unwrap(), PathBuf::new());
        assert_eq!(relative_target("./etc/a").unwrap(), PathBuf::from("etc/a"));
        assert!(relative_target("../x").is_err());
        assert!(relative_target("/etc/passwd").is_err());
        assert!(relative_target("{workenv}/../x").is_err());
    }

    fn tar_with(name: &[u8], kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
        let mut header = tar::Header::new_gnu();
        // Write the raw name so that '..' and absolute paths reach the reader unfiltered.
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(if kind.is_file() { 3 } else { 0 });
        if let Some(l) = link {
            header.set_link_name(l).unwrap();
        }
        header.set_cksum();
        let mut out = header.as_bytes().to_vec();
        if kind.is_file() {
            let mut block = vec![0u8; 512];
            block[..3].copy_from_slice(b"hi\n");
            out.extend_from_slice(&block);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    #[test]
    fn traversal_entries_are_refused_and_nothing_escapes() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        for name in [
            &b"../escape.txt"[..],
            b"/tmp/abs-escape.txt",
            b"a/../../escape2.txt",
        ] {
            let err =
                unpack_tar(&tar_with(name, tar::EntryType::Regular, None)[..], &dest).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{err}");
        }
        assert!(!root.path().join("escape.txt").exists());
        assert!(!root.path().join("escape2.txt").exists());
    }

    #[test]
    fn writing_through_an_outward_symlink_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let outside = root.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let mut archive = tar_with(
            b"link",
            tar::EntryType::Symlink,
            Some(outside.to_str().unwrap()),
        );
        archive.truncate(archive.len() - 1024);
        archive.extend(tar_with(b"link/pwned.txt", tar::EntryType::Regular, None));
        let err = unpack_tar(&archive[..], &dest).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "{err}");
        assert!(!outside.join("pwned.txt").exists());
    }

    /// Regression: a file slot extracted after a tar slot followed the tar slot's symbolic
    /// links (a directory link leading outside, or a link as the file itself) out of `dest`.
    #[cfg(feature = "write")]
    #[test]
    fn file_slots_are_not_written_through_symlinks_left_by_a_tar_slot() {
        use crate::{Codec, PackageSpec, SlotInput};
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside");
        fs::create_dir(&outside).unwrap();
        let outside_file = outside.join("conf");
        let mut archive = tar_with(b"bin", tar::EntryType::Symlink, outside.to_str());
        archive.truncate(archive.len() - 1024);
        archive.extend(tar_with(
            b"conf",
            tar::EntryType::Symlink,
            outside_file.to_str(),
        ));
        let launcher = root.path().join("launcher");
        fs::write(&launcher, b"#!/bin/sh\n").unwrap();
        let stored = |name: &str, bytes: &[u8]| {
            let path = root.path().join(name);
            fs::write(&path, bytes).unwrap();
            path
        };
        let slot = |id: &str, target: &str, codec: Codec, path: PathBuf| SlotInput {
            id: id.into(),
            source: id.into(),
            target: target.into(),
            codec,
            decoded_size: fs::metadata(&path).unwrap().len(),
            stored: path,
            stored_sha256: None,
            purpose: crate::Purpose::Payload,
            lifecycle: crate::Lifecycle::Runtime,
            permissions: 0o644,
        };
        let slots = vec![
            slot("tree", "{workenv}", Codec::Tar, stored("tree", &archive)),
            slot("x", "{workenv}/bin/x", Codec::Raw, stored("x", b"x\n")),
            slot("conf", "{workenv}/conf", Codec::Raw, stored("conf", b"c\n")),
        ];
        let key = crate::keys::signing_key_from_seed("extract-test");
        let spec = PackageSpec {
            launcher: &launcher,
            metadata: crate::flavor_metadata("p", "1", "x", 0),
            slots,
            key: &key,
        };
        let psp = root.path().join("p.psp");
        crate::write_package(spec, &psp).unwrap();
        let pkg = Package::open(&psp).unwrap();
        let dest = root.path().join("dest");
        pkg.extract_slot(0, &dest).unwrap();
        for i in [1, 2] {
            let err = pkg.extract_slot(i, &dest).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::UnsafePath, "slot {i}: {err}");
        }
        assert!(!outside.join("x").exists());
        assert!(!outside_file.exists());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn plain_entries_unpack() {
        let root = tempfile::tempdir().unwrap();
        let n = unpack_tar(
            &tar_with(b"dir/ok.txt", tar::EntryType::Regular, None)[..],
            root.path(),
        )
        .unwrap();
        assert_eq!(n, 1);
        assert_eq!(fs::read(root.path().join("dir/ok.txt")).unwrap(), b"hi\n");
    }
}
