//! Bounds on what a hostile package can make a reader do before it is refused: a slot is never
//! decoded past the size its signed metadata declares (and a tampered one that tries fails as
//! tampered, having written at most that much), metadata with a bad signature is never parsed,
//! and metadata over the size limit is refused with a message naming the limit.

use crate::common::{SlotSource, build_package, sample_bytes, write_spec};
use pspf::encode::{Compression, compress};
use pspf::index::{TRAILER_SIZE, compute_index_checksum, offsets};
use pspf::metadata::{MAX_METADATA_JSON, gunzip_metadata, gzip_metadata};
use pspf::verify::{Outcome, VerifyOptions};
use pspf::{Codec, ErrorKind, Package, SlotInput};
use std::fs;
use std::io::Read;
use std::path::Path;

const MIB: usize = 1 << 20;

fn zstd(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress(Codec::Zstd, bytes, &mut out, Compression::default()).unwrap();
    out
}

/// `frames` followed by a zstd skippable frame that makes the whole exactly `len` bytes.
fn padded_to(mut frames: Vec<u8>, len: usize) -> Vec<u8> {
    let pad = len - frames.len() - 8;
    frames.extend(0x184D_2A50u32.to_le_bytes());
    frames.extend((pad as u32).to_le_bytes());
    frames.extend(sample_bytes(pad, 9));
    frames
}

/// Zstd frames decoding to `mib` MiB of zeros.
fn zeros_bomb(mib: usize) -> Vec<u8> {
    let one = zstd(&vec![0u8; MIB]);
    one.repeat(mib)
}

/// A package with one zstd file slot `blob` stored as `stored`, declaring `decoded_size`.
fn one_slot(dir: &Path, name: &str, codec: Codec, stored: &[u8], decoded_size: u64) -> Package {
    let path = dir.join(format!("{name}.stored"));
    fs::write(&path, stored).unwrap();
    let slot = SlotInput {
        id: "blob".into(),
        source: "blob".into(),
        target: "{workenv}/blob".into(),
        codec,
        stored: path,
        stored_sha256: None,
        decoded_size,
        purpose: pspf::Purpose::Payload,
        lifecycle: pspf::Lifecycle::Runtime,
        permissions: 0o644,
    };
    let out = dir.join(format!("{name}.psp"));
    write_spec(&out, name, vec![slot]);
    Package::open(&out).unwrap()
}

/// Read slot 0 to the end; the bytes handed out and the error that ended it.
fn drain(pkg: &Package) -> (u64, pspf::Error) {
    let mut reader = pkg.slot_reader(0).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => panic!("the slot read cleanly to its end ({total} bytes)"),
            Ok(n) => total += n as u64,
            Err(e) => return (total, pspf::Error::from_io(e)),
        }
    }
}

#[test]
fn a_signed_slot_is_never_decoded_past_its_declared_size() {
    let dir = tempfile::tempdir().unwrap();
    // The signer declares 1000 bytes of a slot that decodes to 64 MiB.
    let pkg = one_slot(dir.path(), "over", Codec::Zstd, &zeros_bomb(64), 1000);
    let (handed_out, err) = drain(&pkg);
    assert!(handed_out <= 1000, "{handed_out} bytes handed out");
    assert_eq!(err.kind(), ErrorKind::DecodedSize, "{err}");
    assert!(
        err.to_string()
            .contains("decodes to more than 1000 bytes, but its signed metadata declares 1000"),
        "{err}"
    );
    // A stream that ends short of the declared size fails too.
    let pkg = one_slot(dir.path(), "short", Codec::Zstd, &zstd(&[1u8; 10]), 11);
    let (_, err) = drain(&pkg);
    assert_eq!(err.kind(), ErrorKind::DecodedSize, "{err}");
    assert!(
        err.to_string().contains("decodes to only 10 bytes"),
        "{err}"
    );
    // Extraction stops at the same place and writes no more than was declared.
    let dest = dir.path().join("dest");
    let pkg = one_slot(dir.path(), "over2", Codec::Zstd, &zeros_bomb(64), 1000);
    let err = pkg.extract_slot(0, &dest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DecodedSize, "{err}");
    assert!(fs::metadata(dest.join("blob")).unwrap().len() <= 1000);
}

/// A slot larger than `VERIFY_BEFORE_DECODING` is decoded as it is hashed: swapped for a
/// bomb of the same length, it stops at the declared size and fails as tampered.
#[test]
fn a_large_swapped_slot_stops_at_the_declared_size_and_fails_as_tampered() {
    let dir = tempfile::tempdir().unwrap();
    let len = 3 * MIB;
    assert!(len as u64 > pspf::extract::VERIFY_BEFORE_DECODING);
    let content = sample_bytes(100_000, 4);
    let genuine = padded_to(zstd(&content), len);
    let bomb = padded_to(zeros_bomb(256), len);
    for codec in [Codec::Zstd, Codec::TarZst] {
        let name = codec.name().replace('.', "-");
        let (genuine, bomb, decoded) = if codec.is_tar() {
            let mut tree = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tree.append_data(&mut h, "blob", &content[..]).unwrap();
            let tree = tree.into_inner().unwrap();
            let mut big = tar::Header::new_gnu();
            big.set_path("big").unwrap();
            big.set_size(256 * MIB as u64);
            big.set_mode(0o644);
            big.set_cksum();
            let mut frames = zstd(big.as_bytes());
            frames.extend(zeros_bomb(256));
            (
                padded_to(zstd(&tree), len),
                padded_to(frames, len),
                tree.len(),
            )
        } else {
            (genuine.clone(), bomb.clone(), content.len())
        };
        let pkg = one_slot(dir.path(), &name, codec, &genuine, decoded as u64);
        let at = pkg.descriptors()[0].offset as usize;
        let file = dir.path().join(format!("{name}.psp"));
        drop(pkg);
        let mut bytes = fs::read(&file).unwrap();
        bytes[at..at + len].copy_from_slice(&bomb);
        fs::write(&file, bytes).unwrap();

        let pkg = Package::open(&file).unwrap();
        let dest = dir.path().join(format!("{name}-dest"));
        let err = pkg.extract_slot(0, &dest).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::SlotChecksum | ErrorKind::SlotDigest),
            "{name}: {err}"
        );
        let written: u64 = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum();
        assert!(written <= decoded as u64, "{name}: {written} bytes written");
    }
}

/// The package written by [`build_package`] with its signature broken and the index checksum
/// fixed again.
fn with_bad_signature(dir: &Path) -> Package {
    let built = build_package(
        dir,
        "unsigned",
        &[SlotSource::new("app", Codec::Raw, sample_bytes(3000, 1))],
    );
    let mut bytes = fs::read(&built.path).unwrap();
    let index_at = bytes.len() - TRAILER_SIZE + 4;
    let index: &mut [u8; 8192] = (&mut bytes[index_at..index_at + 8192]).try_into().unwrap();
    index[offsets::SIGNATURE] ^= 1;
    let sum = compute_index_checksum(index);
    index[offsets::INDEX_CHECKSUM..offsets::INDEX_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
    fs::write(&built.path, bytes).unwrap();
    Package::open(&built.path).unwrap()
}

#[test]
fn metadata_whose_signature_fails_is_not_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = with_bad_signature(dir.path());
    let report = pkg.verify(&VerifyOptions::default());
    let outcome = |name: &str| {
        report
            .checks
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.outcome)
            .unwrap_or_else(|| panic!("no {name} check"))
    };
    assert!(matches!(outcome("signature"), Outcome::Fail(e) if e.kind() == ErrorKind::Signature));
    assert!(
        matches!(outcome("metadata"), Outcome::Skipped(why) if why.contains("signature")),
        "{:?}",
        outcome("metadata")
    );
    assert!(matches!(outcome("slot_checksum"), Outcome::Pass));
    assert!(matches!(outcome("slot_digest"), Outcome::Skipped(_)));
    assert_eq!(report.failure_kinds(), vec![ErrorKind::Signature]);
}

#[test]
fn metadata_over_the_size_limit_is_refused_with_the_limit_named() {
    let limit = MAX_METADATA_JSON as usize;
    let fits = gzip_metadata(&vec![b' '; limit]);
    assert_eq!(gunzip_metadata(&fits).unwrap().len(), limit);
    let over = gzip_metadata(&vec![b' '; limit + 1]);
    let err = gunzip_metadata(&over).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Metadata);
    assert!(err.to_string().contains("more than 4194304 bytes"), "{err}");

    // Compressed metadata larger than any allowed JSON could need: refused on open.
    let dir = tempfile::tempdir().unwrap();
    let built = build_package(
        dir.path(),
        "big",
        &[SlotSource::new("app", Codec::Raw, sample_bytes(100, 1))],
    );
    let mut bytes = fs::read(&built.path).unwrap();
    let index_at = bytes.len() - TRAILER_SIZE + 4;
    let index: &mut [u8; 8192] = (&mut bytes[index_at..index_at + 8192]).try_into().unwrap();
    let claimed = pspf::reader::MAX_METADATA_GZIP + 1;
    index[offsets::METADATA_SIZE..offsets::METADATA_SIZE + 8]
        .copy_from_slice(&claimed.to_le_bytes());
    let sum = compute_index_checksum(index);
    index[offsets::INDEX_CHECKSUM..offsets::INDEX_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
    fs::write(&built.path, bytes).unwrap();
    let err = Package::open(&built.path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed, "{err}");
    assert!(err.to_string().contains("a reader accepts"), "{err}");
}
