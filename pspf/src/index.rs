//! The 8192-byte index at the end of a package and the trailer magic around it.
//!
//! Field offsets follow the Rust/Python writers (PSPF.md §2). Go-written indexes shift the
//! capability group by 8 bytes; nothing from offset 640 on drives behaviour, so both layouts are
//! read with the same offsets and [`Index::layout`] only reports which writer family it looks
//! like. All integers are little-endian.

use crate::error::{Error, Result};

/// Size of the index block.
pub const INDEX_SIZE: usize = 8192;
/// Size of the trailer: start magic + index + end magic.
pub const TRAILER_SIZE: usize = 8200;
/// 📦 — the four bytes in front of the index.
pub const MAGIC_START: [u8; 4] = [0xF0, 0x9F, 0x93, 0xA6];
/// 🪄 — the last four bytes of every package.
pub const MAGIC_END: [u8; 4] = [0xF0, 0x9F, 0xAA, 0x84];
/// `format_version` of PSPF/2025.
pub const FORMAT_VERSION: u32 = 0x2025_0001;
/// Page size flavor aligns slots to.
pub const PAGE_SIZE: u32 = 4096;
/// Capability bits flavor sets: MMAP | PAGE_ALIGNED | SIGNED.
pub const CAPABILITIES: u64 = 0x83;

/// Byte offsets of the index fields (Rust/Python layout).
pub mod offsets {
    /// `format_version` (u32).
    pub const FORMAT_VERSION: usize = 0;
    /// `index_checksum`: Adler-32 of the index with these 4 bytes zeroed (u32).
    pub const INDEX_CHECKSUM: usize = 4;
    /// `package_size`: the file length the writer recorded (u64).
    pub const PACKAGE_SIZE: usize = 8;
    /// `launcher_size` (u64).
    pub const LAUNCHER_SIZE: usize = 16;
    /// Offset of the gzip-compressed metadata (u64).
    pub const METADATA_OFFSET: usize = 24;
    /// Length of the gzip-compressed metadata (u64).
    pub const METADATA_SIZE: usize = 32;
    /// Offset of the slot table (u64).
    pub const SLOT_TABLE_OFFSET: usize = 40;
    /// Length of the slot table, 64 bytes per slot (u64).
    pub const SLOT_TABLE_SIZE: usize = 48;
    /// Number of slots (u32).
    pub const SLOT_COUNT: usize = 56;
    /// Flags (u32, zero).
    pub const FLAGS: usize = 60;
    /// Raw Ed25519 public key (32 bytes).
    pub const PUBLIC_KEY: usize = 64;
    /// SHA-256 of the compressed metadata (32 bytes).
    pub const METADATA_CHECKSUM: usize = 96;
    /// Start of the 512-byte signature area; the Ed25519 signature is its first 64 bytes.
    pub const SIGNATURE: usize = 128;
    /// End of the signature area.
    pub const SIGNATURE_AREA_END: usize = 640;
    /// Page size slots are aligned to (u32).
    pub const PAGE_SIZE: usize = 644;
    /// Capability bits (u64; Rust/Python layout).
    pub const CAPABILITIES: usize = 832;
    /// Compatibility version (u32).
    pub const COMPATIBILITY: usize = 856;
    /// Protocol version (u32).
    pub const PROTOCOL_VERSION: usize = 860;
    /// Hex SHA-256 of the public key, 64 ASCII bytes (0.5.4 writers and flavor).
    pub const KEY_FINGERPRINT: usize = 1376;
    /// SBOM digest, 64 ASCII bytes (Python 0.5.4 writer).
    pub const SBOM_DIGEST: usize = 1440;
    /// Policy hash, 64 ASCII bytes.
    pub const POLICY_HASH: usize = 1504;
}

/// Which writer family an index looks like it came from (informational only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexLayout {
    /// Rust and Python writers (and flavor): capabilities at 832, page size filled in.
    RustPy,
    /// Go writers: capability group at 840, page size and compatibility zero.
    Go,
}

/// A parsed index. The raw bytes are kept so that every byte can be inspected and re-hashed.
#[derive(Clone)]
pub struct Index {
    raw: Box<[u8; INDEX_SIZE]>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field(
                "format_version",
                &format_args!("{:#010x}", self.format_version()),
            )
            .field(
                "index_checksum",
                &format_args!("{:08x}", self.index_checksum()),
            )
            .field("package_size", &self.package_size())
            .field("launcher_size", &self.launcher_size())
            .field("metadata_offset", &self.metadata_offset())
            .field("metadata_size", &self.metadata_size())
            .field("slot_table_offset", &self.slot_table_offset())
            .field("slot_count", &self.slot_count())
            .finish_non_exhaustive()
    }
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Adler-32 of an index with bytes 4..8 (the checksum field itself) taken as zero.
pub fn compute_index_checksum(raw: &[u8; INDEX_SIZE]) -> u32 {
    let mut hasher = adler2::Adler32::new();
    hasher.write_slice(&raw[..offsets::INDEX_CHECKSUM]);
    hasher.write_slice(&[0u8; 4]);
    hasher.write_slice(&raw[offsets::INDEX_CHECKSUM + 4..]);
    hasher.checksum()
}

impl Index {
    /// Split an 8200-byte trailer into its index, checking both magics and the format version.
    /// Checksums are *not* checked here: that is [`crate::verify`]'s job, so a damaged package
    /// can still be inspected.
    pub fn from_trailer(trailer: &[u8]) -> Result<Index> {
        if trailer.len() != TRAILER_SIZE {
            return Err(Error::NotAPackage {
                reason: format!("file is shorter than the {TRAILER_SIZE}-byte trailer"),
            });
        }
        if trailer[..4] != MAGIC_START || trailer[TRAILER_SIZE - 4..] != MAGIC_END {
            return Err(Error::NotAPackage {
                reason: "the last 8200 bytes are not 📦 + index + 🪄 (no PSPF trailer)".into(),
            });
        }
        let mut raw = Box::new([0u8; INDEX_SIZE]);
        raw.copy_from_slice(&trailer[4..4 + INDEX_SIZE]);
        let index = Index { raw };
        if index.format_version() != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: index.format_version(),
            });
        }
        Ok(index)
    }

    /// The 8192 bytes exactly as stored.
    pub fn raw(&self) -> &[u8; INDEX_SIZE] {
        &self.raw
    }

    /// Little-endian u64 at `offset` of the raw index (for fields without an accessor).
    /// Returns `None` past the end.
    pub fn u64_at(&self, offset: usize) -> Option<u64> {
        (offset.checked_add(8)? <= INDEX_SIZE).then(|| le_u64(&self.raw[..], offset))
    }

    /// Little-endian u32 at `offset` of the raw index. Returns `None` past the end.
    pub fn u32_at(&self, offset: usize) -> Option<u32> {
        (offset.checked_add(4)? <= INDEX_SIZE).then(|| le_u32(&self.raw[..], offset))
    }

    /// `format_version` (0x20250001 for PSPF/2025).
    pub fn format_version(&self) -> u32 {
        le_u32(&self.raw[..], offsets::FORMAT_VERSION)
    }
    /// The stored index checksum (Adler-32).
    pub fn index_checksum(&self) -> u32 {
        le_u32(&self.raw[..], offsets::INDEX_CHECKSUM)
    }
    /// Adler-32 computed over the stored bytes (compare with [`Index::index_checksum`]).
    pub fn computed_checksum(&self) -> u32 {
        compute_index_checksum(&self.raw)
    }
    /// The package size the writer recorded (readers locate the trailer from the end of the file instead).
    pub fn package_size(&self) -> u64 {
        le_u64(&self.raw[..], offsets::PACKAGE_SIZE)
    }
    /// Length of the launcher at the start of the file.
    pub fn launcher_size(&self) -> u64 {
        le_u64(&self.raw[..], offsets::LAUNCHER_SIZE)
    }
    /// Offset of the gzip-compressed metadata.
    pub fn metadata_offset(&self) -> u64 {
        le_u64(&self.raw[..], offsets::METADATA_OFFSET)
    }
    /// Length of the gzip-compressed metadata.
    pub fn metadata_size(&self) -> u64 {
        le_u64(&self.raw[..], offsets::METADATA_SIZE)
    }
    /// Offset of the slot table.
    pub fn slot_table_offset(&self) -> u64 {
        le_u64(&self.raw[..], offsets::SLOT_TABLE_OFFSET)
    }
    /// Length of the slot table.
    pub fn slot_table_size(&self) -> u64 {
        le_u64(&self.raw[..], offsets::SLOT_TABLE_SIZE)
    }
    /// Number of slots.
    pub fn slot_count(&self) -> u32 {
        le_u32(&self.raw[..], offsets::SLOT_COUNT)
    }
    /// The flags field.
    pub fn flags(&self) -> u32 {
        le_u32(&self.raw[..], offsets::FLAGS)
    }
    /// Raw Ed25519 public key (index 64..96).
    pub fn public_key(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.raw[offsets::PUBLIC_KEY..offsets::PUBLIC_KEY + 32]);
        k
    }
    /// SHA-256 of the compressed metadata (index 96..128).
    pub fn metadata_checksum(&self) -> [u8; 32] {
        let mut k = [0u8; 32];
        k.copy_from_slice(&self.raw[offsets::METADATA_CHECKSUM..offsets::METADATA_CHECKSUM + 32]);
        k
    }
    /// Ed25519 signature (index 128..192).
    pub fn signature(&self) -> [u8; 64] {
        let mut s = [0u8; 64];
        s.copy_from_slice(&self.raw[offsets::SIGNATURE..offsets::SIGNATURE + 64]);
        s
    }
    /// True when bytes 192..640 of the signature area are all zero, as every writer leaves them.
    pub fn signature_area_tail_zero(&self) -> bool {
        self.raw[offsets::SIGNATURE + 64..offsets::SIGNATURE_AREA_END]
            .iter()
            .all(|&b| b == 0)
    }
    /// Page size slots are aligned to (zero in Go-written indexes).
    pub fn page_size(&self) -> u32 {
        le_u32(&self.raw[..], offsets::PAGE_SIZE)
    }
    /// Capability bits at 832 (zero in Go-written indexes, which put them at 840).
    pub fn capabilities(&self) -> u64 {
        le_u64(&self.raw[..], offsets::CAPABILITIES)
    }
    /// Compatibility version (zero in Go-written indexes).
    pub fn compatibility(&self) -> u32 {
        le_u32(&self.raw[..], offsets::COMPATIBILITY)
    }
    /// Protocol version.
    pub fn protocol_version(&self) -> u32 {
        le_u32(&self.raw[..], offsets::PROTOCOL_VERSION)
    }

    fn ascii_field(&self, at: usize) -> Option<String> {
        let bytes = &self.raw[at..at + 64];
        if bytes.iter().all(|&b| b == 0) {
            return None;
        }
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(64);
        Some(String::from_utf8_lossy(&bytes[..end]).into_owned())
    }

    /// Hex SHA-256 of the public key as 0.5.4 writers (and flavor) store it at 1376; `None`
    /// when the field is zero.
    pub fn key_fingerprint(&self) -> Option<String> {
        self.ascii_field(offsets::KEY_FINGERPRINT)
    }
    /// SBOM digest at 1440 (Python 0.5.4 writer), `None` when zero.
    pub fn sbom_digest(&self) -> Option<String> {
        self.ascii_field(offsets::SBOM_DIGEST)
    }
    /// Policy hash at 1504, `None` when zero.
    pub fn policy_hash(&self) -> Option<String> {
        self.ascii_field(offsets::POLICY_HASH)
    }

    /// The header fields as JSON (hex strings for checksums and keys), for tools and the
    /// launcher's `instance/index.json` bookkeeping.
    pub fn summary_json(&self) -> serde_json::Value {
        serde_json::json!({
            "format_version": format!("{:#010x}", self.format_version()),
            "index_checksum": format!("{:08x}", self.index_checksum()),
            "package_size": self.package_size(),
            "launcher_size": self.launcher_size(),
            "metadata_offset": self.metadata_offset(),
            "metadata_size": self.metadata_size(),
            "slot_table_offset": self.slot_table_offset(),
            "slot_table_size": self.slot_table_size(),
            "slot_count": self.slot_count(),
            "flags": self.flags(),
            "public_key": hex::encode(self.public_key()),
            "metadata_checksum": hex::encode(self.metadata_checksum()),
            "page_size": self.page_size(),
            "capabilities": format!("{:#x}", self.capabilities()),
            "key_fingerprint": self.key_fingerprint(),
        })
    }

    /// Which writer family the hint fields look like (informational only).
    pub fn layout(&self) -> IndexLayout {
        if self.compatibility() == 0 && self.page_size() == 0 && self.capabilities() == 0 {
            IndexLayout::Go
        } else {
            IndexLayout::RustPy
        }
    }
}

/// The fields a writer fills in; everything else of the index is zero.
#[cfg(feature = "write")]
#[derive(Debug, Clone, Default)]
pub(crate) struct IndexFields {
    pub package_size: u64,
    pub launcher_size: u64,
    pub metadata_offset: u64,
    pub metadata_size: u64,
    pub slot_table_offset: u64,
    pub slot_count: u32,
    pub public_key: [u8; 32],
    pub metadata_checksum: [u8; 32],
    pub signature: Option<[u8; 64]>,
}

#[cfg(feature = "write")]
impl IndexFields {
    /// Serialise as flavor writes an index (PSPF.md §2), with the checksum filled in.
    pub(crate) fn to_bytes(&self) -> Box<[u8; INDEX_SIZE]> {
        let mut raw = Box::new([0u8; INDEX_SIZE]);
        let put32 = |raw: &mut [u8; INDEX_SIZE], at: usize, v: u32| {
            raw[at..at + 4].copy_from_slice(&v.to_le_bytes());
        };
        let put64 = |raw: &mut [u8; INDEX_SIZE], at: usize, v: u64| {
            raw[at..at + 8].copy_from_slice(&v.to_le_bytes());
        };
        put32(&mut raw, offsets::FORMAT_VERSION, FORMAT_VERSION);
        put64(&mut raw, offsets::PACKAGE_SIZE, self.package_size);
        put64(&mut raw, offsets::LAUNCHER_SIZE, self.launcher_size);
        put64(&mut raw, offsets::METADATA_OFFSET, self.metadata_offset);
        put64(&mut raw, offsets::METADATA_SIZE, self.metadata_size);
        put64(&mut raw, offsets::SLOT_TABLE_OFFSET, self.slot_table_offset);
        put64(
            &mut raw,
            offsets::SLOT_TABLE_SIZE,
            u64::from(self.slot_count) * crate::descriptor::DESCRIPTOR_SIZE as u64,
        );
        put32(&mut raw, offsets::SLOT_COUNT, self.slot_count);
        raw[offsets::PUBLIC_KEY..offsets::PUBLIC_KEY + 32].copy_from_slice(&self.public_key);
        raw[offsets::METADATA_CHECKSUM..offsets::METADATA_CHECKSUM + 32]
            .copy_from_slice(&self.metadata_checksum);
        if let Some(sig) = &self.signature {
            raw[offsets::SIGNATURE..offsets::SIGNATURE + 64].copy_from_slice(sig);
        }
        put32(&mut raw, offsets::PAGE_SIZE, PAGE_SIZE);
        put64(&mut raw, offsets::CAPABILITIES, CAPABILITIES);
        put32(&mut raw, offsets::COMPATIBILITY, FORMAT_VERSION);
        put32(&mut raw, offsets::PROTOCOL_VERSION, 1);
        let fp = crate::keys::fingerprint(&self.public_key);
        raw[offsets::KEY_FINGERPRINT..offsets::KEY_FINGERPRINT + 64].copy_from_slice(fp.as_bytes());
        let checksum = compute_index_checksum(&raw);
        put32(&mut raw, offsets::INDEX_CHECKSUM, checksum);
        raw
    }
}

#[cfg(all(test, feature = "write"))]
mod tests {
    use super::*;

    fn trailer_of(raw: &[u8; INDEX_SIZE]) -> Vec<u8> {
        let mut t = MAGIC_START.to_vec();
        t.extend_from_slice(raw);
        t.extend_from_slice(&MAGIC_END);
        t
    }

    #[test]
    fn written_index_parses_back_with_valid_checksum() {
        let fields = IndexFields {
            package_size: 100_000,
            launcher_size: 4096,
            metadata_offset: 4096,
            metadata_size: 321,
            slot_table_offset: 4424,
            slot_count: 2,
            public_key: [7; 32],
            metadata_checksum: [9; 32],
            signature: Some([5; 64]),
        };
        let raw = fields.to_bytes();
        let index = Index::from_trailer(&trailer_of(&raw)).unwrap();
        assert_eq!(index.index_checksum(), index.computed_checksum());
        assert_eq!(index.package_size(), 100_000);
        assert_eq!(index.slot_table_size(), 128);
        assert_eq!(index.capabilities(), 0x83);
        assert_eq!(index.layout(), IndexLayout::RustPy);
        assert_eq!(index.key_fingerprint().unwrap().len(), 64);
        assert!(index.signature_area_tail_zero());
    }

    #[test]
    fn bad_magic_and_short_input_are_not_packages() {
        let raw = IndexFields::default().to_bytes();
        let mut t = trailer_of(&raw);
        t[0] = 0;
        assert_eq!(
            Index::from_trailer(&t).unwrap_err().kind(),
            crate::ErrorKind::NotAPackage
        );
        assert_eq!(
            Index::from_trailer(&t[1..]).unwrap_err().kind(),
            crate::ErrorKind::NotAPackage
        );
    }
}
