//! A first run on a file system that fills up: the launcher stops with a clear error naming the
//! slot and the file it could not write (exit 106), publishes nothing, leaves no staging
//! behind and does not hang with writer threads and frame buffers in flight; once there is
//! room, the next run extracts and runs. The cache is a 2 MiB tmpfs in a private mount
//! namespace (`unshare -m`: root, as CI runs; else the `need` rule).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use support::project::Project;
use support::*;

/// util-linux's `unshare`, if it may make a mount namespace here.
fn unshare() -> Option<PathBuf> {
    let fix = "run the tests as root (CI does) with util-linux's unshare";
    let Some(unshare) = need::on_path("unshare") else {
        return need::missing("`unshare` is not on PATH", fix);
    };
    let probe = Command::new(&unshare)
        .args(["-m", "--propagation", "private", "true"])
        .output()
        .expect("run unshare");
    if !probe.status.success() {
        return need::missing("`unshare -m` is not permitted here", fix);
    }
    Some(unshare)
}

/// `len` bytes of hex text (compresses about 2:1, so the slot is several zstd frames).
fn hex_text(len: usize, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut text = String::with_capacity(len + 16);
    while text.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let _ = write!(text, "{state:016x}");
    }
    text.truncate(len);
    text
}

#[test]
fn a_first_run_that_fills_the_disk_fails_cleanly_and_the_next_one_works() {
    let Some(unshare) = unshare() else { return };
    let p = Project::from_files(&[
        (
            "flavor.toml",
            "[package]\nname = \"full\"\nversion = \"1.0.0\"\n\n\
             [execution]\ncommand = \"{workenv}/bin/show.sh\"\n\n\
             [signing]\nkey_seed_env = \"FLAVOR_TEST_KEY_SEED\"\n\n\
             [[slot]]\nid = \"data\"\nsource = \"data\"\ncodec = \"tar.zst\"\n\n\
             [[slot]]\nid = \"bin\"\nsource = \"show.sh\"\ntarget = \"bin/show.sh\"\npermissions = \"0755\"\n",
        ),
        (
            "show.sh",
            "#!/bin/sh\ncat \"$FLAVOR_WORKENV\"/data/*.txt | wc -c\n",
        ),
    ]);
    let mut total = 0;
    for i in 0..46u64 {
        // Six large files (written in pieces from the frames) and forty small ones.
        let len = if i < 6 { 1 << 20 } else { 3_000 };
        p.write(&format!("data/f{i:02}.txt"), &hex_text(len, i));
        total += len;
    }
    p.build(&[]);
    let cache = p.path("small-disk");
    std::fs::create_dir(&cache).unwrap();
    let script = "mount -t tmpfs -o size=2m,mode=0700 flavor-full \"$CACHE\" || exit 90\n\
         FLAVOR_CACHE=\"$CACHE\" timeout 120 \"$PKG\"; echo \"first=$?\"\n\
         echo \"ready=$(find \"$CACHE\" -name '*.ready' | wc -l) staged=$(find \"$CACHE\"/workenv/.full.pspf/tmp -mindepth 1 | wc -l)\"\n\
         mount -o remount,size=64m \"$CACHE\" || exit 91\n\
         FLAVOR_CACHE=\"$CACHE\" timeout 120 \"$PKG\"; echo \"second=$?\"\n";
    let run = run(Command::new(unshare)
        .args(["-m", "--propagation", "private", "sh", "-c", script])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", p.path("home"))
        .env("PKG", p.path("dist/debug/full.psp"))
        .env("CACHE", &cache));
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        format!("first=106\nready=0 staged=0\n{total}\nsecond=0\n"),
        "{}",
        run.stderr
    );
    for words in [
        "flavor: slot",
        "(data)",
        "No space left on device",
        "/data/",
    ] {
        assert!(run.stderr.contains(words), "{words:?} in {}", run.stderr);
    }
}
