//! Content digests: blake3 of bytes, shown and serialized as 64 lowercase hex digits.
//!
//! Everything the engine caches is named by a [`Digest`]: source files by their contents,
//! blobs in the CAS by theirs, action results by their action key.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::EngineError;

/// Size of the read buffer when hashing a file (large enough for blake3's SIMD to pay off).
const READ_BUFFER: usize = 256 * 1024;

/// A blake3 digest (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl Digest {
    /// The digest of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(*blake3::hash(bytes).as_bytes())
    }

    /// The digest of a file's contents, streamed (never whole in memory).
    ///
    /// Single-threaded on purpose: it runs on the scheduler's workers, whose budget it must
    /// not exceed, and it must not work-steal other actions onto its stack.
    pub fn of_file(path: &Path) -> io::Result<Digest> {
        let mut file = File::open(path)?;
        Ok(Self::of_reader(&mut file)?.0)
    }

    /// The digest and length of everything `reader` yields.
    ///
    /// Reads through one buffer per thread, allocated once: a build hashes thousands of
    /// files, and a fresh buffer for each would be mapped, faulted in and unmapped each time.
    pub fn of_reader(reader: &mut dyn Read) -> io::Result<(Digest, u64)> {
        thread_local! {
            static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        BUFFER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                if buffer.len() < READ_BUFFER {
                    buffer.resize(READ_BUFFER, 0);
                }
                hash_through(reader, &mut buffer)
            }
            // Only if a reader hashes another reader from inside its `read`.
            Err(_) => hash_through(reader, &mut vec![0u8; READ_BUFFER]),
        })
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(text: &str) -> Result<Digest, EngineError> {
        let invalid = || EngineError::InvalidDigest {
            text: text.chars().take(80).collect(),
        };
        if text.len() != 64 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| invalid())?;
        Ok(Digest(bytes))
    }

    /// The 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Hashes everything `reader` yields, reading into `buffer`.
fn hash_through(reader: &mut dyn Read, buffer: &mut [u8]) -> io::Result<(Digest, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buffer.get(..n).unwrap_or_default());
        total = total.saturating_add(n as u64);
    }
    Ok((Digest(*hasher.finalize().as_bytes()), total))
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Digest {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Digest, EngineError> {
        Digest::from_hex(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_display() {
        let d = Digest::of_bytes(b"hello");
        let hex = d.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(hex, hex.to_lowercase());
        assert_eq!(format!("{d:?}"), hex);
        assert_eq!(Digest::from_hex(&hex).ok(), Some(d));
        assert_eq!(Digest::from_hex(&hex.to_uppercase()).ok(), Some(d));
        // blake3 of the empty input, from the reference test vectors.
        assert_eq!(
            Digest::of_bytes(b"").to_string(),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }

    #[test]
    fn from_hex_rejects_bad_text() {
        assert!(Digest::from_hex("").is_err());
        assert!(Digest::from_hex("abc").is_err());
        assert!(Digest::from_hex(&"g".repeat(64)).is_err());
        assert!(Digest::from_hex(&"a".repeat(66)).is_err());
        // Multi-byte characters with a byte length of 64 must not panic.
        assert!(Digest::from_hex(&"é".repeat(32)).is_err());
    }

    #[test]
    fn serde_as_hex_string() {
        let d = Digest::of_bytes(b"x");
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{d}\""));
        let back: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert!(serde_json::from_str::<Digest>("\"nope\"").is_err());
    }

    #[test]
    fn file_digest_matches_bytes_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        // Bigger than the read buffer, not a multiple of it.
        let data: Vec<u8> = (0..READ_BUFFER * 3 + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(Digest::of_file(&path).unwrap(), Digest::of_bytes(&data));
        assert!(Digest::of_file(&dir.path().join("missing")).is_err());
    }
}
