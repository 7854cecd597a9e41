//! Tampering: a package written by `write_package` (a raw slot, a tar.zst slot, a tar.gz slot
//! and a zstd slot larger than the decoder's read buffer) with one byte changed must fail verification with the right kind of failure —
//! property-tested over every region that a check covers — and the few bytes no check covers
//! are pinned down here as documentation.

use crate::common::{SlotSource, TreeEntry, build_package, make_tar, sample_bytes, sample_tree};
use proptest::prelude::*;
use pspf::verify::{VerifyOptions, verify_file};
use pspf::{Codec, Error, ErrorKind, Package, Report};
use std::io::Read;
use std::ops::Range;
use std::sync::OnceLock;

/// Number of slots in the base package.
const SLOTS: usize = 4;

/// The untampered package and where its regions are.
struct Base {
    bytes: Vec<u8>,
    index: Range<usize>,
    metadata: Range<usize>,
    /// Stored bytes of every slot.
    slots: Vec<Range<usize>>,
    /// Start of every descriptor.
    descriptors: Vec<usize>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        // The sample tree without its large file keeps every case cheap.
        let small: Vec<TreeEntry> = sample_tree()
            .into_iter()
            .filter(|e| !matches!(e, TreeEntry::File { content, .. } if content.len() > 4096))
            .collect();
        let built = build_package(
            dir.path(),
            "tamper",
            &[
                SlotSource::new("app", Codec::Raw, sample_bytes(3000, 1)),
                SlotSource::new("tree", Codec::TarZst, make_tar(&small)),
                SlotSource::new("conf", Codec::TarGz, make_tar(&small[..2])),
                // Stored bytes > 128 KiB, so a flip near the start reaches the zstd decoder
                // before the last stored byte has been hashed.
                SlotSource::new("blob", Codec::Zstd, sample_bytes(200_000, 2)),
            ],
        );
        let pkg = Package::open(&built.path).unwrap();
        assert!(pkg.verify(&VerifyOptions::default()).is_ok());
        assert!(
            pkg.descriptors()[3].size > 128 * 1024,
            "blob must outgrow the decode buffer"
        );
        let idx = pkg.index();
        let len = pkg.file_len() as usize;
        let range = |off: u64, size: u64| off as usize..(off + size) as usize;
        Base {
            bytes: std::fs::read(&built.path).unwrap(),
            index: len - 8196..len - 4,
            metadata: range(idx.metadata_offset(), idx.metadata_size()),
            slots: pkg
                .descriptors()
                .iter()
                .map(|d| range(d.offset, d.size))
                .collect(),
            descriptors: (0..pkg.slot_count())
                .map(|i| idx.slot_table_offset() as usize + 64 * i)
                .collect(),
        }
    })
}

/// Verify a copy of the base package with `bytes[at] ^= mask`.
fn verify_flipped(at: usize, mask: u8) -> Report {
    verify_flipped_with(at, mask, &VerifyOptions::default())
}

fn verify_flipped_with(at: usize, mask: u8, options: &VerifyOptions) -> Report {
    let mut bytes = base().bytes.clone();
    bytes[at] ^= mask;
    let file = crate::common::temp_file_with(&bytes);
    verify_file(file.path(), options)
}

fn position_in(range: &Range<usize>, pick: prop::sample::Index) -> usize {
    range.start + pick.index(range.len())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_index_byte_flip_fails_the_index_checksum(pick: prop::sample::Index, mask in 1u8..) {
        let at = position_in(&base().index, pick);
        let kinds = verify_flipped(at, mask).failure_kinds();
        prop_assert!(kinds.contains(&ErrorKind::IndexChecksum), "index byte {}: {kinds:?}", at - base().index.start);
    }

    #[test]
    fn any_metadata_byte_flip_fails_the_metadata_checksum(pick: prop::sample::Index, mask in 1u8..) {
        let at = position_in(&base().metadata, pick);
        let kinds = verify_flipped(at, mask).failure_kinds();
        prop_assert!(kinds.contains(&ErrorKind::MetadataChecksum), "metadata byte {at}: {kinds:?}");
    }

    #[test]
    fn any_slot_byte_flip_fails_checksum_and_digest(slot in 0usize..SLOTS, pick: prop::sample::Index, mask in 1u8..) {
        let at = position_in(&base().slots[slot], pick);
        let kinds = verify_flipped(at, mask).failure_kinds();
        prop_assert!(kinds.contains(&ErrorKind::SlotChecksum), "slot {slot} byte {at}: {kinds:?}");
        prop_assert!(kinds.contains(&ErrorKind::SlotDigest), "slot {slot} byte {at}: {kinds:?}");
    }

    /// Bytes 16..32 (offset, size) and 40..56 (operations, checksum) of a descriptor.
    #[test]
    fn any_checked_descriptor_field_flip_is_detected(slot in 0usize..SLOTS, field in 0usize..32, mask in 1u8..) {
        let within = if field < 16 { 16 + field } else { 40 + field - 16 };
        let at = base().descriptors[slot] + within;
        let kinds = verify_flipped(at, mask).failure_kinds();
        let allowed = [
            ErrorKind::Malformed,
            ErrorKind::SlotChecksum,
            ErrorKind::SlotDigest,
            ErrorKind::DescriptorMismatch,
            ErrorKind::UnknownOperation,
        ];
        prop_assert!(kinds.iter().any(|k| allowed.contains(k)), "descriptor {slot} byte {within}: {kinds:?}");
        match within {
            48..56 => prop_assert!(kinds.contains(&ErrorKind::SlotChecksum), "checksum byte {within}: {kinds:?}"),
            40..48 => prop_assert!(
                kinds.contains(&ErrorKind::DescriptorMismatch) || kinds.contains(&ErrorKind::UnknownOperation),
                "operations byte {within}: {kinds:?}"
            ),
            _ => {}
        }
    }

    /// A compressed slot that was tampered with must not stream to a clean end, and the error
    /// it ends with is an integrity error, not a codec error.
    #[test]
    fn streaming_a_tampered_compressed_slot_fails_with_an_integrity_error(slot in 1usize..SLOTS, pick: prop::sample::Index, mask in 1u8..) {
        let range = &base().slots[slot];
        // Half the cases hit the first 4 KiB, where the decoder sees the damage first.
        let at = if pick.index(2) == 0 { range.start + pick.index(range.len().min(4096)) } else { position_in(range, pick) };
        let kind = stream_flipped(at, mask, slot).expect_err("tampered slot streamed cleanly").kind();
        prop_assert!(matches!(kind, ErrorKind::SlotChecksum | ErrorKind::SlotDigest), "slot {slot} byte {at}: {kind:?}");
    }
}

/// Stream slot `slot` of a flipped copy through `slot_reader` to the end; the decoded length.
fn stream_flipped(at: usize, mask: u8, slot: usize) -> Result<u64, Error> {
    let mut bytes = base().bytes.clone();
    bytes[at] ^= mask;
    let file = crate::common::temp_file_with(&bytes);
    let pkg = Package::open(file.path()).unwrap();
    let mut reader = pkg.slot_reader(slot)?;
    let mut buf = vec![0u8; 256];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) => return Err(Error::from_io(e)),
        }
    }
}

#[test]
fn descriptor_hint_bytes_are_not_covered_by_any_check() {
    // purpose, lifecycle, priority, platform, reserved, reserved: writers disagree on them and
    // no reader acts on them, so verification cannot and does not notice a change.
    for (slot, &desc) in base().descriptors.iter().enumerate() {
        for within in 56..62 {
            let report = verify_flipped(desc + within, 0x5A);
            assert!(
                report.is_ok(),
                "slot {slot} hint byte {within}: {:?}",
                report.failure_kinds()
            );
        }
    }
    // The flip really lands in the descriptor the reader parses.
    let mut bytes = base().bytes.clone();
    bytes[base().descriptors[0] + 57] ^= 0x5A;
    let file = crate::common::temp_file_with(&bytes);
    let pkg = Package::open(file.path()).unwrap();
    assert_eq!(pkg.descriptors()[0].lifecycle, 2 ^ 0x5A);
}

#[test]
fn descriptor_permissions_are_not_covered_by_any_check_either() {
    // Bytes 62..64 (permissions) are compared with nothing, although `extract_slot` uses them
    // for file slots; the signed metadata records the same mode as a string.
    for &desc in &base().descriptors {
        for within in 62..64 {
            assert!(verify_flipped(desc + within, 0x01).is_ok(), "byte {within}");
        }
    }
}

#[test]
fn streaming_a_tampered_raw_slot_fails_at_the_end() {
    let range = &base().slots[0];
    let at = range.start + range.len() / 2;
    let mut bytes = base().bytes.clone();
    bytes[at] ^= 0x01;
    let file = crate::common::temp_file_with(&bytes);
    let pkg = Package::open(file.path()).unwrap();
    let mut reader = pkg.slot_reader(0).unwrap();
    let mut buf = vec![0u8; 100];
    let mut delivered = 0usize;
    let err = loop {
        match reader.read(&mut buf) {
            Ok(0) => panic!("tampered slot streamed to a clean end"),
            Ok(n) => delivered += n,
            Err(e) => break Error::from_io(e),
        }
    };
    // The failure comes with the read that reaches the last stored byte, not before: every
    // earlier chunk was handed out.
    assert!(
        range.len() - delivered <= buf.len(),
        "failed after {delivered} bytes"
    );
    assert!(
        matches!(err.kind(), ErrorKind::SlotChecksum | ErrorKind::SlotDigest),
        "{err}"
    );
    // The failure is sticky: reading on never turns it into a clean end of stream.
    for _ in 0..2 {
        let again = reader.read(&mut buf).map_err(Error::from_io);
        assert!(
            matches!(&again, Err(e) if e.kind() == err.kind()),
            "read after the failure gave {again:?}"
        );
    }
    // `finish` on a fresh reader reports the same thing.
    let err = pkg.slot_reader(0).unwrap().finish().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SlotChecksum, "{err}");
}

#[test]
fn a_header_flip_the_decoder_sees_first_is_still_reported_as_tampering() {
    // Byte 0 of a zstd frame / gzip member is magic: the decoder refuses it at once, long before
    // the last stored byte of the 200 KB slot has been hashed.
    for slot in [1, 2, 3] {
        let err = stream_flipped(base().slots[slot].start, 0xFF, slot).unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::SlotChecksum | ErrorKind::SlotDigest),
            "slot {slot}: {err}"
        );
    }
}

#[test]
fn untampered_slots_stream_cleanly() {
    for slot in 0..SLOTS {
        let n = stream_flipped(0, 0, slot).unwrap();
        assert!(n > 0, "slot {slot}");
    }
}

#[test]
fn a_key_outside_the_trusted_set_fails_only_trusted_key() {
    let other = pspf::keys::signing_key_from_seed("test123").verifying_key();
    let options = VerifyOptions {
        trusted_keys: vec![other.into()],
        skip_slots: false,
    };
    let report = verify_flipped_with(0, 0, &options);
    assert_eq!(report.failure_kinds(), vec![ErrorKind::UntrustedKey]);
    let options = VerifyOptions {
        trusted_keys: vec![
            other.into(),
            crate::common::seed_key().verifying_key().into(),
        ],
        skip_slots: false,
    };
    assert!(verify_flipped_with(0, 0, &options).is_ok());
}

#[test]
fn the_untampered_package_passes_every_check() {
    let report = verify_flipped(0, 0);
    assert!(report.is_ok(), "{:?}", report.failure_kinds());
    let names: Vec<&str> = report.checks.iter().map(|c| c.name).collect();
    for name in [
        "structure",
        "index_checksum",
        "package_size",
        "metadata_checksum",
        "signature",
        "key_fingerprint",
        "metadata",
        "slot_operations",
        "slot_checksum",
        "slot_digest",
    ] {
        assert!(names.contains(&name), "missing check {name}: {names:?}");
    }
}
