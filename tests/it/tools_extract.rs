//! `flavor extract` and `flavor extract-all` on real packages: every slot of every conformance
//! package decodes to the bytes (and tar entries) its facts record, a package built by
//! `flavor build` gives back its sources, and damage or an occupied destination fails with
//! exit status 1 without leaving anything half-written behind.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use support::tools::{flavor, flavor_in, hello_project, json_of, kit_slots, s, sha256_file, tree};
use support::{Sandbox, flip_byte, kit_dir};

/// Every conformance package with its facts.
fn kit() -> Vec<(String, PathBuf, Value)> {
    let dir = kit_dir().join("packages");
    let mut out: Vec<(String, PathBuf, Value)> = fs::read_dir(&dir)
        .expect("read the kit")
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let name = file.strip_suffix(".expect.json")?.to_string();
            let expect = serde_json::from_slice(&fs::read(e.path()).ok()?).ok()?;
            Some((name.clone(), dir.join(format!("{name}.psp")), expect))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 18, "the kit has 18 packages");
    out
}

/// Check that `written` (a path `flavor extract --json` reported for slot `slot`) holds what
/// the facts say, under `dir`.
fn check_slot(name: &str, dir: &Path, written: &Path, slot: &support::tools::KitSlot) {
    assert!(
        written.starts_with(dir),
        "{name} slot {}: {} is outside {}",
        slot.index,
        written.display(),
        dir.display()
    );
    match &slot.tar_entries {
        Some(entries) => {
            for (entry, kind, sha) in entries {
                let path = dir.join(entry.trim_end_matches('/'));
                match kind.as_str() {
                    "file" => assert_eq!(
                        Some(sha256_file(&path)),
                        sha.clone(),
                        "{name} slot {}: {entry}",
                        slot.index
                    ),
                    "dir" => assert!(path.is_dir(), "{name} slot {}: {entry}", slot.index),
                    _ => assert!(
                        fs::symlink_metadata(&path).is_ok(),
                        "{name} slot {}: {entry}",
                        slot.index
                    ),
                }
            }
        }
        None => assert_eq!(
            sha256_file(written),
            slot.decoded_sha256,
            "{name} slot {}: {}",
            slot.index,
            written.display()
        ),
    }
}

#[test]
fn every_slot_of_every_conformance_package_extracts_to_its_decoded_bytes() {
    let sb = Sandbox::new();
    for (name, psp, expect) in kit() {
        for slot in kit_slots(&expect) {
            let dir = sb.path(&format!("out/{name}-{}", slot.index));
            let out = flavor(
                &sb,
                &[
                    "extract",
                    s(&psp),
                    &slot.index.to_string(),
                    s(&dir),
                    "--json",
                ],
            );
            let report = json_of(&out);
            let slots = report["slots"].as_array().expect("slots");
            assert_eq!(slots.len(), 1, "{name}");
            let written = PathBuf::from(slots[0]["path"].as_str().expect("path"));
            check_slot(&name, &dir, &written, &slot);
        }
    }
}

#[test]
fn extract_all_lays_out_every_slot_and_slots_are_found_by_id() {
    let sb = Sandbox::new();
    for (name, psp, expect) in kit() {
        let dir = sb.path(&format!("all/{name}"));
        let report = json_of(&flavor(&sb, &["extract-all", s(&psp), s(&dir), "--json"]));
        let slots = kit_slots(&expect);
        let written = report["slots"].as_array().expect("slots");
        assert_eq!(written.len(), slots.len(), "{name}");
        for (w, slot) in written.iter().zip(&slots) {
            assert_eq!(w["slot"], slot.index, "{name}");
            check_slot(&name, &dir, Path::new(w["path"].as_str().unwrap()), slot);
        }
        if slots.is_empty() {
            assert!(
                dir.is_dir() && tree(&dir).is_empty(),
                "{name}: an empty dir"
            );
        }
        // The first slot once more, named by its id.
        if let Some(id) = expect["metadata_slot_ids"][0].as_str() {
            let by_id = sb.path(&format!("by-id/{name}"));
            let report = json_of(&flavor(&sb, &["extract", s(&psp), id, s(&by_id), "--json"]));
            assert_eq!(report["slots"][0]["slot"], 0, "{name}: {id}");
            assert_eq!(report["slots"][0]["id"], id, "{name}");
        }
    }
}

#[test]
fn a_package_built_by_flavor_gives_back_its_sources() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    flavor_in(&sb, &project, &["build", "-q"]).ok();
    let out = sb.path("hello-out");
    let text = flavor_in(
        &sb,
        &project,
        &["extract", "dist/debug/hello.psp", "app", s(&out)],
    );
    text.ok();
    assert!(
        text.stdout.starts_with("slot 0 app (tar.zst) → "),
        "{}",
        text.stdout
    );
    assert_eq!(
        fs::read(out.join("bin/hello.sh")).unwrap(),
        fs::read(project.join("src/hello.sh")).unwrap()
    );
}

/// Offset of the middle of slot `i`'s stored bytes, from the facts.
fn slot_middle(expect: &Value, i: usize) -> u64 {
    let d = &expect["descriptors"][i];
    d["offset"].as_u64().unwrap() + d["size"].as_u64().unwrap() / 2
}

#[test]
fn a_damaged_package_fails_with_status_1_and_leaves_no_output() {
    let sb = Sandbox::new();
    let (_, psp, expect) = kit()
        .into_iter()
        .find(|(n, _, _)| n == "rs030-multi")
        .expect("rs030-multi in the kit");
    // Slot 1 (a tgz) damaged: the index and signature still verify; the slot's digest
    // check fails only once it has streamed, after files were already written.
    let slot_damaged = sb.pkg("slot-damaged.psp");
    fs::copy(&psp, &slot_damaged).unwrap();
    flip_byte(&slot_damaged, slot_middle(&expect, 1));
    // The metadata damaged: refused before anything is written.
    let meta_damaged = sb.pkg("meta-damaged.psp");
    fs::copy(&psp, &meta_damaged).unwrap();
    flip_byte(
        &meta_damaged,
        expect["metadata_offset"].as_u64().unwrap() + 20,
    );
    for pkg in [&slot_damaged, &meta_damaged] {
        for args in [
            vec!["extract-all", s(pkg), "new/deeper/out"],
            vec!["extract", s(pkg), "library", "new/deeper/out"],
        ] {
            let out = flavor_in(&sb, &sb.path("pkgs"), &args);
            out.expect_code(1);
            assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
            assert!(
                !sb.path("pkgs/new").exists(),
                "{args:?} left {:?}",
                tree(&sb.path("pkgs"))
            );
            assert_eq!(
                tree(&sb.path("pkgs")),
                ["meta-damaged.psp", "slot-damaged.psp"],
                "nothing but the packages"
            );
        }
    }
    let out = flavor_in(
        &sb,
        &sb.path("pkgs"),
        &["extract", "slot-damaged.psp", "1", "x"],
    );
    assert!(out.stderr.contains("slot 1 (library)"), "{}", out.stderr);
    // The undamaged slots of the same file still extract.
    flavor_in(
        &sb,
        &sb.path("pkgs"),
        &["extract", "slot-damaged.psp", "0", "ok"],
    )
    .ok();
}

#[test]
fn an_occupied_destination_needs_force_and_is_then_replaced_whole() {
    let sb = Sandbox::new();
    let psp = kit_dir().join("packages/rs054-raw.psp");
    let dest = sb.path("dest");
    fs::create_dir(&dest).unwrap();
    // An empty directory is fine.
    flavor(&sb, &["extract", s(&psp), "0", s(&dest)]).ok();
    let before = tree(&dest);
    fs::write(dest.join("mine.txt"), "keep me").unwrap();
    let out = flavor(&sb, &["extract-all", s(&psp), s(&dest)]);
    out.expect_code(1);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(
        fs::read_to_string(dest.join("mine.txt")).unwrap(),
        "keep me"
    );
    // A file in the way counts as occupied too.
    let file = sb.path("a-file");
    fs::write(&file, "x").unwrap();
    flavor(&sb, &["extract", s(&psp), "0", s(&file)]).expect_code(1);
    // The current directory (or a parent) is never replaced, even with --force.
    for here in [".", "..", s(sb.root())] {
        let out = flavor_in(&sb, &dest, &["extract-all", s(&psp), here, "--force"]);
        out.expect_code(1);
        assert!(
            out.stderr.contains("current directory"),
            "{here}: {}",
            out.stderr
        );
    }
    assert!(dest.join("mine.txt").is_file());
    // --force replaces the directory as a whole: the old content is gone.
    flavor(&sb, &["extract-all", s(&psp), s(&dest), "--force"]).ok();
    assert_eq!(tree(&dest), before);
    assert_eq!(
        tree(sb.root())
            .iter()
            .filter(|p| p.contains("flavor-extract"))
            .count(),
        0,
        "no staging directory left"
    );
}

#[test]
fn bad_slots_and_bad_usage_are_reported() {
    let sb = Sandbox::new();
    let psp = kit_dir().join("packages/go054-multi.psp");
    let out = flavor(&sb, &["extract", s(&psp), "nope", "x"]);
    out.expect_code(1);
    assert!(out.stderr.contains("no slot \"nope\""), "{}", out.stderr);
    assert!(out.stderr.contains("0 (runner)"), "{}", out.stderr);
    flavor(&sb, &["extract", s(&psp), "7", "x"]).expect_code(1);
    flavor(&sb, &["extract", "missing.psp", "0", "x"]).expect_code(1);
    let not_a_package = sb.path("not.psp");
    fs::write(&not_a_package, "just text").unwrap();
    flavor(&sb, &["extract-all", s(&not_a_package), "x"]).expect_code(1);
    // Usage errors are clap's: exit status 2.
    flavor(&sb, &["extract", s(&psp)]).expect_code(2);
    flavor(&sb, &["extract-all", s(&psp), "x", "--bogus"]).expect_code(2);
    assert!(!sb.path("x").exists());
    // Every new subcommand explains itself with an example.
    for cmd in [
        "extract",
        "extract-all",
        "keygen",
        "key",
        "workenv",
        "cache",
        "clean",
        "init",
        "import",
        "completions",
    ] {
        let help = flavor(&sb, &[cmd, "--help"]);
        help.ok();
        assert!(
            help.stdout.contains("Example: flavor "),
            "{cmd}:\n{}",
            help.stdout
        );
    }
}
