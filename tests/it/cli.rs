//! The `flavor verify` and `flavor inspect` commands, run as a user runs them: on every package
//! of the conformance kit, on damaged copies, with trusted keys, and with bad input.

use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::kit::{KitPackage, kit_dir, kit_packages, xor_byte as flip_byte};

fn flavor(args: &[&str], package: &Path) -> Output {
    cargo_bin_cmd!("flavor")
        .args(args)
        .arg(package)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", stdout(o)))
}

fn kit_package(name: &str) -> PathBuf {
    kit_dir().join("packages").join(format!("{name}.psp"))
}

fn key_file(pair: &str) -> String {
    let path = kit_dir().join("keys").join(pair).join("flavor-public.key");
    path.to_str().unwrap().to_string()
}

/// A copy of a kit package in `dir` with `bytes[offset] ^= 0xFF`.
fn tampered_copy(dir: &Path, name: &str, offset: u64) -> PathBuf {
    let copy = dir.join(format!("{name}.psp"));
    fs::copy(kit_package(name), &copy).unwrap();
    flip_byte(&copy, offset, 0xFF);
    copy
}

#[test]
fn verify_passes_every_kit_package() {
    for KitPackage { name, psp, .. } in kit_packages() {
        let out = flavor(&["verify"], &psp);
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}:\n{text}{}",
            stderr(&out)
        );
        assert!(text.contains("✓ signature\n"), "{name}:\n{text}");
        assert!(text.contains("✓ index_checksum\n"), "{name}:\n{text}");
        assert!(!text.contains('✗'), "{name}:\n{text}");
        assert!(text.contains("ok: all checks passed"), "{name}:\n{text}");
    }
}

#[test]
fn verify_json_reports_ok_with_every_check() {
    for KitPackage {
        name, psp, expect, ..
    } in kit_packages()
    {
        let out = flavor(&["verify", "--json"], &psp);
        assert_eq!(out.status.code(), Some(0), "{name}");
        let report = json_of(&out);
        assert_eq!(report["ok"], true, "{name}");
        let checks = report["checks"].as_array().unwrap();
        let status = |check: &str| {
            checks
                .iter()
                .find(|c| c["check"] == check)
                .map(|c| c["status"].as_str().unwrap().to_string())
        };
        assert_eq!(status("signature").as_deref(), Some("pass"), "{name}");
        assert_eq!(status("trusted_key").as_deref(), Some("skip"), "{name}");
        assert!(checks.iter().all(|c| c["status"] != "fail"), "{name}");
        let slot_checks = checks
            .iter()
            .filter(|c| c["check"] == "slot_digest")
            .count();
        assert_eq!(
            slot_checks as u64,
            expect["slot_count"].as_u64().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn verify_names_the_failed_check_of_a_tampered_copy() {
    let dir = tempfile::tempdir().unwrap();
    let expect: Value = kit_packages()
        .into_iter()
        .find(|p| p.name == "rs054-multi")
        .unwrap()
        .expect;
    // One byte of slot 1 (the tar.gz library).
    let slot = &expect["descriptors"][1];
    let at = slot["offset"].as_u64().unwrap() + slot["size"].as_u64().unwrap() / 2;
    let copy = tampered_copy(dir.path(), "rs054-multi", at);

    let out = flavor(&["verify"], &copy);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✗ slot_checksum [slot 1 library]"), "{text}");
    assert!(text.contains("✗ slot_digest [slot 1 library]"), "{text}");
    assert!(text.contains("✓ slot_checksum [slot 0 runner]"), "{text}");
    assert!(text.contains("FAILED: 2 check(s) failed"), "{text}");
    assert!(stderr(&out).contains("slot_checksum"), "{}", stderr(&out));

    let out = flavor(&["verify", "--json"], &copy);
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out);
    assert_eq!(report["ok"], false);
    let failed: Vec<(&str, &str)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| (c["check"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        failed,
        [
            ("slot_checksum", "SlotChecksum"),
            ("slot_digest", "SlotDigest")
        ]
    );

    // A damaged index (here: slot_table_offset) is reported as an index checksum failure.
    let len = fs::metadata(kit_package("rs054-multi")).unwrap().len();
    let copy = tampered_copy(dir.path(), "rs054-multi", len - 8196 + 45);
    let out = flavor(&["verify"], &copy);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("✗ index_checksum"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn trusted_key_passes_with_the_signing_key_and_fails_with_another() {
    let seed_package = kit_package("rs030-raw");
    let out = flavor(
        &["verify", "--trusted-key", &key_file("conformance-seed")],
        &seed_package,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("✓ trusted_key"), "{}", stdout(&out));

    let out = flavor(
        &["verify", "--trusted-key", &key_file("keygen")],
        &seed_package,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("✗ trusted_key"), "{}", stdout(&out));
    let out = flavor(
        &["verify", "--json", "--trusted-key", &key_file("keygen")],
        &seed_package,
    );
    let report = json_of(&out);
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "trusted_key")
        .unwrap()
        .clone();
    assert_eq!(
        (check["status"].as_str(), check["kind"].as_str()),
        (Some("fail"), Some("UntrustedKey"))
    );

    // Any of several keys will do; a bare hex key works too.
    let keygen_package = kit_package("rs030-raw-pemkey");
    let args = [
        "verify",
        "--trusted-key",
        &key_file("conformance-seed"),
        "--trusted-key",
        &key_file("keygen"),
    ];
    assert_eq!(flavor(&args, &keygen_package).status.code(), Some(0));
    let hex_key = "5a581725545d533c8cffb0b658c762fd8caa216122eafce3adf486c41e9e37a3";
    assert_eq!(
        flavor(&["verify", "--trusted-key", hex_key], &seed_package)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        flavor(&["verify", "--trusted-key", hex_key], &keygen_package)
            .status
            .code(),
        Some(1)
    );

    // A key that is not a key is an error, not a silent pass.
    let out = flavor(&["verify", "--trusted-key", "not-a-key"], &seed_package);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--trusted-key not-a-key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn missing_and_non_package_files_fail_with_a_message_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.psp");
    let not_a_package = dir.path().join("notes.txt");
    fs::write(&not_a_package, "just some text\n".repeat(1000)).unwrap();
    for command in ["verify", "inspect"] {
        let out = flavor(&[command], &missing);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = stderr(&out);
        assert!(
            err.contains("missing.psp") && err.to_lowercase().contains("no such file"),
            "{command}: {err}"
        );
        assert!(
            err.matches("No such file").count() <= 1,
            "{command}: message repeated: {err}"
        );

        let out = flavor(&[command], &not_a_package);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = stderr(&out);
        assert!(
            err.contains("notes.txt") && err.contains("not a PSPF/2025 package"),
            "{command}: {err}"
        );
    }
}

#[test]
fn bad_flags_exit_2() {
    let package = kit_package("rs030-raw");
    for command in ["verify", "inspect"] {
        let out = flavor(&[command, "--no-such-flag"], &package);
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(stderr(&out).contains("--no-such-flag"), "{}", stderr(&out));
    }
    let out = cargo_bin_cmd!("flavor").arg("verify").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "missing PACKAGE argument");
}

#[test]
fn inspect_shows_name_version_and_slots() {
    for KitPackage {
        name,
        psp,
        metadata_json,
        expect,
    } in kit_packages()
    {
        let meta: Value = serde_json::from_slice(&fs::read(&metadata_json).unwrap()).unwrap();
        let out = flavor(&["inspect"], &psp);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        let first = text.lines().next().unwrap();
        let title = format!(
            "{} {}",
            meta["package"]["name"].as_str().unwrap(),
            meta["package"]["version"].as_str().unwrap()
        );
        assert!(first.starts_with(&title), "{name}: {first}");
        let count = expect["slot_count"].as_u64().unwrap();
        assert!(
            text.contains(&format!("slots     {count}\n")),
            "{name}:\n{text}"
        );
        for id in expect["metadata_slot_ids"].as_array().unwrap() {
            assert!(
                text.contains(id.as_str().unwrap()),
                "{name}: slot {id} not listed"
            );
        }
    }
}

#[test]
fn inspect_json_reports_index_slots_metadata_and_upstream_compatibility() {
    for KitPackage {
        name,
        psp,
        metadata_json,
        expect,
    } in kit_packages()
    {
        let out = flavor(&["inspect", "--json"], &psp);
        assert_eq!(out.status.code(), Some(0), "{name}");
        let v = json_of(&out);
        let meta: Value = serde_json::from_slice(&fs::read(&metadata_json).unwrap()).unwrap();
        assert_eq!(v["metadata"], meta, "{name}");
        assert_eq!(v["file_size"], expect["file_size"], "{name}");
        for field in [
            "slot_count",
            "metadata_offset",
            "package_size",
            "public_key",
            "index_checksum",
        ] {
            assert_eq!(v["index"][field], expect[field], "{name}: index.{field}");
        }
        let slots = v["slots"].as_array().unwrap();
        assert_eq!(
            slots.len() as u64,
            expect["slot_count"].as_u64().unwrap(),
            "{name}"
        );
        for (s, d) in slots.iter().zip(expect["descriptors"].as_array().unwrap()) {
            assert_eq!(
                (&s["offset"], &s["size"]),
                (&d["offset"], &d["size"]),
                "{name}"
            );
            assert_eq!(s["permissions"], d["permissions"], "{name}");
        }

        let compatible = v["upstream_compatible"]
            .as_bool()
            .expect("upstream_compatible");
        let rules = v["upstream_incompatibilities"].as_array().unwrap();
        assert_eq!(compatible, rules.is_empty(), "{name}");
        if name.starts_with("rs030-") {
            assert!(compatible, "{name}: {rules:?}");
        }
        if name.starts_with("go054-") {
            assert!(!compatible, "{name}");
            let primary = rules.iter().any(|r| {
                r["rule"] == "metadata" && r["detail"].as_str().unwrap().contains("primary_slot")
            });
            assert!(primary, "{name}: {rules:?}");
        }
    }
}
