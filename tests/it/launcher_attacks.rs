//! Attacks on the launcher through a package, each mounted on a real package and refused:
//! a tampered `volatile` slot that would plant files the genuine package then runs,
//! `init` cleanup led through links out of the workenv, `workenv.directories` outside the
//! workenv, and the CLI-mode `extract` of a package whose signature fails.

use pspf::index::{INDEX_SIZE, TRAILER_SIZE, compute_index_checksum};
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use support::tools::{flavor, json_of, s};
use support::*;

/// Rewrite the index bytes of `pkg` with `f`, then store a correct Adler-32 again.
fn edit_index(pkg: &Path, f: impl FnOnce(&mut [u8])) {
    let mut bytes = fs::read(pkg).unwrap();
    let start = bytes.len() - TRAILER_SIZE + 4;
    let raw: &mut [u8; INDEX_SIZE] = (&mut bytes[start..start + INDEX_SIZE]).try_into().unwrap();
    f(&mut raw[..]);
    let sum = compute_index_checksum(raw);
    raw[4..8].copy_from_slice(&sum.to_le_bytes());
    fs::write(pkg, bytes).unwrap();
}

/// Overwrite the stored bytes of slot `i` of `pkg` with `bytes` (of the same length).
fn replace_slot_bytes(pkg: &Path, i: usize, bytes: &[u8]) {
    let d = pspf::Package::open(pkg).unwrap().descriptors()[i].clone();
    assert_eq!(
        d.size,
        bytes.len() as u64,
        "the replacement must keep the size"
    );
    let mut all = fs::read(pkg).unwrap();
    let at = d.offset as usize;
    all[at..at + bytes.len()].copy_from_slice(bytes);
    fs::write(pkg, all).unwrap();
}

/// A trusted-keys directory holding the test key.
fn trusting_the_test_key(sb: &Sandbox) -> PathBuf {
    let keys = sb.path("trusted-keys");
    fs::create_dir_all(&keys).unwrap();
    fs::write(
        keys.join("tests.pub"),
        pspf::keys::public_key_to_pem(&test_key().verifying_key()),
    )
    .unwrap();
    keys
}

/// The hook package: its command sources every `hooks/*.sh` of its volatile slot.
fn hooked(sb: &Sandbox) -> PathBuf {
    let tree = Tar::new()
        .dir("hooks/")
        .file("hooks/0.sh", b"echo genuine hook\n", 0o644)
        .file("state/a.txt", b"state\n", 0o644)
        .finish();
    PackageBuilder::app(
        "hooked",
        "1.0",
        "for f in \"$FLAVOR_WORKENV\"/hooks/*.sh; do . \"$f\"; done\n",
    )
    .slot(Slot::tar("hooks", tree).lifecycle("volatile"))
    .build(&sb.pkg("hooked.psp"))
}

/// Issue 12 item 1: a copy of the package with its volatile slot's bytes replaced (no key
/// needed: the index is the same, so it is the same cache entry) is refused, and what it
/// carried never reaches the workenv the genuine package runs — under standard and under
/// strict with the publisher's key trusted; `flavor workenv list` shows a valid entry that
/// holds only genuine files.
#[test]
fn a_tampered_volatile_slot_plants_nothing_the_genuine_package_runs() {
    let sb = Sandbox::new();
    let genuine = hooked(&sb);
    let evil_tree = Tar::new()
        .dir("hooks/")
        .file("hooks/0.sh", b"echo genuine hook\n", 0o644)
        .file("hooks/1.sh", b"echo PLANTED\n", 0o644)
        .finish();
    fs::create_dir(sb.path("evil")).unwrap();
    let evil = copy_package(&genuine, &sb.path("evil/hooked.psp"));
    replace_slot_bytes(&evil, 1, &evil_tree);
    let keys = trusting_the_test_key(&sb);
    for level in ["standard", "strict"] {
        let env = [
            ("FLAVOR_VALIDATION", level),
            ("FLAVOR_TRUSTED_KEYS_DIR", s(&keys)),
        ];
        sb.run_env(&genuine, &[], &env).clean("genuine hook\n");
        let r = sb.run_env(&evil, &[], &env);
        r.expect_code(107);
        assert_eq!(r.stdout, "", "{level}: the tampered copy ran");
        assert!(r.stderr.contains("slot 1"), "{level}: {}", r.stderr);
        sb.run_env(&genuine, &[], &env).clean("genuine hook\n");
        let we = sb.workenvs("hooked")[0].clone();
        assert!(
            !we.join("hooks/1.sh").exists(),
            "{level}: a planted file stayed"
        );
        assert!(
            sb.staging_dirs("hooked").is_empty(),
            "{level}: staging left"
        );
    }
    let list = json_of(&flavor(&sb, &["workenv", "list", "--json"]));
    assert_eq!(list["workenvs"][0]["status"], "valid", "{list}");
    // A damaged copy of a compressed volatile slot is refused just the same.
    let big: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let zpkg = PackageBuilder::app("zvol", "1.0", "wc -c < \"$FLAVOR_WORKENV/state.bin\"\n")
        .slot(
            Slot::file("state", "{workenv}/state.bin", big.clone(), 0o644)
                .codec(pspf::Codec::Zstd)
                .lifecycle("volatile"),
        )
        .build(&sb.pkg("zvol.psp"));
    sb.run(&zpkg, &[]).clean(&format!("{}\n", big.len()));
    let zevil = copy_package(&zpkg, &sb.path("evil/zvol.psp"));
    let d = pspf::Package::open(&zevil).unwrap().descriptors()[1].clone();
    flip_byte(&zevil, d.offset + d.size / 2);
    sb.run(&zevil, &[]).expect_code(107);
    let we = sb.workenvs("zvol")[0].clone();
    assert_eq!(fs::read(we.join("state.bin")).unwrap(), big);
    sb.run(&zpkg, &[]).clean(&format!("{}\n", big.len()));
}

/// Issue 12 item 3: links that setup made where `init` slots were never lead the cleanup
/// out of the workenv: what they point at survives, the package runs.
#[test]
fn init_cleanup_never_follows_a_link_out_of_the_workenv() {
    let sb = Sandbox::new();
    let outside = sb.path("outside");
    fs::create_dir_all(outside.join("tree/deep")).unwrap();
    fs::write(outside.join("victim.txt"), "keep\n").unwrap();
    fs::write(outside.join("tree/deep/file.txt"), "keep\n").unwrap();
    let relink = format!(
        "sh -c 'rm -rf {{workenv}}/seed {{workenv}}/data && ln -s {o} {{workenv}}/seed && ln -s {o} {{workenv}}/data'",
        o = outside.display()
    );
    let pkg = PackageBuilder::app("initlinks", "1.0", "echo ran\n")
        .slot(
            Slot::tar(
                "seedtree",
                Tar::new()
                    .dir("seed/")
                    .file("seed/victim.txt", b"seed\n", 0o644)
                    .dir("seed/tree/")
                    .finish(),
            )
            .lifecycle("init"),
        )
        .slot(Slot::file("seedfile", "{workenv}/data/tree", "seed\n", 0o644).lifecycle("init"))
        .setup(json!({"type": "execute", "command": relink}))
        .build(&sb.pkg("initlinks.psp"));
    sb.run(&pkg, &[]).clean("ran\n");
    assert_eq!(
        fs::read_to_string(outside.join("victim.txt")).unwrap(),
        "keep\n"
    );
    assert_eq!(
        fs::read_to_string(outside.join("tree/deep/file.txt")).unwrap(),
        "keep\n"
    );
    // The links themselves are what setup made; they stay.
    let we = sb.workenvs("initlinks")[0].clone();
    assert!(fs::symlink_metadata(we.join("seed")).unwrap().is_symlink());
    sb.run(&pkg, &[]).clean("ran\n");
}

/// Issue 12 item 8: `workenv.directories` outside the workenv — absolute, climbing out with
/// `..`, or through a link a slot left — refuse the package before anything is created or
/// chmod'ed outside.
#[test]
fn workenv_directories_outside_the_workenv_are_refused() {
    let sb = Sandbox::new();
    let outside = sb.path("outside");
    fs::create_dir(&outside).unwrap();
    fs::set_permissions(&outside, fs::Permissions::from_mode(0o700)).unwrap();
    let absolute = outside.join("abs-dir");
    let climbing = sb.path("escape-dir");
    for path in [
        s(&absolute).to_string(),
        "{workenv}/../../../../escape-dir".to_string(),
        "../escape-dir".to_string(),
    ] {
        let pkg = PackageBuilder::app("dirs", "1.0", "echo never\n")
            .workenv_dir("{workenv}/var", "0755")
            .workenv_dir(&path, "0777")
            .build(&sb.pkg("dirs.psp"));
        let r = sb.run(&pkg, &[]);
        r.expect_code(103);
        assert_eq!(r.stdout, "");
        assert_eq!(r.stderr_lines().len(), 1, "{path}: {}", r.stderr);
        assert!(r.stderr.contains("workenv.directories"), "{}", r.stderr);
        assert!(r.stderr.contains(&path), "{path} not named: {}", r.stderr);
        assert!(!absolute.exists() && !climbing.exists(), "{path}: created");
        assert!(sb.ready_markers("dirs").is_empty());
        assert!(sb.workenvs("dirs").is_empty());
    }
    // Through a link a tar slot placed in the workenv.
    let pkg = PackageBuilder::app("dirs", "1.0", "echo never\n")
        .slot(Slot::tar(
            "links",
            Tar::new().symlink("lnk", s(&outside)).finish(),
        ))
        .workenv_dir("{workenv}/lnk/made", "0777")
        .build(&sb.pkg("dirs.psp"));
    let r = sb.run(&pkg, &[]);
    r.expect_code(103);
    assert!(r.stderr.contains("workenv.directories"), "{}", r.stderr);
    assert!(!outside.join("made").exists());
    let mode = fs::metadata(&outside).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the outside directory's mode was changed");
    assert!(sb.ready_markers("dirs").is_empty());
    assert!(sb.workenvs("dirs").is_empty());
}

/// Issue 12 item 9: CLI-mode `extract` applies the checks `flavor extract` applies: content
/// from a package whose signature fails (the attacker's slot, claiming the publisher's key)
/// or whose slot digest fails is refused, and nothing is left in the output directory.
#[test]
fn cli_extract_refuses_a_package_whose_signature_fails() {
    let sb = Sandbox::new();
    let mut builder = PackageBuilder::app("clipkg", "2.0", "echo evil\n").slot(Slot::file(
        "notes",
        "{workenv}/doc/notes.txt",
        "attacker notes\n",
        0o644,
    ));
    builder.seed = "attacker".into();
    let pkg = builder.build(&sb.pkg("clipkg.psp"));
    let publisher = test_key().verifying_key();
    edit_index(&pkg, |raw| {
        raw[64..96].copy_from_slice(publisher.as_bytes());
    });
    let out = sb.path("out");
    let cli = |pkg: &Path, out: &Path| {
        sb.run_env(
            pkg,
            &["extract", "notes", s(out)],
            &[("FLAVOR_LAUNCHER_CLI", "1")],
        )
    };
    let r = cli(&pkg, &out);
    r.expect_code(107);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("signature"), "{}", r.stderr);
    assert!(!out.exists(), "content of a forged package was written");
    // `flavor extract` refuses the same file.
    let f = flavor(&sb, &["extract", s(&pkg), "notes", s(&out)]);
    f.expect_code(1);
    assert!(!out.exists());

    // A genuine package whose slot bytes were damaged: refused, no partial output, even
    // into a directory that already holds files.
    let genuine = PackageBuilder::app("clipkg", "2.0", "echo ok\n")
        .slot(Slot::file(
            "notes",
            "{workenv}/doc/notes.txt",
            vec![b'n'; 200_000],
            0o644,
        ))
        .build(&sb.pkg("genuine.psp"));
    let damaged = copy_package(&genuine, &sb.pkg("damaged.psp"));
    let d = pspf::Package::open(&damaged).unwrap().descriptors()[1].clone();
    flip_byte(&damaged, d.offset + d.size - 10);
    fs::create_dir(&out).unwrap();
    fs::write(out.join("mine.txt"), "mine\n").unwrap();
    cli(&damaged, &out).expect_code(107);
    assert_eq!(files_under(&out), vec![out.join("mine.txt")]);
    assert_eq!(
        fs::read_dir(sb.root()).unwrap().count(),
        7,
        "staging left behind"
    );
    cli(&genuine, &out).ok();
    assert_eq!(
        fs::read(out.join("doc/notes.txt")).unwrap(),
        vec![b'n'; 200_000]
    );
    assert!(out.join("mine.txt").is_file());
}
