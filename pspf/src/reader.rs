//! Opening a package: trailer from the end of the file, index, slot table, metadata bytes.
//!
//! [`Package::open`] trusts no length: every offset and size is checked against the file
//! before anything is read, and nothing is allocated from an unchecked size. Opening does not
//! verify anything (a damaged package can still be inspected); [`Package::verify`] does, and
//! [`Package::slot_reader`] verifies each slot as it streams.

use crate::descriptor::{DESCRIPTOR_SIZE, SlotDescriptor, parse_table};
use crate::error::{Error, Result};
use crate::index::{Index, TRAILER_SIZE};
use crate::metadata::{MAX_METADATA_JSON, Metadata, SlotMetadata, gunzip_metadata};
use crate::ops::Codec;
use crate::stream::{DecodeLimit, Expected, SlotReader, StoredReader};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::OnceLock;

/// Largest slot table a reader loads into memory.
const MAX_IN_MEMORY: u64 = 64 * 1024 * 1024;

/// Largest compressed metadata a reader loads: its JSON may be at most [`MAX_METADATA_JSON`],
/// and gzip never needs a mebibyte more than its input.
pub const MAX_METADATA_GZIP: u64 = MAX_METADATA_JSON + 1024 * 1024;

/// Read exactly `len` bytes at `offset`, after checking the range lies inside the file.
fn read_range(file: &File, file_len: u64, offset: u64, len: u64, what: &str) -> Result<Vec<u8>> {
    let end = offset.checked_add(len).ok_or_else(|| {
        Error::malformed(format!("{what}: offset {offset} + size {len} overflows"))
    })?;
    if end > file_len {
        return Err(Error::malformed(format!(
            "{what} at {offset}..{end} lies beyond the end of the {file_len}-byte file"
        )));
    }
    if len > MAX_IN_MEMORY {
        return Err(Error::malformed(format!(
            "{what} is {len} bytes, more than the {MAX_IN_MEMORY}-byte limit"
        )));
    }
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// Read the trailer at the end of an open file: the cheapest possible look at a package (one
/// positioned read of 8200 bytes). Returns the index and the file length.
pub fn read_trailer(file: &File) -> Result<(Index, u64)> {
    let file_len = file.metadata()?.len();
    if file_len < TRAILER_SIZE as u64 {
        return Err(Error::NotAPackage {
            reason: format!(
                "file is {file_len} bytes, shorter than the {TRAILER_SIZE}-byte trailer"
            ),
        });
    }
    let mut trailer = vec![0u8; TRAILER_SIZE];
    file.read_exact_at(&mut trailer, file_len - TRAILER_SIZE as u64)?;
    Ok((Index::from_trailer(&trailer)?, file_len))
}

/// An open package.
pub struct Package {
    file: File,
    file_len: u64,
    index: Index,
    descriptors: Vec<SlotDescriptor>,
    metadata_gzip: Vec<u8>,
    metadata_json: OnceLock<std::result::Result<Vec<u8>, String>>,
    metadata: OnceLock<std::result::Result<Metadata, String>>,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("file_len", &self.file_len)
            .field("index", &self.index)
            .field("descriptors", &self.descriptors)
            .finish_non_exhaustive()
    }
}

impl Package {
    /// Open a package file.
    pub fn open(path: impl AsRef<Path>) -> Result<Package> {
        let file = File::open(path.as_ref())?;
        Package::from_file(file)
    }

    /// Read a package from an open file (the launcher passes its own executable).
    pub fn from_file(file: File) -> Result<Package> {
        let (index, file_len) = read_trailer(&file)?;
        let trailer_start = file_len - TRAILER_SIZE as u64;
        let count = index.slot_count() as u64;
        let table_len = count
            .checked_mul(DESCRIPTOR_SIZE as u64)
            .ok_or_else(|| Error::malformed("slot_count overflows"))?;
        if table_len > trailer_start {
            return Err(Error::malformed(format!(
                "slot_count {count} needs a {table_len}-byte slot table, larger than the file"
            )));
        }
        let table = read_range(
            &file,
            trailer_start,
            index.slot_table_offset(),
            table_len,
            "slot table",
        )?;
        let descriptors = parse_table(&table, count as usize)?;
        for (i, d) in descriptors.iter().enumerate() {
            let end = d.end()?;
            if end > trailer_start {
                return Err(Error::malformed(format!(
                    "slot {i}: bytes {}..{end} run past the slot area, which ends at {trailer_start}",
                    d.offset
                )));
            }
        }
        if index.metadata_size() > MAX_METADATA_GZIP {
            return Err(Error::malformed(format!(
                "the metadata is {} bytes compressed, more than the {MAX_METADATA_GZIP} a reader accepts (its JSON may be at most {MAX_METADATA_JSON} bytes)",
                index.metadata_size()
            )));
        }
        let metadata_gzip = read_range(
            &file,
            trailer_start,
            index.metadata_offset(),
            index.metadata_size(),
            "metadata",
        )?;
        Ok(Package {
            file,
            file_len,
            index,
            descriptors,
            metadata_gzip,
            metadata_json: OnceLock::new(),
            metadata: OnceLock::new(),
        })
    }

    /// The parsed index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Length of the package file.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// Offset of the trailer (= end of the slot area).
    pub fn trailer_offset(&self) -> u64 {
        self.file_len - TRAILER_SIZE as u64
    }

    /// The underlying file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The slot descriptors, in table order.
    pub fn descriptors(&self) -> &[SlotDescriptor] {
        &self.descriptors
    }

    /// The compressed metadata exactly as stored.
    pub fn metadata_gzip(&self) -> &[u8] {
        &self.metadata_gzip
    }

    /// The uncompressed metadata JSON exactly as stored (the bytes the signature covers).
    pub fn metadata_json(&self) -> Result<&[u8]> {
        self.metadata_json
            .get_or_init(|| {
                gunzip_metadata(&self.metadata_gzip).map_err(|e| match e {
                    Error::Metadata { reason } => reason,
                    other => other.to_string(),
                })
            })
            .as_deref()
            .map_err(|reason| Error::Metadata {
                reason: reason.clone(),
            })
    }

    /// The parsed metadata.
    pub fn metadata(&self) -> Result<&Metadata> {
        let json = self.metadata_json()?;
        self.metadata
            .get_or_init(|| Metadata::from_json(json).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|reason| Error::Metadata {
                reason: reason
                    .trim_start_matches("metadata unreadable: ")
                    .to_string(),
            })
    }

    /// Number of slots in the table.
    pub fn slot_count(&self) -> usize {
        self.descriptors.len()
    }

    /// Find a slot by its number or its metadata id.
    pub fn find_slot(&self, name: &str) -> Option<usize> {
        if let Ok(n) = name.parse::<usize>()
            && n < self.descriptors.len()
        {
            return Some(n);
        }
        let meta = self.metadata().ok()?;
        meta.slots.iter().position(|s| s.id == name)
    }

    /// The metadata entry of slot `i`, when the metadata has one.
    pub fn slot_metadata(&self, i: usize) -> Option<&SlotMetadata> {
        self.metadata().ok()?.slots.get(i)
    }

    /// The codec of slot `i`, from its descriptor's op chain.
    pub fn slot_codec(&self, i: usize) -> Result<Codec> {
        let d = self.descriptor(i)?;
        Codec::from_operations(d.operations, &format!("slot {i}"))
    }

    fn descriptor(&self, i: usize) -> Result<&SlotDescriptor> {
        self.descriptors.get(i).ok_or_else(|| {
            Error::malformed(format!(
                "slot {i} does not exist (the package has {})",
                self.descriptors.len()
            ))
        })
    }

    fn expected(&self, i: usize) -> Result<Expected> {
        let d = self.descriptor(i)?;
        let meta = self.slot_metadata(i);
        Ok(Expected {
            slot: i,
            id: meta.map(|m| m.id.clone()).unwrap_or_else(|| i.to_string()),
            checksum: Some(d.checksum),
            metadata_digest: meta.map(|m| m.checksum.clone()).filter(|c| !c.is_empty()),
        })
    }

    /// The stored bytes of slot `i`, verified against the descriptor checksum and the
    /// metadata digest when the last byte has been read.
    pub fn stored_reader(&self, i: usize) -> Result<StoredReader<'_>> {
        let expected = self.expected(i)?;
        Ok(StoredReader::new(
            &self.file,
            self.descriptor(i)?,
            Some(expected),
        ))
    }

    /// The seek table at the end of slot `i`'s stored bytes, when it has one that describes
    /// them (see [`crate::seekable`]); unverified, so only a plan.
    pub(crate) fn seek_table(&self, i: usize) -> Option<crate::seekable::SeekTable> {
        let d = self.descriptor(i).ok()?;
        crate::seekable::SeekTable::read_at(&self.file, d.offset, d.size)
    }

    /// The stored bytes of slot `i` with no verification (for tools that report on damage).
    pub fn stored_reader_unverified(&self, i: usize) -> Result<StoredReader<'_>> {
        Ok(StoredReader::new(&self.file, self.descriptor(i)?, None))
    }

    /// Hash the stored bytes of slot `i` and check them against the descriptor and the signed
    /// digest, without decoding anything.
    pub fn verify_slot_bytes(&self, i: usize) -> Result<()> {
        self.stored_reader(i)?.drain().map_err(Error::from_io)
    }

    /// The decoded size slot `i` must add up to, when its metadata declares one (flavor's
    /// writer does; upstream writers do not).
    pub fn decode_limit(&self, i: usize) -> Option<DecodeLimit> {
        let meta = self.slot_metadata(i)?;
        Some(DecodeLimit {
            slot: i,
            id: meta.id.clone(),
            declared: meta.decoded_size?,
        })
    }

    /// The decoded content of slot `i` as a stream, verified as it goes and never longer than
    /// its declared decoded size (see [`SlotReader`]).
    pub fn slot_reader(&self, i: usize) -> Result<SlotReader<'_>> {
        let codec = self.slot_codec(i)?;
        Ok(SlotReader::new(self.stored_reader(i)?, codec)?.with_limit(self.decode_limit(i)))
    }

    /// The launcher bytes at the front of the file (`launcher_size` bytes from offset 0).
    pub fn launcher_reader(&self) -> Result<impl io::Read + '_> {
        let len = self.index.launcher_size();
        if len > self.trailer_offset() {
            return Err(Error::malformed(format!(
                "launcher_size {len} exceeds the {}-byte file",
                self.file_len
            )));
        }
        Ok(io::Read::take(
            PositionedReader {
                file: &self.file,
                pos: 0,
            },
            len,
        ))
    }
}

/// A `Read` over a shared file from a position, using positioned reads.
pub(crate) struct PositionedReader<'a> {
    pub(crate) file: &'a File,
    pub(crate) pos: u64,
}

impl io::Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}
