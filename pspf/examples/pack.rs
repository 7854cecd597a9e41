//! A minimal packer for benchmarks and experiments, built on the `pspf` writer alone.
//!
//! ```text
//! cargo run -p pspf --release --example pack -- LAUNCHER OUT NAME VERSION COMMAND \
//!     [ID:CODEC:FILE[:TARGET[:MODE]]]…
//! ```
//! FILE is a plain file (codecs raw, gzip, zstd) or a tar archive (codecs tar, tar.gz,
//! tar.zst); it is encoded with the codec (zstd level from `PACK_ZSTD_LEVEL`, default 3) and
//! written with the signing key of seed `PACK_SEED` (default `bench`). With
//! `PACK_PRECOMPRESSED=1`, FILE is taken as already encoded with the codec and stored as-is. Everyday packages are
//! built with `flavor build`; this exists so the format crate can be measured on its own.

use pspf::encode::{Compression, compress};
use pspf::{Codec, SlotInput, flavor_metadata, write_package};
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

/// Size of `input` once the codec's compression is undone.
fn decoded_len(codec: Codec, input: File) -> std::io::Result<u64> {
    let mut sink = std::io::sink();
    let input = std::io::BufReader::new(input);
    match codec {
        Codec::Raw | Codec::Tar => std::io::copy(&mut { input }, &mut sink),
        Codec::Gzip | Codec::TarGz => {
            std::io::copy(&mut flate2::read::MultiGzDecoder::new(input), &mut sink)
        }
        Codec::Zstd | Codec::TarZst => {
            std::io::copy(&mut zstd::stream::read::Decoder::new(input)?, &mut sink)
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        return Err(
            "usage: pack LAUNCHER OUT NAME VERSION COMMAND [ID:CODEC:FILE[:TARGET[:MODE]]]…".into(),
        );
    }
    let (launcher, out) = (PathBuf::from(&args[0]), PathBuf::from(&args[1]));
    let level = std::env::var("PACK_ZSTD_LEVEL")
        .ok()
        .and_then(|l| l.parse().ok());
    let seed = std::env::var("PACK_SEED").unwrap_or_else(|_| "bench".into());
    let key = pspf::keys::signing_key_from_seed(&seed);
    let work = tempfile::tempdir()?;
    let mut slots = Vec::new();
    for (n, spec) in args[5..].iter().enumerate() {
        let parts: Vec<&str> = spec.split(':').collect();
        let [id, codec, file, rest @ ..] = parts.as_slice() else {
            return Err(format!("bad slot spec {spec:?}").into());
        };
        let codec = Codec::from_name(codec).ok_or_else(|| format!("unknown codec {codec}"))?;
        let stored = work.path().join(format!("slot{n}"));
        let precompressed = std::env::var("PACK_PRECOMPRESSED").is_ok_and(|v| v == "1");
        let decoded_size = if precompressed {
            std::fs::copy(file, &stored)?;
            decoded_len(codec, File::open(file)?)?
        } else {
            compress(
                codec,
                File::open(file)?,
                BufWriter::new(File::create(&stored)?),
                Compression {
                    level: if matches!(codec, Codec::Zstd | Codec::TarZst) {
                        level
                    } else {
                        None
                    },
                    workers: 2,
                },
            )?
        };
        let target = match (codec.is_tar(), rest.first()) {
            (true, _) => "{workenv}".to_string(),
            (false, Some(t)) => t.to_string(),
            (false, None) => id.to_string(),
        };
        let mode = rest
            .get(1)
            .and_then(|m| u32::from_str_radix(m, 8).ok())
            .unwrap_or(0o755);
        slots.push(SlotInput {
            id: id.to_string(),
            source: file.to_string(),
            target,
            codec,
            stored,
            stored_sha256: None,
            decoded_size,
            purpose: pspf::Purpose::Payload,
            lifecycle: pspf::Lifecycle::Cache,
            permissions: mode,
        });
    }
    let summary = write_package(
        pspf::PackageSpec {
            launcher: &launcher,
            metadata: flavor_metadata(&args[2], &args[3], &args[4], 0),
            slots,
            key: &key,
        },
        &out,
    )?;
    println!("{} {} bytes", out.display(), summary.size);
    Ok(())
}
