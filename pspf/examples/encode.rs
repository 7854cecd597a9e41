//! Encode a file the way `flavor build` encodes a slot, for benchmarks that compare the
//! launcher with other tools on the very same bytes.
//!
//! ```text
//! cargo run -p pspf --release --example encode -- CODEC IN OUT
//! ```
//! CODEC is a slot codec (`zstd`, `tar.zst`, `gzip`, …); the zstd level comes from
//! `PACK_ZSTD_LEVEL` (default 3). OUT is written whole or not at all.

use pspf::Codec;
use pspf::encode::{Compression, compress};
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [codec, input, output] = args.as_slice() else {
        return Err("usage: encode CODEC IN OUT".into());
    };
    let codec: Codec = codec.parse()?;
    let level = std::env::var("PACK_ZSTD_LEVEL")
        .ok()
        .map(|l| l.parse())
        .transpose()?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let tmp = format!("{output}.tmp");
    let mut out = BufWriter::new(File::create(&tmp)?);
    let settings = Compression { level, workers };
    compress(
        codec,
        BufReader::new(File::open(input)?),
        &mut out,
        settings,
    )?;
    out.flush()?;
    std::fs::rename(tmp, output)?;
    Ok(())
}
