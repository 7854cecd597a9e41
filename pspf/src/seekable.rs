//! The zstd *seekable* layout flavor writes zstd slots in: independent frames of at most
//! [`FRAME_BYTES`] decoded bytes each, followed by a seek table in a skippable frame.
//!
//! The table follows zstd's seekable format (`contrib/seekable_format` in the zstd sources,
//! version 0.1): a skippable frame (magic `0x184D2A5E`, then its length) holding one entry
//! per frame — compressed size and decoded size, 4 bytes each little-endian, plus a 4-byte
//! checksum when the descriptor's top bit says so — and a 9-byte footer: the number of
//! frames, a descriptor byte (bits 2–6 reserved, zero) and the magic `0x8F92EAB1`.
//!
//! Every zstd decoder skips skippable frames, so such a slot is an ordinary zstd stream to
//! anything that does not know the table (`zstd -d`, older flavor launchers). A launcher that
//! does can hand the frames to several threads at once (see `crate::parallel`). The table is
//! only a plan: it is read before the slot is verified, so every use of it is checked again
//! against the bytes (each frame must decode to exactly its size, the sizes must add up to
//! the slot's signed decoded size, and the slot's digest covers the table itself).

use std::fs::File;
use std::os::unix::fs::FileExt;

/// Decoded bytes in one frame of flavor's encoder (the last one may be shorter). Smaller
/// frames cost compression (≈ 0.6% at 2 MiB on the CPython stdlib, 1.6% at 1 MiB), larger
/// ones memory in the launcher, which holds a few frames at a time.
pub const FRAME_BYTES: usize = 2 * 1024 * 1024;

/// The largest decoded frame a reader accepts from a table: bounds its memory.
pub const MAX_FRAME_BYTES: u32 = FRAME_BYTES as u32;

const SKIPPABLE_MAGIC: u32 = 0x184D_2A5E;
const SEEKABLE_MAGIC: u32 = 0x8F92_EAB1;
const FOOTER_LEN: u64 = 9;
const SKIPPABLE_HEADER_LEN: u64 = 8;
const CHECKSUM_FLAG: u8 = 0x80;
const RESERVED_BITS: u8 = 0x7C;

/// Frames a table may list: a slot of 4 GiB in 2 MiB frames.
const MAX_FRAMES: u32 = 2048;

/// One frame's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSize {
    /// Stored (compressed) bytes of the frame.
    pub compressed: u32,
    /// Bytes the frame decodes to.
    pub decoded: u32,
}

/// The frames of a seekable zstd stream, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeekTable {
    /// Every frame, in stream order.
    pub frames: Vec<FrameSize>,
}

impl SeekTable {
    /// The table as the skippable frame that ends a stream (no checksums).
    pub fn to_bytes(&self) -> Vec<u8> {
        let entries = self.frames.len() * 8;
        let mut out = Vec::with_capacity(entries + 17);
        out.extend_from_slice(&SKIPPABLE_MAGIC.to_le_bytes());
        out.extend_from_slice(&((entries as u64 + FOOTER_LEN) as u32).to_le_bytes());
        for f in &self.frames {
            out.extend_from_slice(&f.compressed.to_le_bytes());
            out.extend_from_slice(&f.decoded.to_le_bytes());
        }
        out.extend_from_slice(&(self.frames.len() as u32).to_le_bytes());
        out.push(0);
        out.extend_from_slice(&SEEKABLE_MAGIC.to_le_bytes());
        out
    }

    /// Bytes of the skippable frame holding this table.
    pub fn encoded_len(&self) -> u64 {
        SKIPPABLE_HEADER_LEN + self.frames.len() as u64 * 8 + FOOTER_LEN
    }

    /// Total decoded bytes.
    pub fn decoded_len(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.decoded)).sum()
    }

    /// Read the table at the end of the `size` stored bytes at `offset` in `file`. `None`
    /// when there is none, or when it does not describe exactly these bytes in frames of at
    /// most [`MAX_FRAME_BYTES`]: such a stream is simply decoded the ordinary way.
    pub fn read_at(file: &File, offset: u64, size: u64) -> Option<SeekTable> {
        if size < FOOTER_LEN + SKIPPABLE_HEADER_LEN {
            return None;
        }
        let mut footer = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut footer, offset + size - FOOTER_LEN)
            .ok()?;
        let count = u32::from_le_bytes(footer[..4].try_into().ok()?);
        let descriptor = footer[4];
        if u32::from_le_bytes(footer[5..].try_into().ok()?) != SEEKABLE_MAGIC
            || descriptor & RESERVED_BITS != 0
            || count == 0
            || count > MAX_FRAMES
        {
            return None;
        }
        let entry_len: u64 = if descriptor & CHECKSUM_FLAG != 0 {
            12
        } else {
            8
        };
        let table_len = SKIPPABLE_HEADER_LEN + u64::from(count) * entry_len + FOOTER_LEN;
        if table_len > size {
            return None;
        }
        let mut table = vec![0u8; (table_len - FOOTER_LEN) as usize];
        file.read_exact_at(&mut table, offset + size - table_len)
            .ok()?;
        let word = |at: usize| {
            table
                .get(at..at + 4)
                .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        };
        if word(0)? != SKIPPABLE_MAGIC || u64::from(word(4)?) != table_len - SKIPPABLE_HEADER_LEN {
            return None;
        }
        let frames: Vec<FrameSize> = (0..count as usize)
            .map(|i| 8 + i * entry_len as usize)
            .map(|at| {
                Some(FrameSize {
                    compressed: word(at)?,
                    decoded: word(at + 4)?,
                })
            })
            .collect::<Option<_>>()?;
        let stored: u64 = frames.iter().map(|f| u64::from(f.compressed)).sum();
        let fits = frames
            .iter()
            .all(|f| f.decoded <= MAX_FRAME_BYTES && f.compressed <= max_compressed(f.decoded));
        (fits && stored + table_len == size).then_some(SeekTable { frames })
    }
}

/// The most stored bytes a frame of `decoded` bytes may take (zstd's worst case is raw
/// blocks: 3 header bytes per 128 KiB block, plus the frame header).
pub fn max_compressed(decoded: u32) -> u32 {
    decoded + decoded / 1024 + 64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn a_table_reads_back_and_a_wrong_one_is_ignored() {
        let table = SeekTable {
            frames: vec![
                FrameSize {
                    compressed: 10,
                    decoded: 100,
                },
                FrameSize {
                    compressed: 5,
                    decoded: 7,
                },
            ],
        };
        let mut bytes = vec![7u8; 3]; // before the slot
        bytes.extend(std::iter::repeat_n(1u8, 15));
        bytes.extend(table.to_bytes());
        let size = bytes.len() as u64 - 3;
        assert_eq!(table.encoded_len(), table.to_bytes().len() as u64);
        let f = file_with(&bytes);
        assert_eq!(
            SeekTable::read_at(f.as_file(), 3, size),
            Some(table.clone())
        );
        // Sizes that do not add up to the slot, a frame too large, a reserved bit.
        assert_eq!(SeekTable::read_at(f.as_file(), 2, size + 1), None);
        let mut big = table.clone();
        big.frames[0].decoded = MAX_FRAME_BYTES + 1;
        let mut b = vec![1u8; 15];
        b.extend(big.to_bytes());
        assert_eq!(
            SeekTable::read_at(file_with(&b).as_file(), 0, b.len() as u64),
            None
        );
        let mut reserved = bytes.clone();
        let at = reserved.len() - 5;
        reserved[at] = 0x04;
        assert_eq!(
            SeekTable::read_at(file_with(&reserved).as_file(), 3, size),
            None
        );
    }
}
