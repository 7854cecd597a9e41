//! Feeds arbitrary bytes to `pspf::Index::from_trailer` and, whenever an index comes out,
//! calls every accessor on it.
//!
//! Three trailers are tried per input: the raw input as it is (so wrong lengths and magics are
//! exercised), its last 8200 bytes (a whole package file from the seed corpus then yields its
//! real trailer), and a "forced" trailer built from the input with both magics and the format
//! version written in, so that the accessors run on arbitrary index bytes every time. Bytes in
//! front of the last 8200 are read as little-endian u64 offsets for `u64_at` / `u32_at`.
//!
//! Asserts: nothing panics; `from_trailer` accepts exactly the 8200-byte inputs with both
//! magics and the PSPF/2025 version; `raw()` is the middle 8192 bytes; `u64_at`/`u32_at`
//! answer `Some` exactly when the field lies inside the index and then agree with the named
//! accessors and with a plain little-endian read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pspf::index::{FORMAT_VERSION, INDEX_SIZE, MAGIC_END, MAGIC_START, TRAILER_SIZE, offsets};
use pspf::{ErrorKind, Index};

fn le(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn check(trailer: &[u8], extra_offsets: &[usize]) {
    let well_formed = trailer.len() == TRAILER_SIZE
        && trailer[..4] == MAGIC_START
        && trailer[TRAILER_SIZE - 4..] == MAGIC_END;
    let index = match Index::from_trailer(trailer) {
        Ok(index) => index,
        Err(e) => {
            let _ = e.to_string();
            match e.kind() {
                ErrorKind::NotAPackage => assert!(!well_formed, "well-formed trailer refused"),
                ErrorKind::UnsupportedVersion => {
                    assert!(well_formed);
                    assert_ne!(le(&trailer[4..8]) as u32, FORMAT_VERSION);
                }
                other => panic!("from_trailer failed with unexpected kind {other:?}"),
            }
            return;
        }
    };
    assert!(well_formed, "from_trailer accepted a malformed trailer");
    let raw = index.raw();
    assert_eq!(&raw[..], &trailer[4..4 + INDEX_SIZE]);
    assert_eq!(index.format_version(), FORMAT_VERSION);

    // Every named accessor, and what it must agree with.
    let _ = format!("{index:?}");
    let _ = index.computed_checksum();
    let named_u64 = [
        (offsets::PACKAGE_SIZE, index.package_size()),
        (offsets::LAUNCHER_SIZE, index.launcher_size()),
        (offsets::METADATA_OFFSET, index.metadata_offset()),
        (offsets::METADATA_SIZE, index.metadata_size()),
        (offsets::SLOT_TABLE_OFFSET, index.slot_table_offset()),
        (offsets::SLOT_TABLE_SIZE, index.slot_table_size()),
        (offsets::CAPABILITIES, index.capabilities()),
    ];
    for (at, value) in named_u64 {
        assert_eq!(index.u64_at(at), Some(value), "u64 field at {at}");
    }
    let named_u32 = [
        (offsets::FORMAT_VERSION, index.format_version()),
        (offsets::INDEX_CHECKSUM, index.index_checksum()),
        (offsets::SLOT_COUNT, index.slot_count()),
        (offsets::FLAGS, index.flags()),
        (offsets::PAGE_SIZE, index.page_size()),
        (offsets::COMPATIBILITY, index.compatibility()),
        (offsets::PROTOCOL_VERSION, index.protocol_version()),
    ];
    for (at, value) in named_u32 {
        assert_eq!(index.u32_at(at), Some(value), "u32 field at {at}");
    }
    assert_eq!(
        index.public_key()[..],
        raw[offsets::PUBLIC_KEY..offsets::PUBLIC_KEY + 32]
    );
    assert_eq!(
        index.metadata_checksum()[..],
        raw[offsets::METADATA_CHECKSUM..offsets::METADATA_CHECKSUM + 32]
    );
    assert_eq!(
        index.signature()[..],
        raw[offsets::SIGNATURE..offsets::SIGNATURE + 64]
    );
    let _ = index.signature_area_tail_zero();
    for (at, field) in [
        (offsets::KEY_FINGERPRINT, index.key_fingerprint()),
        (offsets::SBOM_DIGEST, index.sbom_digest()),
        (offsets::POLICY_HASH, index.policy_hash()),
    ] {
        let all_zero = raw[at..at + 64].iter().all(|&b| b == 0);
        assert_eq!(field.is_none(), all_zero, "ascii field at {at}");
    }
    let _ = index.layout();
    let cloned = index.clone();
    assert_eq!(cloned.raw(), index.raw());

    // Raw offset reads: boundaries, values found in the index itself, and input-chosen ones.
    let mut probes = vec![
        0,
        1,
        INDEX_SIZE - 8,
        INDEX_SIZE - 7,
        INDEX_SIZE - 4,
        INDEX_SIZE - 3,
        INDEX_SIZE,
        INDEX_SIZE + 1,
        usize::MAX,
        usize::MAX - 3,
        usize::MAX - 7,
    ];
    for v in [
        index.package_size(),
        index.metadata_offset(),
        index.slot_table_offset(),
        u64::from(index.slot_count()),
    ] {
        probes.push(usize::try_from(v).unwrap_or(usize::MAX));
    }
    probes.extend_from_slice(extra_offsets);
    for at in probes {
        let u64_inside = at.checked_add(8).is_some_and(|end| end <= INDEX_SIZE);
        let u32_inside = at.checked_add(4).is_some_and(|end| end <= INDEX_SIZE);
        match index.u64_at(at) {
            Some(v) => {
                assert!(u64_inside, "u64_at({at}) answered past the end");
                assert_eq!(v, le(&raw[at..at + 8]));
            }
            None => assert!(!u64_inside, "u64_at({at}) refused an in-range offset"),
        }
        match index.u32_at(at) {
            Some(v) => {
                assert!(u32_inside, "u32_at({at}) answered past the end");
                assert_eq!(u64::from(v), le(&raw[at..at + 4]));
            }
            None => assert!(!u32_inside, "u32_at({at}) refused an in-range offset"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (head, tail) = data.split_at(data.len().saturating_sub(TRAILER_SIZE));
    let extra: Vec<usize> = head
        .chunks(8)
        .take(64)
        .map(|c| usize::try_from(le(c)).unwrap_or(usize::MAX))
        .collect();

    check(data, &extra);
    if !head.is_empty() {
        check(tail, &extra);
    }

    // A trailer that always parses: magics and version written over the input's bytes.
    let mut forced = vec![0u8; TRAILER_SIZE];
    let n = tail.len().min(TRAILER_SIZE);
    forced[..n].copy_from_slice(&tail[..n]);
    forced[..4].copy_from_slice(&MAGIC_START);
    forced[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    forced[TRAILER_SIZE - 4..].copy_from_slice(&MAGIC_END);
    check(&forced, &extra);
});
