//! The 64-byte slot descriptor and the slot table.
//!
//! Layout (little-endian): `id, name_hash, offset, size, original_size, operations, checksum`
//! as u64, then `purpose, lifecycle, priority, platform, reserved, reserved` bytes and
//! `permissions` as u16. `name_hash` and `checksum` are the first 8 bytes of a SHA-256 read as a
//! little-endian u64.
//!
//! What protects what: `offset`, `size`, `checksum` and `operations` are cross-checked by the
//! verifier against the stored bytes and the signed metadata, so changing any of them is
//! detected. The hint bytes (`purpose`, `lifecycle`, `priority`, `platform`, reserved) and
//! `name_hash`/`original_size` are covered by nothing: writers disagree on them and no reader
//! acts on them, so a verifier cannot tell a changed hint from another writer's choice. The
//! purpose and lifecycle bytes come from [`Purpose::descriptor_byte`](crate::Purpose::descriptor_byte)
//! and [`Lifecycle::descriptor_byte`](crate::Lifecycle::descriptor_byte).

use crate::error::{Error, Result};
use crate::index::le_u64;
use crate::ops::Operations;
use sha2::{Digest, Sha256};

/// Size of one descriptor.
pub const DESCRIPTOR_SIZE: usize = 64;

/// One parsed slot descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotDescriptor {
    /// Slot number as the writer recorded it (its position in the table).
    pub id: u64,
    /// First 8 bytes of SHA-256 of the slot id, little-endian.
    pub name_hash: u64,
    /// Offset of the stored bytes from the start of the file.
    pub offset: u64,
    /// Length of the stored (encoded) bytes.
    pub size: u64,
    /// Decoded size as the writer recorded it; not covered by the signature.
    pub original_size: u64,
    /// The codec chain, op bytes packed least significant first.
    pub operations: Operations,
    /// First 8 bytes of SHA-256 of the stored bytes, little-endian.
    pub checksum: u64,
    /// Purpose byte (payload 0, runtime 1, tool 2).
    pub purpose: u8,
    /// Lifecycle byte (see `Lifecycle::descriptor_byte`).
    pub lifecycle: u8,
    /// Priority byte (flavor writes 1).
    pub priority: u8,
    /// Platform byte (flavor writes 0).
    pub platform: u8,
    /// Two reserved bytes, zero when flavor writes them.
    pub reserved: [u8; 2],
    /// Unix permission bits of a file slot.
    pub permissions: u16,
}

impl SlotDescriptor {
    /// Decode 64 bytes. Never fails: every bit pattern is a descriptor; validity of offsets
    /// is checked against the file by the reader.
    pub fn parse(b: &[u8; DESCRIPTOR_SIZE]) -> SlotDescriptor {
        SlotDescriptor {
            id: le_u64(b, 0),
            name_hash: le_u64(b, 8),
            offset: le_u64(b, 16),
            size: le_u64(b, 24),
            original_size: le_u64(b, 32),
            operations: Operations(le_u64(b, 40)),
            checksum: le_u64(b, 48),
            purpose: b[56],
            lifecycle: b[57],
            priority: b[58],
            platform: b[59],
            reserved: [b[60], b[61]],
            permissions: u16::from_le_bytes([b[62], b[63]]),
        }
    }

    /// Encode as 64 bytes.
    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_SIZE] {
        let mut b = [0u8; DESCRIPTOR_SIZE];
        for (i, v) in [
            self.id,
            self.name_hash,
            self.offset,
            self.size,
            self.original_size,
            self.operations.0,
            self.checksum,
        ]
        .into_iter()
        .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b[56] = self.purpose;
        b[57] = self.lifecycle;
        b[58] = self.priority;
        b[59] = self.platform;
        b[60..62].copy_from_slice(&self.reserved);
        b[62..64].copy_from_slice(&self.permissions.to_le_bytes());
        b
    }

    /// End offset of the stored bytes, or an error if it overflows.
    pub fn end(&self) -> Result<u64> {
        self.offset.checked_add(self.size).ok_or_else(|| {
            Error::malformed(format!(
                "slot {}: offset {} + size {} overflows",
                self.id, self.offset, self.size
            ))
        })
    }
}

/// Parse a slot table of `count` descriptors.
pub fn parse_table(bytes: &[u8], count: usize) -> Result<Vec<SlotDescriptor>> {
    let needed = count
        .checked_mul(DESCRIPTOR_SIZE)
        .ok_or_else(|| Error::malformed("slot count overflows"))?;
    if bytes.len() < needed {
        return Err(Error::malformed(format!(
            "slot table holds {} bytes, {count} descriptors need {needed}",
            bytes.len()
        )));
    }
    Ok(bytes[..needed]
        .chunks_exact(DESCRIPTOR_SIZE)
        .map(|c| {
            let mut a = [0u8; DESCRIPTOR_SIZE];
            a.copy_from_slice(c);
            SlotDescriptor::parse(&a)
        })
        .collect())
}

/// First 8 bytes of a digest as a little-endian u64 (the descriptor checksum form).
pub fn checksum_from_digest(digest: &[u8; 32]) -> u64 {
    le_u64(digest, 0)
}

/// `name_hash` of a slot name: first 8 bytes of SHA-256(name), little-endian.
pub fn name_hash(name: &str) -> u64 {
    let digest: [u8; 32] = Sha256::digest(name.as_bytes()).into();
    checksum_from_digest(&digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_hash_matches_upstream_test_vectors() {
        // From the upstream descriptors.bin vectors (reference §1.11).
        assert_eq!(name_hash("test_raw.txt"), 6464713338073783369);
        assert_eq!(name_hash("test_gzip.txt"), 10679334924872662618);
        assert_eq!(name_hash("archive.tar.gz"), 10016814880856175319);
    }

    #[test]
    fn descriptor_round_trips() {
        let d = SlotDescriptor {
            id: 3,
            name_hash: name_hash("app"),
            offset: 8192,
            size: 77,
            original_size: 1000,
            operations: Operations(0x1B01),
            checksum: 0xDEAD_BEEF_0102_0304,
            purpose: 1,
            lifecycle: 4,
            priority: 1,
            platform: 0,
            reserved: [0, 0],
            permissions: 0o755,
        };
        let bytes = d.to_bytes();
        assert_eq!(&bytes[62..64], &[0xED, 0x01]);
        assert_eq!(SlotDescriptor::parse(&bytes), d);
        assert_eq!(parse_table(&bytes, 1).unwrap(), vec![d]);
        assert!(parse_table(&bytes, 2).is_err());
    }
}
