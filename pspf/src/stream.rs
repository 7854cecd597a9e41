//! Streaming access to a slot: its stored bytes, hashed as they pass, and the decoded stream.
//!
//! Nothing here buffers a whole slot. [`StoredReader`] reads the stored byte range with
//! positioned reads and feeds SHA-256; when the last byte has passed it compares the digest with
//! the descriptor checksum and the signed metadata digest, and a mismatch surfaces as a read
//! error (carrying [`crate::Error`], see [`crate::Error::from_io`]). [`SlotReader`] puts the
//! codec's decoder on top and drains the stored bytes when the decoder stops early, so a
//! reader that reaches end-of-stream has always had the whole slot verified.
//!
//! A [`DecodeLimit`] (the decoded size the signed metadata declares) stops the decoder as soon
//! as its output would pass that size: a slot swapped for a decompression bomb yields at most
//! the declared number of bytes before it fails, and the failure is the integrity error when
//! the stored bytes do not match their digest (they are hashed to the end first).

use crate::descriptor::{SlotDescriptor, checksum_from_digest};
use crate::error::{Error, Result};
use crate::ops::Codec;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;

/// What the stored bytes of a slot must hash to.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Slot number, for messages.
    pub slot: usize,
    /// Slot id, for messages.
    pub id: String,
    /// Descriptor checksum (first 8 bytes of SHA-256, little-endian).
    pub checksum: Option<u64>,
    /// The digest string recorded in the signed metadata (`sha256:<hex>` or a bare hex prefix).
    pub metadata_digest: Option<String>,
}

impl Expected {
    /// Check a finished digest against every expectation.
    pub fn check(&self, digest: &[u8; 32]) -> Result<()> {
        if let Some(expected) = self.checksum {
            let actual = checksum_from_digest(digest);
            if actual != expected {
                return Err(Error::SlotChecksum {
                    slot: self.slot,
                    id: self.id.clone(),
                    expected,
                    actual,
                });
            }
        }
        if let Some(recorded) = &self.metadata_digest {
            let meta = crate::metadata::SlotMetadata {
                checksum: recorded.clone(),
                ..Default::default()
            };
            if meta.digest_matches(digest) == Some(false) {
                return Err(Error::SlotDigest {
                    slot: self.slot,
                    id: self.id.clone(),
                    expected: recorded.clone(),
                    actual: hex::encode(digest),
                });
            }
        }
        Ok(())
    }
}

/// The stored bytes of one slot, read with positioned reads from a shared file.
pub struct StoredReader<'a> {
    file: &'a File,
    pos: u64,
    remaining: u64,
    hasher: Sha256,
    expected: Option<Expected>,
    digest: Option<[u8; 32]>,
}

impl<'a> StoredReader<'a> {
    pub(crate) fn new(
        file: &'a File,
        desc: &SlotDescriptor,
        expected: Option<Expected>,
    ) -> StoredReader<'a> {
        StoredReader {
            file,
            pos: desc.offset,
            remaining: desc.size,
            hasher: Sha256::new(),
            expected,
            digest: None,
        }
    }

    /// The SHA-256 of the stored bytes, once all of them have been read.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.digest
    }

    fn finish(&mut self) -> io::Result<()> {
        // Checked on every call, so a failure stays a failure on later reads instead of
        // turning into a clean end of stream.
        let digest = match self.digest {
            Some(d) => d,
            None => {
                let d: [u8; 32] = std::mem::take(&mut self.hasher).finalize().into();
                self.digest = Some(d);
                d
            }
        };
        if let Some(expected) = &self.expected {
            expected.check(&digest).map_err(Error::into_io)?;
        }
        Ok(())
    }

    /// Read and hash whatever is left (used when a decoder stops before the end).
    pub fn drain(&mut self) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.read(&mut buf)? != 0 {}
        Ok(())
    }
}

impl Read for StoredReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            self.finish()?;
            return Ok(0);
        }
        // Pieces small enough to still be in the CPU's cache when they are hashed.
        let want = buf
            .len()
            .min(HASH_PIECE)
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "package file ended inside a slot",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.pos += n as u64;
        self.remaining -= n as u64;
        if self.remaining == 0 {
            self.finish()?;
        }
        Ok(n)
    }
}

const DECODE_BUF: usize = 128 * 1024;

/// Stored bytes read (and hashed) at a time at most.
const HASH_PIECE: usize = 128 * 1024;

/// The decoded size a slot must add up to, as its signed metadata declares it.
#[derive(Debug, Clone)]
pub struct DecodeLimit {
    /// Slot number, for messages.
    pub slot: usize,
    /// Slot id, for messages.
    pub id: String,
    /// The declared decoded size in bytes.
    pub declared: u64,
}

enum Decoder<'a> {
    Raw(Box<StoredReader<'a>>),
    Gzip(Box<flate2::read::MultiGzDecoder<BufReader<StoredReader<'a>>>>),
    Zstd(Box<zstd::stream::read::Decoder<'static, BufReader<StoredReader<'a>>>>),
}

/// The decoded content of a slot as a stream (the tar bytes for a tar slot).
pub struct SlotReader<'a> {
    decoder: Decoder<'a>,
    codec: Codec,
    decoded: u64,
    done: bool,
    limit: Option<DecodeLimit>,
    /// Set once the decoded size disagreed with the limit (bytes decoded, whether over):
    /// every later read fails too.
    size_error: Option<(u64, bool)>,
}

impl<'a> SlotReader<'a> {
    pub(crate) fn new(stored: StoredReader<'a>, codec: Codec) -> Result<SlotReader<'a>> {
        let buffered = |stored| BufReader::with_capacity(DECODE_BUF, stored);
        let decoder = match codec {
            Codec::Raw | Codec::Tar => Decoder::Raw(Box::new(stored)),
            Codec::Gzip | Codec::TarGz => Decoder::Gzip(Box::new(
                flate2::read::MultiGzDecoder::new(buffered(stored)),
            )),
            Codec::Zstd | Codec::TarZst => {
                let mut d = zstd::stream::read::Decoder::with_buffer(buffered(stored))?;
                // Refuse frames that need more than 128 MiB of window (flavor never writes
                // long mode), so a hostile slot cannot make the reader allocate gigabytes.
                d.window_log_max(27)?;
                Decoder::Zstd(Box::new(d))
            }
        };
        Ok(SlotReader {
            decoder,
            codec,
            decoded: 0,
            done: false,
            limit: None,
            size_error: None,
        })
    }

    /// Stop with [`Error::DecodedSize`] when the decoded bytes would pass `limit` (or end
    /// short of it). `None` reads without a bound.
    pub fn with_limit(mut self, limit: Option<DecodeLimit>) -> SlotReader<'a> {
        self.limit = limit;
        self
    }

    /// The error for a decoded size that disagreed with the limit.
    fn size_error(&self, limit: &DecodeLimit, (decoded, over): (u64, bool)) -> io::Error {
        Error::DecodedSize {
            slot: limit.slot,
            id: limit.id.clone(),
            declared: limit.declared,
            decoded,
            over,
        }
        .into_io()
    }

    /// The size error, once there was one.
    fn failed_size(&self) -> io::Result<()> {
        match (&self.limit, self.size_error) {
            (Some(limit), Some(found)) => Err(self.size_error(limit, found)),
            _ => Ok(()),
        }
    }

    /// Check `n` more decoded bytes (0 = end of stream) against the limit. On a mismatch the
    /// rest of the stored bytes is hashed first, so a tampered slot fails as such.
    fn check_limit(&mut self, n: usize) -> io::Result<()> {
        let Some(declared) = self.limit.as_ref().map(|l| l.declared) else {
            return Ok(());
        };
        let total = self.decoded + n as u64;
        let mismatch = if total > declared {
            Some((declared, true))
        } else if n == 0 && total < declared {
            Some((total, false))
        } else {
            None
        };
        if let Some(found) = mismatch {
            self.stored().drain()?;
            self.size_error = Some(found);
        }
        self.failed_size()
    }

    /// The codec being undone.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Decoded bytes produced so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    fn stored(&mut self) -> &mut StoredReader<'a> {
        match &mut self.decoder {
            Decoder::Raw(r) => r,
            Decoder::Gzip(d) => d.get_mut().get_mut(),
            Decoder::Zstd(d) => d.get_mut().get_mut(),
        }
    }

    /// SHA-256 of the stored bytes, once the stream has been read to the end.
    pub fn stored_digest(&mut self) -> Option<[u8; 32]> {
        self.stored().digest()
    }

    /// Hash whatever stored bytes the decoder has not consumed and check the digest (after a
    /// failure above the decoder, to tell a tampered slot from a malformed one).
    pub fn verify_rest(&mut self) -> Result<()> {
        self.stored().drain().map_err(Error::from_io)
    }

    /// Read to the end, discarding the rest; fails if the slot does not verify.
    pub fn finish(&mut self) -> Result<()> {
        io::copy(self, &mut io::sink()).map_err(Error::from_io)?;
        Ok(())
    }
}

impl Read for SlotReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.failed_size()?;
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let read = match &mut self.decoder {
            Decoder::Raw(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        };
        let n = match read {
            Ok(n) => n,
            Err(e) if e.get_ref().is_some_and(|i| i.is::<Error>()) => return Err(e),
            Err(e) => {
                // A stream the decoder chokes on is usually a tampered one: hash the rest of
                // the stored bytes so that case surfaces as the integrity error it is.
                self.stored().drain()?;
                return Err(match e.kind() {
                    io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::Other => {
                        Error::malformed(format!("{} stream is corrupt: {e}", self.codec)).into_io()
                    }
                    _ => e,
                });
            }
        };
        // Bytes past the declared size are never handed out.
        self.check_limit(n)?;
        if n == 0 {
            // The decoder is done: make sure every stored byte was hashed and checked.
            self.stored().drain()?;
            self.done = true;
        }
        self.decoded += n as u64;
        Ok(n)
    }
}

/// Hash a whole reader with SHA-256, returning the digest and the byte count.
pub fn sha256_reader(mut r: impl Read) -> io::Result<([u8; 32], u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hasher.finalize().into(), total))
}
