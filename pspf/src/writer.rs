//! Writing a package: launcher + metadata + slot table + page-aligned slots + trailer.
//!
//! The writer streams: the launcher and every slot are copied from files (the kernel's
//! `copy_file_range` where it can), so memory stays bounded for multi-gigabyte slots. Slots are
//! hashed in a first pass because the metadata, which names their digests, comes first. The
//! output goes to a temporary file beside the destination and is renamed into place only when
//! complete, with mode 0755. Same inputs → byte-identical output: metadata keys are sorted, the
//! gzip header carries no time, and nothing reads a clock.

use crate::descriptor::{SlotDescriptor, checksum_from_digest, name_hash};
use crate::error::{Error, Result};
use crate::index::{IndexFields, MAGIC_END, MAGIC_START, PAGE_SIZE};
use crate::keys::SigningKey;
use crate::metadata::{Execution, Metadata, PackageInfo, SlotMetadata, gzip_metadata};
use crate::ops::Codec;
use crate::platform::Platform;
use crate::stream::sha256_reader;
use crate::vocabulary::{Lifecycle, Purpose};
use ed25519_dalek::Signer;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One slot to write: its stored (already encoded) bytes in a file and what to record.
#[derive(Debug, Clone)]
pub struct SlotInput {
    /// Slot id (unique within the package).
    pub id: String,
    /// Source recorded in the metadata (manifest-relative, never absolute).
    pub source: String,
    /// Target recorded in the metadata; tar slots should use `{workenv}` (PSPF.md §7).
    pub target: String,
    /// The codec the stored bytes are encoded with.
    pub codec: Codec,
    /// File holding the stored bytes.
    pub stored: PathBuf,
    /// The stored bytes' SHA-256 when the caller already has it (hashed as they were
    /// written); `None` reads the file to compute it. A wrong digest gives a package whose
    /// slot fails verification, so only pass one computed from exactly these bytes.
    pub stored_sha256: Option<[u8; 32]>,
    /// Size after decoding (the descriptor's `original_size`).
    pub decoded_size: u64,
    /// What the slot holds.
    pub purpose: Purpose,
    /// When it is needed.
    pub lifecycle: Lifecycle,
    /// File mode for single-file slots (descriptor permissions).
    pub permissions: u32,
}

/// Everything a package is made of.
pub struct PackageSpec<'a> {
    /// The launcher executable to put in front.
    pub launcher: &'a Path,
    /// Metadata without slots (see [`flavor_metadata`]); the writer fills `slots` and
    /// `launcher` from the inputs.
    pub metadata: Metadata,
    /// The slots, in order.
    pub slots: Vec<SlotInput>,
    /// The key that signs the metadata.
    pub key: &'a SigningKey,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct WriteSummary {
    /// Length of the package file.
    pub size: u64,
    /// The index checksum written.
    pub index_checksum: u32,
    /// SHA-256 of the compressed metadata.
    pub metadata_sha256: [u8; 32],
}

fn align(x: u64, to: u64) -> u64 {
    x.div_ceil(to) * to
}

/// Format seconds since the epoch as RFC 3339 UTC (`1970-01-01T00:00:00Z`).
pub fn rfc3339_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), valid for any u64 day count we meet.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Metadata with every field the strictest upstream launcher (Rust 0.3.0) requires, for a
/// package built by flavor at `timestamp` (seconds since the epoch; pass `SOURCE_DATE_EPOCH`
/// or 0, never the wall clock). `build.platform` is this host's; a package for another
/// platform sets its own ([`Metadata::set_platform`]).
pub fn flavor_metadata(name: &str, version: &str, command: &str, timestamp: u64) -> Metadata {
    let mut metadata = Metadata {
        format: "PSPF/2025".into(),
        format_version: "1.0.0".into(),
        package: PackageInfo {
            name: name.into(),
            version: version.into(),
            description: None,
        },
        slots: Vec::new(),
        execution: Execution {
            primary_slot: Some(0),
            command: command.into(),
            env: Default::default(),
        },
        verification: Some(json!({
            "integrity_seal": {"required": true, "algorithm": "ed25519"},
            "signed": true,
            "require_verification": true,
        })),
        build: Some(json!({
            "tool": "flavor",
            "tool_version": env!("CARGO_PKG_VERSION"),
            "timestamp": rfc3339_utc(timestamp),
            "deterministic": true,
            "platform": {"os": std::env::consts::OS, "arch": std::env::consts::ARCH, "host": ""},
        })),
        launcher: None,
        compatibility: Some(json!({"min_format_version": "1.0.0", "features": []})),
        cache_validation: None,
        runtime: None,
        workenv: None,
        setup_commands: Vec::new(),
    };
    if let Some(host) = Platform::host() {
        metadata.set_platform(host);
    }
    metadata
}

fn write_zeros(w: &mut impl Write, n: u64) -> io::Result<()> {
    io::copy(&mut io::repeat(0).take(n), w).map(|_| ())
}

fn with_path(path: &Path, e: io::Error) -> Error {
    Error::Io(io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// A package laid out but not yet written: every byte outside the launcher and slot regions,
/// and the digests those regions must have. [`plan_package`] makes one (reading the inputs
/// once to hash them); [`PackagePlan::write`] writes it; [`PackagePlan::check_file`] tells
/// whether an existing file is exactly this package.
pub struct PackagePlan<'a> {
    launcher: &'a Path,
    launcher_digest: [u8; 32],
    launcher_size: u64,
    slots: Vec<SlotInput>,
    slot_digests: Vec<([u8; 32], u64)>,
    gz: Vec<u8>,
    metadata_sha256: [u8; 32],
    table_offset: u64,
    descriptors: Vec<SlotDescriptor>,
    index: Vec<u8>,
    trailer_offset: u64,
    package_size: u64,
}

/// Hashes the launcher and every slot, fills in the metadata, signs it and lays the package out.
pub fn plan_package(spec: PackageSpec<'_>) -> Result<PackagePlan<'_>> {
    let PackageSpec {
        launcher,
        mut metadata,
        slots,
        key,
    } = spec;

    // Digests and sizes of the launcher and every slot.
    let (launcher_digest, launcher_size) = File::open(launcher)
        .and_then(sha256_reader)
        .map_err(|e| with_path(launcher, e))?;
    let mut slot_meta = Vec::with_capacity(slots.len());
    let mut slot_digests = Vec::with_capacity(slots.len());
    for (i, s) in slots.iter().enumerate() {
        if slots[..i].iter().any(|o| o.id == s.id) {
            return Err(Error::malformed(format!(
                "two slots have the id {:?}",
                s.id
            )));
        }
        let (digest, size) = match s.stored_sha256 {
            Some(digest) => fs::metadata(&s.stored).map(|m| (digest, m.len())),
            None => File::open(&s.stored).and_then(sha256_reader),
        }
        .map_err(|e| with_path(&s.stored, e))?;
        slot_digests.push((digest, size));
        slot_meta.push(SlotMetadata {
            slot: i as u64,
            id: s.id.clone(),
            source: s.source.clone(),
            target: s.target.clone(),
            size,
            decoded_size: Some(s.decoded_size),
            checksum: format!("sha256:{}", hex::encode(digest)),
            operations: s.codec.into(),
            purpose: s.purpose.into(),
            lifecycle: s.lifecycle.into(),
            permissions: Some(format!("{:04o}", s.permissions & 0o7777)),
            resolution: Some("build".into()),
            self_ref: None,
        });
    }
    if metadata.format.is_empty() {
        metadata.format = "PSPF/2025".into();
    }
    if metadata.format_version.is_empty() {
        metadata.format_version = "1.0.0".into();
    }
    if metadata.execution.primary_slot.is_none() {
        metadata.execution.primary_slot = Some(0);
    }
    metadata.slots = slot_meta;
    let launcher_tool = launcher
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "launcher".into());
    metadata.launcher = Some(json!({
        "tool": launcher_tool,
        "tool_version": env!("CARGO_PKG_VERSION"),
        "size": launcher_size,
        "checksum": format!("sha256:{}", hex::encode(launcher_digest)),
        "capabilities": ["mmap", "page_aligned", "signed"],
    }));

    // Metadata bytes, signature, layout.
    let json = metadata.to_canonical_json()?;
    let signature = key.sign(&json).to_bytes();
    let gz = gzip_metadata(&json);
    let metadata_sha256: [u8; 32] = Sha256::digest(&gz).into();
    let metadata_offset = launcher_size;
    let table_offset = align(metadata_offset + gz.len() as u64, 8);
    let table_end = table_offset + 64 * slots.len() as u64;
    let mut pos = table_end;
    let mut descriptors = Vec::with_capacity(slots.len());
    for (i, (s, (digest, size))) in slots.iter().zip(&slot_digests).enumerate() {
        let offset = align(pos, u64::from(PAGE_SIZE));
        pos = offset + size;
        descriptors.push(SlotDescriptor {
            id: i as u64,
            name_hash: name_hash(&s.id),
            offset,
            size: *size,
            original_size: s.decoded_size,
            operations: s.codec.operations(),
            checksum: checksum_from_digest(digest),
            purpose: s.purpose.descriptor_byte(),
            lifecycle: s.lifecycle.descriptor_byte(),
            priority: 1,
            platform: 0,
            reserved: [0, 0],
            permissions: (s.permissions & 0o7777) as u16,
        });
    }
    let trailer_offset = pos;
    let package_size = trailer_offset + crate::index::TRAILER_SIZE as u64;
    let index = IndexFields {
        package_size,
        launcher_size,
        metadata_offset,
        metadata_size: gz.len() as u64,
        slot_table_offset: table_offset,
        slot_count: u32::try_from(slots.len())
            .map_err(|_| Error::malformed("more than 2^32 slots"))?,
        public_key: key.verifying_key().to_bytes(),
        metadata_checksum: metadata_sha256,
        signature: Some(signature),
    }
    .to_bytes();
    Ok(PackagePlan {
        launcher,
        launcher_digest,
        launcher_size,
        slots,
        slot_digests,
        gz,
        metadata_sha256,
        table_offset,
        descriptors,
        index: index.to_vec(),
        trailer_offset,
        package_size,
    })
}

/// Write a package to `out` atomically.
pub fn write_package(spec: PackageSpec<'_>, out: &Path) -> Result<WriteSummary> {
    plan_package(spec)?.write(out)
}

impl PackagePlan<'_> {
    /// The bytes between the launcher and the first slot: gzipped metadata, padding and the
    /// slot descriptor table.
    fn header(&self) -> Vec<u8> {
        let mut header = self.gz.clone();
        header.resize((self.table_offset - self.launcher_size) as usize, 0);
        for d in &self.descriptors {
            header.extend_from_slice(&d.to_bytes());
        }
        header
    }

    /// The trailer: magic, index, magic.
    fn trailer(&self) -> Vec<u8> {
        let mut trailer = MAGIC_START.to_vec();
        trailer.extend_from_slice(&self.index);
        trailer.extend_from_slice(&MAGIC_END);
        trailer
    }

    /// Writes the package to `out` atomically (temp file beside it, then rename).
    pub fn write(self, out: &Path) -> Result<WriteSummary> {
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).map_err(|e| with_path(dir, e))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".flavor-write-")
            .tempfile_in(dir)
            .map_err(|e| with_path(dir, e))?;
        {
            let file = tmp.as_file_mut();
            let mut src = File::open(self.launcher).map_err(|e| with_path(self.launcher, e))?;
            let copied = io::copy(&mut src, file)?;
            if copied != self.launcher_size {
                return Err(Error::malformed(format!(
                    "{} changed while the package was written",
                    self.launcher.display()
                )));
            }
            file.write_all(&self.header())?;
            for (s, d) in self.slots.iter().zip(&self.descriptors) {
                let here = file.stream_position()?;
                write_zeros(file, d.offset - here)?;
                let mut src = File::open(&s.stored).map_err(|e| with_path(&s.stored, e))?;
                let copied = io::copy(&mut src, file)?;
                if copied != d.size {
                    return Err(Error::malformed(format!(
                        "slot {:?}: {} changed while the package was written",
                        s.id,
                        s.stored.display()
                    )));
                }
            }
            let here = file.seek(SeekFrom::End(0))?;
            debug_assert_eq!(here, self.trailer_offset);
            file.write_all(&self.trailer())?;
            file.set_permissions(fs::Permissions::from_mode(0o755))?;
            file.sync_all()?;
        }
        tmp.persist(out).map_err(|e| with_path(out, e.error))?;
        Ok(WriteSummary {
            size: self.package_size,
            index_checksum: crate::index::le_u32(&self.index[..], 4),
            metadata_sha256: self.metadata_sha256,
        })
    }

    /// Checks that the file at `path` is byte for byte the package [`write`](Self::write)
    /// would write — launcher, signed metadata, descriptors, every slot, padding and trailer —
    /// reading it once. Says what differs first.
    pub fn check_file(&self, path: &Path) -> std::result::Result<(), String> {
        let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        if len != self.package_size {
            return Err(format!(
                "size {len}, this build's package would be {}",
                self.package_size
            ));
        }
        let mut region = |name: &str, size: u64, digest: &[u8; 32]| {
            let mut hasher = Sha256::new();
            let copied = io::copy(&mut (&mut file).take(size), &mut HashWriter(&mut hasher))
                .map_err(|e| format!("reading the {name}: {e}"))?;
            if copied != size || <[u8; 32]>::from(hasher.finalize()) != *digest {
                return Err(format!("its {name} differs from this build's"));
            }
            Ok(())
        };
        region("launcher", self.launcher_size, &self.launcher_digest)?;
        let header = self.header();
        region(
            "metadata and slot table",
            header.len() as u64,
            &Sha256::digest(&header).into(),
        )?;
        let mut pos = self.table_offset + 64 * self.descriptors.len() as u64;
        for (d, (s, (digest, _))) in self
            .descriptors
            .iter()
            .zip(self.slots.iter().zip(&self.slot_digests))
        {
            let pad = vec![0u8; (d.offset - pos) as usize];
            region("padding", pad.len() as u64, &Sha256::digest(&pad).into())?;
            region(&format!("slot {:?}", s.id), d.size, digest)?;
            pos = d.offset + d.size;
        }
        let trailer = self.trailer();
        region(
            "trailer",
            trailer.len() as u64,
            &Sha256::digest(&trailer).into(),
        )
    }
}

/// `io::Write` into a hasher.
struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::rfc3339_utc;

    #[test]
    fn timestamps_format_as_rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
