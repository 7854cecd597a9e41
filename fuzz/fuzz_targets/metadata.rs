//! Feeds arbitrary bytes to `pspf::metadata::gunzip_metadata` and to `pspf::Metadata::from_json`:
//! the raw input goes to both (the gzip seeds reach the JSON parser through `gunzip_metadata`,
//! the plain JSON seeds reach it directly), and whatever `gunzip_metadata` returns is parsed
//! as well.
//!
//! Asserts: nothing panics; `gunzip_metadata` never returns more than `MAX_METADATA_JSON`
//! bytes, however far the input would expand; for every input `from_json` accepts, `to_canonical_json` succeeds,
//! its output parses again to an equal `Metadata`, and canonicalising that copy gives the same
//! bytes (the canonical form is a fixed point); the per-slot helpers (`destination`, `sha256`,
//! `digest_matches`, `mode`) never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pspf::Metadata;
use pspf::metadata::{MAX_METADATA_JSON, gunzip_metadata};

fn check_json(bytes: &[u8]) {
    let meta = match Metadata::from_json(bytes) {
        Ok(meta) => meta,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for slot in &meta.slots {
        let _ = slot.destination();
        let _ = slot.sha256();
        let _ = slot.digest_matches(&[0xab; 32]);
        let _ = slot.mode();
    }
    let canonical = meta
        .to_canonical_json()
        .expect("accepted metadata must serialise canonically");
    let again = Metadata::from_json(&canonical).unwrap_or_else(|e| {
        panic!(
            "canonical JSON does not parse back: {e}\n{}",
            String::from_utf8_lossy(&canonical)
        )
    });
    assert_eq!(
        again, meta,
        "canonical JSON parses back to different metadata"
    );
    let canonical_again = again
        .to_canonical_json()
        .expect("re-parsed metadata must serialise canonically");
    assert_eq!(
        canonical_again, canonical,
        "canonical JSON is not a fixed point"
    );
}

fuzz_target!(|data: &[u8]| {
    match gunzip_metadata(data) {
        Ok(json) => {
            assert!(json.len() as u64 <= MAX_METADATA_JSON, "unbounded metadata");
            check_json(&json)
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    check_json(data);
});
