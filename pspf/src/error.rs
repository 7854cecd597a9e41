//! The one error type of the crate, with a machine-readable [`ErrorKind`] per failure.
//!
//! Every variant carries what a user needs to act: which slot, which field, what was expected
//! and what was found. Callers branch on [`Error::kind`], never on message text; the launcher
//! maps kinds to its exit codes and `flavor verify` to its check names.

use std::io;

/// What went wrong, without the details: stable for matching and exit-code mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The file does not end with a PSPF/2025 trailer (magic bytes missing, file too short).
    NotAPackage,
    /// The index names a format version this crate does not read.
    UnsupportedVersion,
    /// An offset or size in the index or a descriptor points outside the file or overflows, or
    /// a slot's encoded stream does not decode.
    Malformed,
    /// The Adler-32 of the index does not match the stored one.
    IndexChecksum,
    /// The SHA-256 of the compressed metadata does not match the index.
    MetadataChecksum,
    /// The metadata could not be decompressed or parsed.
    Metadata,
    /// The Ed25519 signature over the metadata does not verify.
    Signature,
    /// `package_size` in the index differs from the file length.
    PackageSize,
    /// The key fingerprint in the index does not match the public key.
    KeyFingerprint,
    /// The package is signed by a key that is not in the trusted set.
    UntrustedKey,
    /// A slot's stored bytes do not match the 8-byte checksum in its descriptor.
    SlotChecksum,
    /// A slot's stored bytes do not match the `sha256:` digest in the signed metadata.
    SlotDigest,
    /// A descriptor field disagrees with the signed metadata (operations, slot count, digest).
    DescriptorMismatch,
    /// A slot decodes to more (or fewer) bytes than its signed metadata declares.
    DecodedSize,
    /// A tar member is malformed or over a bound (a long name past `PATH_MAX`, a PAX header
    /// over its limit, a sparse member); the archive is refused before that member is read.
    Archive,
    /// A slot uses an operation (codec) this crate does not implement.
    UnknownOperation,
    /// An archive entry would land outside the destination directory.
    UnsafePath,
    /// A key file or seed could not be read or has the wrong format.
    Key,
    /// An operating-system I/O error.
    Io,
}

impl ErrorKind {
    /// True for failures that mean "the bytes are not what was signed" (integrity), as opposed
    /// to structure, I/O or policy problems.
    pub fn is_integrity(self) -> bool {
        matches!(
            self,
            ErrorKind::IndexChecksum
                | ErrorKind::MetadataChecksum
                | ErrorKind::Signature
                | ErrorKind::PackageSize
                | ErrorKind::KeyFingerprint
                | ErrorKind::UntrustedKey
                | ErrorKind::SlotChecksum
                | ErrorKind::SlotDigest
                | ErrorKind::DescriptorMismatch
                | ErrorKind::DecodedSize
        )
    }
}

/// An error reading, verifying, decoding or writing a package.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("not a PSPF/2025 package: {reason}")]
    /// The file is not a PSPF/2025 package (no trailer magic, too short, …).
    NotAPackage {
        /// What is missing.
        reason: String,
    },

    #[error("unsupported PSPF format version {found:#010x} (this reader knows 0x20250001)")]
    /// The index names a format version this reader does not know.
    UnsupportedVersion {
        /// The `format_version` found.
        found: u32,
    },

    #[error("malformed package: {what}")]
    /// A structure points outside the file or contradicts itself.
    Malformed {
        /// Which structure and how.
        what: String,
    },

    #[error("index checksum mismatch: stored {stored:08x}, computed {computed:08x}")]
    /// The index checksum does not match the index bytes.
    IndexChecksum {
        /// The checksum stored in the index.
        stored: u32,
        /// The checksum of the stored bytes.
        computed: u32,
    },

    #[error("metadata checksum mismatch: index says {expected}, metadata bytes hash to {actual}")]
    /// The compressed metadata does not hash to the digest the index records.
    MetadataChecksum {
        /// Hex SHA-256 the index records.
        expected: String,
        /// Hex SHA-256 of the metadata bytes.
        actual: String,
    },

    #[error("metadata unreadable: {reason}")]
    /// The metadata cannot be decompressed or parsed, or is too large.
    Metadata {
        /// What went wrong.
        reason: String,
    },

    #[error("signature invalid: {reason}")]
    /// The Ed25519 signature does not verify.
    Signature {
        /// Why it was rejected.
        reason: String,
    },

    #[error("package_size in the index is {recorded} but the file is {actual} bytes long")]
    /// `package_size` disagrees with the file length.
    PackageSize {
        /// The size the index records.
        recorded: u64,
        /// The file length.
        actual: u64,
    },

    #[error(
        "key fingerprint in the index ({recorded}) is not the SHA-256 of the public key ({computed})"
    )]
    /// The key fingerprint field is not the SHA-256 of the public key.
    KeyFingerprint {
        /// The fingerprint stored in the index.
        recorded: String,
        /// The SHA-256 of the public key.
        computed: String,
    },

    #[error("package is signed by the key with fingerprint {fingerprint}, which is not trusted")]
    /// The package is signed by a key that is not among the trusted ones.
    UntrustedKey {
        /// The short fingerprint of the signing key.
        fingerprint: String,
    },

    #[error(
        "slot {slot} ({id}): stored bytes hash to checksum {actual:#018x}, descriptor says {expected:#018x}"
    )]
    /// A slot's stored bytes do not match the descriptor's checksum.
    SlotChecksum {
        /// Slot number.
        slot: usize,
        /// Slot id.
        id: String,
        /// Checksum the descriptor records.
        expected: u64,
        /// Checksum of the stored bytes.
        actual: u64,
    },

    #[error(
        "slot {slot} ({id}): stored bytes hash to sha256:{actual}, signed metadata says {expected}"
    )]
    /// A slot's stored bytes do not match the SHA-256 its signed metadata records.
    SlotDigest {
        /// Slot number.
        slot: usize,
        /// Slot id.
        id: String,
        /// Digest the signed metadata records.
        expected: String,
        /// Hex SHA-256 of the stored bytes.
        actual: String,
    },

    #[error("{what}: descriptor has {descriptor}, signed metadata has {metadata}")]
    /// The slot table and the signed metadata disagree.
    DescriptorMismatch {
        /// Which field.
        what: String,
        /// The descriptor's value.
        descriptor: String,
        /// The metadata's value.
        metadata: String,
    },

    #[error(
        "slot {slot} ({id}) decodes to {} {decoded} bytes, but its signed metadata declares {declared}",
        over_or_only(.over)
    )]
    /// A slot decodes to more (or fewer) bytes than its signed metadata declares.
    DecodedSize {
        /// Slot number.
        slot: usize,
        /// Slot id.
        id: String,
        /// The size the signed metadata declares.
        declared: u64,
        /// Bytes decoded when the reader stopped.
        decoded: u64,
        /// True when decoding overran `declared` (and was stopped there), false when the
        /// stream ended short of it.
        over: bool,
    },

    #[error("refusing tar archive at member {member}: {reason}")]
    /// A tar archive breaks a bound or is malformed (header bombs, truncated members, …).
    Archive {
        /// `#n` (1-based position in the archive) and, once known, the member's path.
        member: String,
        /// What was refused.
        reason: String,
    },

    #[error(
        "{context}: unknown operation {name} ({op:#04x}); this reader decodes raw, gzip, zstd and tar"
    )]
    /// A codec operation this reader cannot decode.
    UnknownOperation {
        /// Where it was found (e.g. the slot).
        context: String,
        /// The op byte.
        op: u8,
        /// The op's name in the format, when it has one.
        name: &'static str,
    },

    #[error("refusing archive entry {path:?}: {reason}")]
    /// An archive entry would be written outside the destination or through a link.
    UnsafePath {
        /// The entry's path as stored.
        path: String,
        /// Why it was refused.
        reason: String,
    },

    #[error("key: {reason}")]
    /// A key file or seed cannot be used.
    Key {
        /// What is wrong with it.
        reason: String,
    },

    // Transparent: the io::Error is the message, not also a "source" that error reports
    // would print a second time.
    #[error(transparent)]
    /// Reading or writing failed.
    Io(#[from] io::Error),
}

impl Error {
    /// The kind of failure, for matching and exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NotAPackage { .. } => ErrorKind::NotAPackage,
            Error::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            Error::Malformed { .. } => ErrorKind::Malformed,
            Error::IndexChecksum { .. } => ErrorKind::IndexChecksum,
            Error::MetadataChecksum { .. } => ErrorKind::MetadataChecksum,
            Error::Metadata { .. } => ErrorKind::Metadata,
            Error::Signature { .. } => ErrorKind::Signature,
            Error::PackageSize { .. } => ErrorKind::PackageSize,
            Error::KeyFingerprint { .. } => ErrorKind::KeyFingerprint,
            Error::UntrustedKey { .. } => ErrorKind::UntrustedKey,
            Error::SlotChecksum { .. } => ErrorKind::SlotChecksum,
            Error::SlotDigest { .. } => ErrorKind::SlotDigest,
            Error::DescriptorMismatch { .. } => ErrorKind::DescriptorMismatch,
            Error::DecodedSize { .. } => ErrorKind::DecodedSize,
            Error::Archive { .. } => ErrorKind::Archive,
            Error::UnknownOperation { .. } => ErrorKind::UnknownOperation,
            Error::UnsafePath { .. } => ErrorKind::UnsafePath,
            Error::Key { .. } => ErrorKind::Key,
            Error::Io(e) => match e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
                Some(inner) => inner.kind(),
                None => ErrorKind::Io,
            },
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        Error::Malformed { what: what.into() }
    }

    pub(crate) fn metadata(reason: impl std::fmt::Display) -> Self {
        Error::Metadata {
            reason: reason.to_string(),
        }
    }

    /// Wrap into an `io::Error` so it can travel through `Read` implementations; [`Error::kind`]
    /// and [`Error::from_io`] recover it.
    pub(crate) fn into_io(self) -> io::Error {
        let kind = match self.kind() {
            ErrorKind::Io => io::ErrorKind::Other,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, self)
    }

    /// Turn an `io::Error` that came out of one of this crate's readers back into the `Error`
    /// it carries (or an `Io` error if it carries none).
    pub fn from_io(err: io::Error) -> Self {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            match err.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(inner)) => *inner,
                _ => Error::Io(io::Error::other("lost inner error")),
            }
        } else {
            Error::Io(err)
        }
    }
}

fn over_or_only(over: &bool) -> &'static str {
    if *over { "more than" } else { "only" }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
