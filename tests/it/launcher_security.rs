//! Refusing damaged and hostile packages: a flipped byte in a slot, the metadata or the index
//! stops a launch under the default (standard) validation with exit 107 and one line naming
//! the problem; `relaxed` runs the damaged slot with a warning; `strict` needs a trusted key.
//! Archive entries that would land outside the workenv (`..`, absolute paths, writes through
//! links) are refused with exit 103, with nothing written outside and nothing marked ready.

use pspf::index::{INDEX_SIZE, TRAILER_SIZE, compute_index_checksum};
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

const MARKER: &[u8] = b"# TAMPER-ME-HERE";

/// A healthy package whose script carries a comment that tampering can change harmlessly.
fn healthy(sb: &Sandbox, file: &str) -> PathBuf {
    PackageBuilder::app("guarded", "1.0", "# TAMPER-ME-HERE\necho guarded ok\n")
        .slot(
            Slot::file("extra", "{workenv}/extra.bin", vec![7u8; 10_000], 0o644)
                .codec(pspf::Codec::Gzip),
        )
        .build(&sb.pkg(file))
}

/// Offset of the index inside the package file.
fn index_at(pkg: &Path) -> u64 {
    fs::metadata(pkg).unwrap().len() - TRAILER_SIZE as u64 + 4
}

/// Rewrite index bytes `at..at+len` with `f`, then store a correct Adler-32 again.
fn edit_index(pkg: &Path, f: impl FnOnce(&mut [u8])) {
    let mut bytes = fs::read(pkg).unwrap();
    let start = index_at(pkg) as usize;
    let raw: &mut [u8; INDEX_SIZE] = (&mut bytes[start..start + INDEX_SIZE]).try_into().unwrap();
    f(&mut raw[..]);
    let sum = compute_index_checksum(raw);
    raw[4..8].copy_from_slice(&sum.to_le_bytes());
    fs::write(pkg, bytes).unwrap();
}

/// Exit 107, one stderr line that mentions `what` and FLAVOR_VALIDATION, nothing extracted.
fn assert_refused(sb: &Sandbox, run: &Run, what: &str) {
    run.expect_code(107);
    assert_eq!(run.stdout, "");
    let lines = run.stderr_lines();
    assert_eq!(lines.len(), 1, "one line expected:\n{}", run.stderr);
    assert!(
        lines[0].to_lowercase().contains(what),
        "{what:?} not named in {:?}",
        lines[0]
    );
    assert!(lines[0].contains("FLAVOR_VALIDATION"), "{:?}", lines[0]);
    assert!(
        sb.ready_markers("guarded").is_empty(),
        "a refused package was marked ready"
    );
    assert!(
        sb.workenvs("guarded").is_empty(),
        "a refused package left a workenv"
    );
}

#[test]
fn a_tampered_slot_is_refused_unless_validation_is_relaxed() {
    let sb = Sandbox::new();
    let pkg = healthy(&sb, "guarded.psp");
    flip_byte(&pkg, find_bytes(&pkg, MARKER) + 3);
    assert_refused(&sb, &sb.run(&pkg, &[]), "slot 0");
    assert!(sb.staging_dirs("guarded").is_empty(), "staging left behind");
    for level in ["relaxed", "minimal"] {
        let r = sb.run_env(
            &pkg,
            &[],
            &[("FLAVOR_VALIDATION", level), ("FLAVOR_WORKENV_CACHE", "0")],
        );
        r.ok();
        assert_eq!(r.stdout, "guarded ok\n");
        assert!(
            r.stderr.contains("warning"),
            "{level}: no warning in {:?}",
            r.stderr
        );
        assert!(r.stderr.contains("slot 0"), "{level}: {:?}", r.stderr);
    }
    // A workenv extracted at a lenient level is not trusted by a standard launch.
    assert_refused_again(&sb, &pkg);
}

fn assert_refused_again(sb: &Sandbox, pkg: &Path) {
    let r = sb.run(pkg, &[]);
    r.expect_code(107);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
}

#[test]
fn tampered_metadata_is_refused() {
    let sb = Sandbox::new();
    let pkg = healthy(&sb, "guarded.psp");
    let at = pspf::Package::open(&pkg).unwrap().index().metadata_offset();
    flip_byte(&pkg, at + 40);
    assert_refused(&sb, &sb.run(&pkg, &[]), "metadata");
}

#[test]
fn a_tampered_index_is_refused_with_or_without_a_fixed_checksum() {
    let sb = Sandbox::new();
    let base = healthy(&sb, "base.psp");
    let pkg = sb.pkg("guarded.psp");
    // A flipped signature byte also breaks the index's Adler-32.
    copy_package(&base, &pkg);
    flip_byte(&pkg, index_at(&pkg) + 128 + 10);
    assert_refused(&sb, &sb.run(&pkg, &[]), "checksum");
    // With the Adler-32 recomputed, the signature itself fails.
    copy_package(&base, &pkg);
    edit_index(&pkg, |raw| raw[128 + 10] ^= 0x01);
    assert_refused(&sb, &sb.run(&pkg, &[]), "signature");
    // Another public key (and a matching Adler-32): the signature no longer verifies.
    copy_package(&base, &pkg);
    let other = pspf::keys::signing_key_from_seed("somebody else");
    edit_index(&pkg, |raw| {
        raw[64..96].copy_from_slice(other.verifying_key().as_bytes());
    });
    assert_refused(&sb, &sb.run(&pkg, &[]), "signature");
    // The untouched original still runs.
    sb.run(&base, &[]).clean("guarded ok\n");
}

#[test]
fn tampering_after_a_warm_launch_is_still_caught() {
    let sb = Sandbox::new();
    let base = healthy(&sb, "base.psp");
    let pkg = copy_package(&base, &sb.pkg("guarded.psp"));
    sb.run(&pkg, &[]).clean("guarded ok\n");
    let at = pspf::Package::open(&pkg).unwrap().index().metadata_offset();
    flip_byte(&pkg, at + 40);
    let r = sb.run(&pkg, &[]);
    r.expect_code(107);
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("FLAVOR_VALIDATION"));
    // A changed signature (same metadata) means another index: full verification again.
    let pkg = copy_package(&base, &sb.pkg("guarded.psp"));
    sb.run(&pkg, &[]).clean("guarded ok\n");
    edit_index(&pkg, |raw| raw[130] ^= 0x01);
    sb.run(&pkg, &[]).expect_code(107);
}

#[test]
fn strict_validation_needs_the_signing_key_in_the_trust_store() {
    let sb = Sandbox::new();
    let pkg = healthy(&sb, "guarded.psp");
    let keys = sb.path("trusted-keys");
    fs::create_dir(&keys).unwrap();
    let strict = |sb: &Sandbox| {
        sb.run_env(
            &pkg,
            &[],
            &[
                ("FLAVOR_VALIDATION", "strict"),
                ("FLAVOR_TRUSTED_KEYS_DIR", keys.to_str().unwrap()),
            ],
        )
    };
    assert_refused(&sb, &strict(&sb), "trust");
    // A standard launch extracts; a strict one afterwards must not ride on that.
    sb.run(&pkg, &[]).clean("guarded ok\n");
    let r = strict(&sb);
    r.expect_code(107);
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    // Somebody else's key does not help.
    let other = pspf::keys::signing_key_from_seed("somebody else").verifying_key();
    fs::write(
        keys.join("other.pub"),
        pspf::keys::public_key_to_pem(&other),
    )
    .unwrap();
    let r = strict(&sb);
    r.expect_code(107);
    assert!(r.stderr.contains("FLAVOR_VALIDATION"), "{}", r.stderr);
    // The signing key does.
    let ours = test_key().verifying_key();
    fs::write(
        keys.join("flavor-tests.pub"),
        pspf::keys::public_key_to_pem(&ours),
    )
    .unwrap();
    strict(&sb).clean("guarded ok\n");
    strict(&sb).clean("guarded ok\n");
    // Withdrawing the trust is noticed by the next (warm) strict launch.
    fs::remove_file(keys.join("flavor-tests.pub")).unwrap();
    let r = strict(&sb);
    r.expect_code(107);
    assert!(r.stderr.contains("trust"), "{}", r.stderr);
    // A standard launch still runs the already-extracted package.
    sb.run(&pkg, &[]).clean("guarded ok\n");
}

/// A package whose only slot is the hostile tar `archive` (plus the app).
fn hostile(sb: &Sandbox, archive: Vec<u8>, extra: Option<Slot>) -> PathBuf {
    let mut b = PackageBuilder::app("hostile", "1.0", "echo should never run\n")
        .slot(Slot::tar("tree", archive));
    if let Some(s) = extra {
        b = b.slot(s);
    }
    b.build(&sb.pkg("hostile.psp"))
}

/// Exit 103 naming the refused path, no completion marker, no workenv, and no file in the
/// sandbox outside the cache root except the package and what the test put there.
fn assert_contained(sb: &Sandbox, pkg: &Path, name_in_error: &str, allowed: &[&Path]) {
    let r = sb.run(pkg, &[]);
    r.expect_code(103);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(name_in_error),
        "{name_in_error:?} not in {:?}",
        r.stderr
    );
    assert!(sb.ready_markers("hostile").is_empty());
    assert!(sb.workenvs("hostile").is_empty());
    assert!(sb.staging_dirs("hostile").is_empty());
    let cache_workenvs = sb.cache().join("workenv");
    for f in files_under(sb.root()) {
        if f.starts_with(&cache_workenvs) || f == pkg || allowed.contains(&f.as_path()) {
            continue;
        }
        // The cache root's own tag file is the only other thing a launch may write.
        assert_eq!(
            f,
            sb.cache().join("CACHEDIR.TAG"),
            "written outside the workenv"
        );
    }
}

#[test]
fn parent_directory_entries_are_refused() {
    let sb = Sandbox::new();
    for name in [
        "../escape.txt",
        "ok/../../escape.txt",
        "../../../escape.txt",
    ] {
        let archive = Tar::new()
            .file("fine.txt", b"ok\n", 0o644)
            .file(name, b"pwned\n", 0o644)
            .finish();
        let pkg = hostile(&sb, archive, None);
        assert_contained(&sb, &pkg, "..", &[]);
    }
}

#[test]
fn absolute_entries_are_refused() {
    let sb = Sandbox::new();
    let target = sb.path("abs-escape.txt");
    let archive = Tar::new()
        .file(target.to_str().unwrap(), b"pwned\n", 0o644)
        .finish();
    let pkg = hostile(&sb, archive, None);
    assert_contained(&sb, &pkg, "absolute", &[]);
    assert!(!target.exists());
}

#[test]
fn writes_through_links_that_leave_the_workenv_are_refused() {
    let sb = Sandbox::new();
    let outside = sb.path("outside");
    fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim.txt");
    fs::write(&victim, "original\n").unwrap();
    let out = outside.to_str().unwrap();

    // A directory link, then a file through it.
    let archive = Tar::new()
        .symlink("link", out)
        .file("link/pwned.txt", b"x\n", 0o644)
        .finish();
    assert_contained(
        &sb,
        &hostile(&sb, archive, None),
        "link/pwned.txt",
        &[&victim],
    );
    // A relative link climbing out, then a file through it.
    let archive = Tar::new()
        .symlink("up", "../../../../../..")
        .file("up/pwned.txt", b"x\n", 0o644)
        .finish();
    assert_contained(
        &sb,
        &hostile(&sb, archive, None),
        "up/pwned.txt",
        &[&victim],
    );
    // A link to an outside file, then a regular entry of the same name: the entry replaces
    // the link (it is never written through it).
    let archive = Tar::new()
        .symlink("victim.txt", victim.to_str().unwrap())
        .file("victim.txt", b"replaced\n", 0o644)
        .finish();
    let pkg = hostile(&sb, archive, None);
    sb.run(&pkg, &[]).clean("should never run\n");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "original\n");
    let we = sb.workenvs("hostile")[0].clone();
    assert!(
        fs::symlink_metadata(we.join("victim.txt"))
            .unwrap()
            .is_file()
    );
    assert_eq!(
        fs::read_to_string(we.join("victim.txt")).unwrap(),
        "replaced\n"
    );
    fs::remove_dir_all(sb.cache()).unwrap();
    // A link to an outside directory, then a directory entry of the same name (whose mode
    // must not be applied through the link) and a file in it.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o700)).unwrap();
    let archive = Tar::new()
        .symlink("d", out)
        .dir("d/")
        .file("d/inside.txt", b"in\n", 0o644)
        .finish();
    sb.run(&hostile(&sb, archive, None), &[])
        .clean("should never run\n");
    let mode = fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the outside directory's mode was changed");
    let we = sb.workenvs("hostile")[0].clone();
    assert!(fs::symlink_metadata(we.join("d")).unwrap().is_dir());
    assert!(we.join("d/inside.txt").is_file());
    fs::remove_dir_all(sb.cache()).unwrap();
    // A tar link under the workenv, then a file slot aimed through it.
    let archive = Tar::new().symlink("etc", out).finish();
    let slot = Slot::file("conf", "{workenv}/etc/app.conf", "x\n", 0o644);
    assert_contained(
        &sb,
        &hostile(&sb, archive, Some(slot)),
        "etc/app.conf",
        &[&victim],
    );
    // A file slot whose own path is a link to an outside file.
    let archive = Tar::new()
        .symlink("conf", victim.to_str().unwrap())
        .finish();
    let slot = Slot::file("conf", "{workenv}/conf", "overwritten\n", 0o644);
    assert_contained(&sb, &hostile(&sb, archive, Some(slot)), "conf", &[&victim]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "original\n");
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
}

#[test]
fn file_slot_targets_outside_the_workenv_are_refused() {
    let sb = Sandbox::new();
    let absolute = sb.path("abs-escape.txt");
    for target in [
        "{workenv}/../escape.txt",
        "../escape.txt",
        absolute.to_str().unwrap(),
    ] {
        let pkg = PackageBuilder::app("hostile", "1.0", "echo never\n")
            .slot(Slot::file("bad", target, "pwned\n", 0o644))
            .build(&sb.pkg("hostile.psp"));
        assert_contained(&sb, &pkg, "bad", &[]);
    }
    assert!(!absolute.exists());
}
