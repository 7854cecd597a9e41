//! `flavor verify` and `flavor inspect` on what upstream writers produce. A self-referential
//! (`$SELF`) slot — an all-zero descriptor and `self_ref: true` in the signed metadata, as the
//! Rust and Go writers record it — verifies, exactly as the launcher runs it and `extract-all`
//! unpacks the package (its checksum is not checked), and `inspect` says that the 0.5.4
//! launchers refuse such a package. A placeholder in `execution.env` is reported for the
//! launchers that pass it literally (Rust 0.3.0, Go 0.5.4), not for every one.

use ed25519_dalek::Signer;
use pspf::descriptor::SlotDescriptor;
use pspf::index::{TRAILER_SIZE, compute_index_checksum, offsets};
use pspf::metadata::{canonical_json, gzip_metadata};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use support::tools::{flavor, json_of, s};
use support::*;

/// Re-sign `pkg`'s metadata with the test key after `edit`, and replace descriptor `i` by
/// `desc`: what a writer other than flavor's would have produced. The new metadata must still
/// fit before the first slot (the page padding there absorbs small changes).
fn rewrite(pkg: &Path, edit: impl FnOnce(&mut Value), i: usize, desc: SlotDescriptor) {
    let opened = pspf::Package::open(pkg).unwrap();
    let mut meta: Value = serde_json::from_slice(opened.metadata_json().unwrap()).unwrap();
    edit(&mut meta);
    let json = canonical_json(&meta).unwrap();
    let gz = gzip_metadata(&json);
    let meta_at = opened.index().metadata_offset() as usize;
    let table_at = (meta_at + gz.len()).div_ceil(8) * 8;
    let mut descriptors = opened.descriptors().to_vec();
    descriptors[i] = desc;
    let first_slot = descriptors
        .iter()
        .filter(|d| d.size > 0)
        .map(|d| d.offset as usize)
        .min()
        .unwrap();
    assert!(table_at + 64 * descriptors.len() <= first_slot, "no room");
    let mut index = *opened.index().raw();
    drop(opened);

    let old = fs::read(pkg).unwrap();
    let mut out = old[..meta_at].to_vec();
    out.extend_from_slice(&gz);
    out.resize(table_at, 0);
    for d in &descriptors {
        out.extend_from_slice(&d.to_bytes());
    }
    out.resize(first_slot, 0);
    out.extend_from_slice(&old[first_slot..old.len() - TRAILER_SIZE]);
    let put = |index: &mut [u8; 8192], at: usize, bytes: &[u8]| {
        index[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(
        &mut index,
        offsets::METADATA_SIZE,
        &(gz.len() as u64).to_le_bytes(),
    );
    put(
        &mut index,
        offsets::SLOT_TABLE_OFFSET,
        &(table_at as u64).to_le_bytes(),
    );
    put(&mut index, offsets::METADATA_CHECKSUM, &Sha256::digest(&gz));
    put(
        &mut index,
        offsets::SIGNATURE,
        &test_key().sign(&json).to_bytes(),
    );
    let sum = compute_index_checksum(&index);
    put(&mut index, offsets::INDEX_CHECKSUM, &sum.to_le_bytes());
    out.extend_from_slice(&old[old.len() - TRAILER_SIZE..old.len() - TRAILER_SIZE + 4]);
    out.extend_from_slice(&index);
    out.extend_from_slice(&old[old.len() - 4..]);
    assert_eq!(out.len(), old.len());
    fs::write(pkg, out).unwrap();
}

/// A package whose slot 1 is `$SELF`, recorded as the upstream Rust writer records it.
fn self_ref_package(sb: &Sandbox) -> PathBuf {
    let pkg = PackageBuilder::app("selfref", "1.0", "echo ran\n")
        .slot(Slot::file(
            "self",
            "{workenv}/bin/selfref",
            Vec::new(),
            0o755,
        ))
        .build(&sb.pkg("selfref.psp"));
    let zero = SlotDescriptor::parse(&[0u8; 64]);
    rewrite(
        &pkg,
        |meta| {
            let slot = meta["slots"][1].as_object_mut().unwrap();
            slot.insert("source".into(), "$SELF".into());
            slot.insert("self_ref".into(), true.into());
            slot.insert("checksum".into(), "".into());
            slot.insert("operations".into(), "".into());
            slot.insert("size".into(), 0.into());
            slot.remove("decoded_size");
        },
        1,
        zero,
    );
    pkg
}

#[test]
fn a_self_referential_slot_verifies_as_the_launcher_runs_it() {
    let sb = Sandbox::new();
    let pkg = self_ref_package(&sb);
    // The launcher and extract-all accept it...
    sb.run(&pkg, &[]).clean("ran\n");
    let out = sb.path("out");
    flavor(&sb, &["extract-all", s(&pkg), s(&out)]).ok();
    assert!(out.join("bin/app").is_file());
    assert!(
        !out.join("bin/selfref").exists(),
        "a $SELF slot is not unpacked"
    );
    // ...and so does verify, saying why the slot's bytes are not checked.
    let run = flavor(&sb, &["verify", s(&pkg)]);
    run.ok();
    assert!(
        run.stdout.contains(
            "- slot_checksum [slot 1 self]: skipped (self refers to the package itself ($SELF) and has no bytes)"
        ),
        "{}",
        run.stdout
    );
    let report = json_of(&flavor(&sb, &["verify", "--json", s(&pkg)]));
    assert_eq!(report["ok"], true);
    // A slot that merely has no bytes is still checked: only `self_ref` exempts it.
    let plain = PackageBuilder::app("plain", "1.0", "echo ran\n")
        .slot(Slot::file("empty", "{workenv}/empty", Vec::new(), 0o644))
        .build(&sb.pkg("plain.psp"));
    let mut zero = SlotDescriptor::parse(&[0u8; 64]);
    zero.id = 1;
    rewrite(&plain, |_| {}, 1, zero);
    let run = flavor(&sb, &["verify", s(&plain)]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("✗ slot_checksum [slot 1 empty]"),
        "{}",
        run.stdout
    );
}

#[test]
fn inspect_says_which_upstream_launchers_refuse_a_package_and_why() {
    let sb = Sandbox::new();
    let pkg = self_ref_package(&sb);
    let run = flavor(&sb, &["inspect", s(&pkg)]);
    run.ok();
    assert!(
        run.stdout.contains(
            "- [rust-0.5.4, go-0.5.4] self-ref: slot 1 (self) refers to the package itself ($SELF); 0.5.4 launchers"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("refuse the package"), "{}", run.stdout);

    let env = PackageBuilder::app("envph", "1.0", "echo ran\n")
        .exec_env("DATA", "{workenv}/data")
        .build(&sb.pkg("envph.psp"));
    let report = json_of(&flavor(&sb, &["inspect", "--json", s(&env)]));
    let found: Vec<&Value> = report["upstream_incompatibilities"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rule"] == "env-placeholder")
        .collect();
    assert_eq!(found.len(), 1, "{report:#}");
    assert_eq!(found[0]["launchers"], "rust-0.3.0, go-0.5.4");
    let detail = found[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Rust 0.3.0 and Go 0.5.4 pass it literally (Rust 0.5.4 expands it)"),
        "{detail}"
    );
}
