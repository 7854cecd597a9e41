//! Encoders: the compression half of each codec, deterministic by construction.
//!
//! gzip is written with mtime 0 and no file name; zstd is written as independent frames with a
//! seek table ([`FramedZstd`], [`crate::seekable`]), compressed on worker threads, whose output
//! does not depend on the number of workers, so the same input gives the same bytes on every
//! machine. Long-distance mode is never used (frames are small, and the launcher decodes them
//! several at a time).

mod framed;

pub use framed::FramedZstd;

use crate::error::{Error, Result};
use crate::ops::Codec;
use std::io::{self, Read, Write};

/// Compression settings for [`compress`].
#[derive(Debug, Clone, Copy)]
pub struct Compression {
    /// gzip 1–9, zstd 1–22. `None` = the codec's everyday default (gzip 6, zstd 3).
    pub level: Option<i32>,
    /// zstd worker threads (≥ 1; the output is the same for any value).
    pub workers: u32,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            level: None,
            workers: 1,
        }
    }
}

/// A streaming encoder: bytes written to it come out compressed by the codec's compression
/// step (raw and tar pass through). Call [`Encoder::finish`] to flush the stream's end.
pub enum Encoder<W: Write> {
    /// raw and tar: bytes pass through.
    Plain(W),
    /// gzip.
    Gzip(flate2::write::GzEncoder<W>),
    /// zstd: independent frames and a seek table.
    Zstd(FramedZstd<W>),
}

impl<W: Write> Encoder<W> {
    /// An encoder for `codec` writing into `output`.
    pub fn new(codec: Codec, output: W, settings: Compression) -> Result<Encoder<W>> {
        Ok(match codec {
            Codec::Raw | Codec::Tar => Encoder::Plain(output),
            Codec::Gzip | Codec::TarGz => {
                let level = settings.level.unwrap_or(6).clamp(0, 9) as u32;
                Encoder::Gzip(
                    flate2::GzBuilder::new()
                        .mtime(0)
                        .write(output, flate2::Compression::new(level)),
                )
            }
            Codec::Zstd | Codec::TarZst => {
                let level = settings.level.unwrap_or(3);
                if !(1..=22).contains(&level) {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("zstd level {level} is outside 1..=22"),
                    )));
                }
                Encoder::Zstd(FramedZstd::new(output, level, settings.workers.max(1))?)
            }
        })
    }

    /// End the compressed stream and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

/// Compress `input` into `output` as the compression step of `codec` (raw and tar copy
/// unchanged). Returns the number of input bytes (the decoded size).
pub fn compress<R: Read, W: Write>(
    codec: Codec,
    mut input: R,
    output: W,
    settings: Compression,
) -> Result<u64> {
    let mut enc = Encoder::new(codec, output, settings)?;
    let n = io::copy(&mut input, &mut enc)?;
    enc.finish()?;
    Ok(n)
}
