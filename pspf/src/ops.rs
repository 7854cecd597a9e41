//! Slot operations ("codecs"): the packed u64 op chain of a descriptor and flavor's codec names.
//!
//! Up to eight one-byte op codes are packed least-significant byte first in the order they were
//! applied at build time (`tar` then `gzip` = `0x1001`). Readers skip zero bytes between ops, as
//! the Rust and Python readers do. Only TAR, GZIP and ZSTD are implemented; every other code of
//! the upstream registry is refused by name.

use crate::error::{Error, Result};

/// No operation (padding between ops; a raw slot has none at all).
pub const OP_NONE: u8 = 0x00;
/// A tar archive.
pub const OP_TAR: u8 = 0x01;
/// gzip compression.
pub const OP_GZIP: u8 = 0x10;
/// zstd compression.
pub const OP_ZSTD: u8 = 0x1B;

/// The packed operation chain of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Operations(pub u64);

impl Operations {
    /// Pack op codes (in build order) into a chain. More than eight ops cannot be packed.
    pub fn pack(ops: &[u8]) -> Option<Operations> {
        if ops.len() > 8 {
            return None;
        }
        Some(Operations(
            ops.iter()
                .enumerate()
                .fold(0u64, |acc, (i, &op)| acc | (u64::from(op) << (8 * i))),
        ))
    }

    /// The non-zero op codes in build order (zero bytes in between are skipped).
    pub fn ops(self) -> Vec<u8> {
        self.0
            .to_le_bytes()
            .into_iter()
            .filter(|&b| b != 0)
            .collect()
    }
}

crate::vocabulary! {
    /// The codecs flavor writes and reads (PSPF.md §4), with the spellings upstream writers
    /// put into metadata (`tar,gzip`, `none`, `""`, …) read as the same codec.
    pub enum Codec("codec") {
        /// Stored as is.
        Raw = "raw" (upstream "none" | ""),
        /// gzip.
        Gzip = "gzip" (upstream "gz"),
        /// zstd.
        Zstd = "zstd" (upstream "zst"),
        /// An uncompressed tar archive.
        Tar = "tar",
        /// A gzip-compressed tar archive.
        TarGz = "tar.gz" | "tgz" (upstream "tar,gzip" | "tar+gzip" | "tar|gzip"),
        /// A zstd-compressed tar archive.
        TarZst = "tar.zst" (upstream "tzst" | "tar,zstd" | "tar+zstd" | "tar|zstd"),
    }
}

impl Codec {
    /// The op chain this codec writes.
    pub fn operations(self) -> Operations {
        Operations(match self {
            Codec::Raw => 0,
            Codec::Gzip => 0x10,
            Codec::Zstd => 0x1B,
            Codec::Tar => 0x01,
            Codec::TarGz => 0x1001,
            Codec::TarZst => 0x1B01,
        })
    }

    /// Interpret a descriptor's op chain. Any op other than TAR (first), GZIP or ZSTD (last,
    /// at most one compression) is refused with its registry name.
    pub fn from_operations(ops: Operations, context: &str) -> Result<Codec> {
        let list = ops.ops();
        let unknown = |op: u8| Error::UnknownOperation {
            context: context.to_string(),
            op,
            name: op_name(op),
        };
        let (tar, rest) = match list.split_first() {
            Some((&OP_TAR, rest)) => (true, rest),
            _ => (false, &list[..]),
        };
        let compression = match rest {
            [] => None,
            [c] => Some(*c),
            [_, extra, ..] => return Err(unknown(*extra)),
        };
        Ok(match (tar, compression) {
            (false, None) => Codec::Raw,
            (true, None) => Codec::Tar,
            (false, Some(OP_GZIP)) => Codec::Gzip,
            (true, Some(OP_GZIP)) => Codec::TarGz,
            (false, Some(OP_ZSTD)) => Codec::Zstd,
            (true, Some(OP_ZSTD)) => Codec::TarZst,
            (_, Some(other)) => return Err(unknown(other)),
        })
    }

    /// True when the decoded slot is a tar archive.
    pub fn is_tar(self) -> bool {
        matches!(self, Codec::Tar | Codec::TarGz | Codec::TarZst)
    }

    /// True when the upstream launchers (Rust 0.3.0/0.5.4, Go 0.5.4) can decode this codec.
    pub fn upstream_readable(self) -> bool {
        !matches!(self, Codec::Zstd | Codec::TarZst)
    }
}

/// The upstream registry name of an op code (for messages), `"UNKNOWN"` outside it.
pub fn op_name(op: u8) -> &'static str {
    const BUNDLE: [&str; 13] = [
        "TAR",
        "TAR_SORTED",
        "TAR_STREAM",
        "CPIO",
        "CPIO_NEWC",
        "AR",
        "AR_BSD",
        "ZIP_STORE",
        "ZIP_STREAM",
        "7Z",
        "RAR",
        "PAX",
        "USTAR",
    ];
    const COMPRESS: [&str; 23] = [
        "GZIP",
        "GZIP_FAST",
        "GZIP_BEST",
        "BZIP2",
        "BZIP2_FAST",
        "BZIP2_BEST",
        "XZ",
        "XZ_FAST",
        "XZ_BEST",
        "LZMA",
        "LZMA2",
        "ZSTD",
        "ZSTD_FAST",
        "ZSTD_BEST",
        "LZ4",
        "LZ4_HC",
        "SNAPPY",
        "BROTLI",
        "BROTLI_TEXT",
        "DEFLATE",
        "DEFLATE64",
        "PPM",
        "PPMD",
    ];
    match op {
        0x00 => "NONE",
        0x01..=0x0D => BUNDLE[usize::from(op - 1)],
        0x10..=0x26 => COMPRESS[usize::from(op - 0x10)],
        0x30..=0x4F => "ENCRYPT (unsupported family)",
        0x50..=0x6F => "ENCODE (unsupported family)",
        0x70..=0x8F => "HASH (unsupported family)",
        0x90..=0xAF => "SIGN (unsupported family)",
        0xB0..=0xCF => "TRANSFORM (unsupported family)",
        0xFF => "TERMINAL",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_round_trips_through_its_op_chain_and_name() {
        for &codec in Codec::ALL {
            assert_eq!(
                Codec::from_operations(codec.operations(), "t").unwrap(),
                codec
            );
            assert_eq!(Codec::from_name(codec.name()), Some(codec));
        }
    }

    #[test]
    fn upstream_spellings_and_zero_gaps_are_accepted() {
        assert_eq!(Codec::from_name("tgz"), Some(Codec::TarGz));
        assert_eq!(Codec::from_name("tar,gzip"), Some(Codec::TarGz));
        assert_eq!(Codec::from_name("none"), Some(Codec::Raw));
        assert_eq!(Codec::from_name(""), Some(Codec::Raw));
        assert_eq!(Codec::from_name("tar.bz2"), None);
        assert_eq!(Codec::from_name("TAR"), None, "spellings are exact");
        // TAR, 0, GZIP: the Rust reader skips the zero byte.
        assert_eq!(
            Codec::from_operations(Operations(0x10_00_01), "t").unwrap(),
            Codec::TarGz
        );
        assert_eq!(
            Operations::pack(&[0x01, 0x1B]).unwrap(),
            Codec::TarZst.operations()
        );
    }

    #[test]
    fn unknown_ops_are_refused_by_name() {
        let err = Codec::from_operations(Operations(0x1301), "slot 0").unwrap_err();
        assert!(err.to_string().contains("BZIP2"), "{err}");
        assert_eq!(err.kind(), crate::ErrorKind::UnknownOperation);
        // TAR, ZSTD, AES256_GCM (the upstream "complex_chain" test vector).
        let err = Codec::from_operations(Operations(0x311b01), "slot 0").unwrap_err();
        assert!(err.to_string().contains("0x31"), "{err}");
        // Two compressions in a row.
        assert!(Codec::from_operations(Operations(0x1B10), "t").is_err());
    }
}
