//! Encoders: the compression half of each codec, deterministic by construction.
//!
//! gzip is written with mtime 0 and no file name; zstd always runs in its multithreaded mode
//! with at least one worker, whose output does not depend on the number of workers, so the
//! same input gives the same bytes on every machine. Long-distance mode is never used (it
//! would make the launcher's decoder need a 128 MiB+ window).

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

/// Compress `input` into `output` as the compression step of `codec` (raw and tar copy
/// unchanged). Returns the number of input bytes (the decoded size).
pub fn compress<R: Read, W: Write>(
    codec: Codec,
    mut input: R,
    output: W,
    settings: Compression,
) -> Result<u64> {
    match codec {
        Codec::Raw | Codec::Tar => {
            let mut output = output;
            Ok(io::copy(&mut input, &mut output)?)
        }
        Codec::Gzip | Codec::TarGz => {
            let level = settings.level.unwrap_or(6).clamp(0, 9) as u32;
            let mut enc = flate2::GzBuilder::new()
                .mtime(0)
                .write(output, flate2::Compression::new(level));
            let n = io::copy(&mut input, &mut enc)?;
            enc.finish()?;
            Ok(n)
        }
        Codec::Zstd | Codec::TarZst => {
            let level = settings.level.unwrap_or(3);
            if !(1..=22).contains(&level) {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("zstd level {level} is outside 1..=22"),
                )));
            }
            let mut enc = zstd::stream::write::Encoder::new(output, level)?;
            enc.multithread(settings.workers.max(1))?;
            enc.include_checksum(true)?;
            let n = io::copy(&mut input, &mut enc)?;
            enc.finish()?;
            Ok(n)
        }
    }
}
