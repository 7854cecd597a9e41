//! Builds are reproducible and safe to run side by side: the same repository copied to two
//! different directories (two sandboxes, as two machines) and built in each with the same
//! signing seed and `SOURCE_DATE_EPOCH` gives byte-identical packages; zstd output does not
//! depend on the number of workers (`--jobs 1` vs `--jobs 2`); and two `flavor build`
//! processes on one repository at once both succeed, write what a lone build writes, and
//! leave a cache that a third build finds complete.

use std::fmt::Write as _;
use support::project::{Build, Project};

const MONOREPO_PACKAGES: [&str; 4] = [
    "apps/count/dist/debug/count-linux-x86_64.psp",
    "apps/count/dist/debug/count.psp",
    "apps/greet/dist/debug/greet.psp",
    "apps/stamp/dist/debug/stamp.psp",
];

#[test]
fn two_copies_in_different_directories_build_identical_packages() {
    let a = Project::example_at("monorepo", "a");
    let b = Project::example_at("monorepo", "somewhere/much/deeper/checkout");
    for p in [&a, &b] {
        p.sign_with_seed();
        p.build(&[]);
    }
    for rel in MONOREPO_PACKAGES {
        assert!(
            a.bytes(rel) == b.bytes(rel),
            "{rel} differs between the copies"
        );
    }
    // The same holds for the Python example, and for every intermediate result.
    assert_eq!(a.cas_blobs(), b.cas_blobs());
    let a = Project::example_at("python-app", "one");
    let b = Project::example_at("python-app", "two/levels");
    for p in [&a, &b] {
        p.sign_with_seed();
        p.build(&[]);
    }
    assert!(a.bytes("dist/debug/wordstat.psp") == b.bytes("dist/debug/wordstat.psp"));
}

#[test]
fn source_date_epoch_is_the_only_timestamp() {
    let p = Project::example("hello");
    p.sign_with_seed();
    p.build(&[]);
    let first = p.bytes("dist/debug/hello.psp");
    // Other file times do not matter…
    p.touch_mtime("src/hello.sh");
    p.build(&["--force"]);
    assert!(
        p.bytes("dist/debug/hello.psp") == first,
        "mtimes leaked into the package"
    );
    // …but another SOURCE_DATE_EPOCH is another package.
    let mut cmd = p.command("", &["build", "-q"]);
    cmd.env("SOURCE_DATE_EPOCH", "1800000000");
    support::run(&mut cmd).ok();
    assert!(p.bytes("dist/debug/hello.psp") != first);
}

/// A project with one directory slot of about 20 MiB of deterministic, partly compressible
/// text: larger than zstd's job size at level 3, so two workers really split the work.
fn big_payload_project() -> Project {
    let p = Project::from_files(&[(
        "flavor.toml",
        "[package]\nname = \"big\"\nversion = \"1.0.0\"\n\n[execution]\ncommand = \"{workenv}/bin/show.sh\"\n\n\
         [signing]\nkey_seed_env = \"FLAVOR_TEST_KEY_SEED\"\n\n\
         [[slot]]\nid = \"data\"\nsource = \"data\"\ncodec = \"tar.zst\"\n\n\
         [[slot]]\nid = \"bin\"\nsource = \"show.sh\"\ntarget = \"bin/show.sh\"\npermissions = \"0755\"\n",
    )]);
    p.write(
        "show.sh",
        "#!/bin/sh\ncat \"$FLAVOR_WORKENV\"/data/part-*.txt | cksum\n",
    );
    let words = [
        "alpha", "beta", "gamma", "delta", "flavor", "slot", "zstd", "x",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for part in 0..5 {
        let mut text = String::with_capacity(4 << 20);
        while text.len() < 4 << 20 {
            // xorshift64: stable pseudo-random words and numbers.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let word = words[(state % words.len() as u64) as usize];
            let _ = write!(text, "{word}{} ", state >> 52);
        }
        p.write(&format!("data/part-{part}.txt"), &text);
    }
    p
}

#[test]
fn zstd_output_is_the_same_with_one_and_two_workers() {
    let p = big_payload_project();
    let one = p.build(&["--jobs", "1"]);
    assert_eq!(one.count("started", "archive slot data (tar.zst)"), 1);
    let with_one = p.bytes("dist/debug/big.psp");
    let two = p.build(&["--jobs", "2", "--force"]);
    assert_eq!(two.count("started", "archive slot data (tar.zst)"), 1);
    assert!(
        p.bytes("dist/debug/big.psp") == with_one,
        "zstd output depends on the worker count"
    );
    let run = p.run_package("dist/debug/big.psp", &[]);
    run.ok();
    let direct = support::run(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("cat data/part-*.txt | cksum")
            .current_dir(&p.root),
    );
    assert_eq!(
        run.stdout, direct.stdout,
        "the payload survives the round trip"
    );
}

#[test]
fn two_builds_at_once_both_succeed_and_agree() {
    // A fresh sandbox: the per-user signing key does not exist yet, so both processes also
    // race to create it.
    let p = Project::example_at("monorepo", "shared-checkout");
    let (first, second) = (p.start_build("", &[]), p.start_build("", &[]));
    let (first, second) = (Build::wait(first), Build::wait(second));
    for b in [&first, &second] {
        b.run.ok();
        assert_eq!(b.summary["ok"], true);
        assert_eq!(b.packages().len(), 4);
    }
    let key = p.sandbox.path("xdg-config/flavor/keys/flavor-private.key");
    assert!(key.is_file());
    // A lone build of a second copy, with the key that won, writes exactly the same blobs:
    // neither concurrent process stored a different result (a half-written step output, a
    // package signed with another key).
    let lone = p.another("monorepo", "lone-checkout");
    lone.build(&[]);
    assert_eq!(p.cas_blobs(), lone.cas_blobs());
    for rel in MONOREPO_PACKAGES {
        assert!(p.bytes(rel) == lone.bytes(rel), "{rel} differs");
    }
    // The shared cache is consistent: a third build finds everything.
    let third = p.build(&[]);
    assert_eq!(third.built(), 0, "ran: {:?}", third.ran());
    p.run_package("apps/stamp/dist/debug/stamp.psp", &["abc"])
        .clean("stamp: abc 1a47e90b\n");
}
