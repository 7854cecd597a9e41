//! Crash safety of the first run: a launcher killed with SIGKILL while it extracts, or while
//! setup commands run, leaves nothing a later launch trusts (no completion marker), and the
//! next launch cleans up, extracts again and runs.

use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::*;

/// Number of files in the big tar slot: enough that extracting takes a while (each file is a
/// create + write + chmod + utime), small enough to build quickly.
const FILES: usize = 4_000;
/// Size of the big raw slot (pseudo-random, so no codec could shrink it).
const BIG: usize = 64 * 1024 * 1024;

/// splitmix64 bytes: incompressible, deterministic.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn big_package(sb: &Sandbox) -> PathBuf {
    let mut tree = Tar::new().dir("many/");
    for i in 0..FILES {
        tree = tree.file(
            format!("many/f{i:05}.txt"),
            format!("file {i}\n").as_bytes(),
            0o644,
        );
    }
    let blob = sb.path("blob.bin");
    fs::write(&blob, noise(BIG, 7)).unwrap();
    let mut big = Slot::file("blob", "{workenv}/data/blob.bin", Vec::new(), 0o644);
    big.content = Content::File(blob.clone());
    let pkg = PackageBuilder::app(
        "bigpkg",
        "1.0",
        "ls \"$FLAVOR_WORKENV/many\" | wc -l\nwc -c < \"$FLAVOR_WORKENV/data/blob.bin\"\ncat \"$FLAVOR_WORKENV/many/f00042.txt\"\n",
    )
    .slot(Slot::tar("tree", tree.finish()))
    .slot(big)
    .build(&sb.pkg("bigpkg.psp"));
    fs::remove_file(blob).unwrap();
    pkg
}

fn expected_output() -> String {
    format!("{FILES}\n{BIG}\nfile 42\n")
}

/// Entries anywhere below `dir` (0 when it does not exist).
fn entries_below(dir: &Path) -> usize {
    files_under(dir).len()
}

#[test]
fn sigkill_during_extraction_leaves_nothing_trusted_and_the_next_launch_recovers() {
    let sb = Sandbox::new();
    let pkg = big_package(&sb);
    let mut child = start(&mut sb.command(&pkg));
    let pid = child.id();
    // Kill as soon as the private staging directory has some files in it.
    wait_until("extraction to begin", Duration::from_secs(120), || {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the launcher exited before extraction was seen"
        );
        sb.staging_dirs("bigpkg")
            .iter()
            .any(|d| entries_below(d) >= 100)
    });
    send_signal(pid, "KILL");
    let killed = wait(child);
    assert_eq!(
        killed.signal,
        Some(9),
        "the launcher finished before the kill: {killed:?}"
    );

    // What the crash left: an unfinished staging directory, nothing published or marked.
    let staging = sb.staging_dirs("bigpkg");
    assert_eq!(staging.len(), 1, "{staging:?}");
    assert!(
        entries_below(&staging[0]) < FILES + 2,
        "extraction had finished"
    );
    assert!(
        sb.ready_markers("bigpkg").is_empty(),
        "an incomplete workenv was marked ready"
    );
    assert!(
        sb.workenvs("bigpkg").is_empty(),
        "an incomplete workenv was published"
    );
    assert!(!sb.cache().join("workenv/bigpkg").exists());

    // The next launch cleans up and extracts everything.
    sb.run(&pkg, &[]).clean(&expected_output());
    assert!(
        sb.staging_dirs("bigpkg").is_empty(),
        "the crashed staging was not removed"
    );
    assert_eq!(sb.ready_markers("bigpkg").len(), 1);
    let we = &sb.workenvs("bigpkg")[0];
    assert_eq!(fs::read_dir(we.join("many")).unwrap().count(), FILES);
    assert_eq!(
        fs::metadata(we.join("data/blob.bin")).unwrap().len(),
        BIG as u64
    );
    sb.run(&pkg, &[]).clean(&expected_output());
}

#[test]
fn sigkill_during_setup_leaves_a_workenv_that_the_next_launch_redoes() {
    let sb = Sandbox::new();
    let block = sb.path("block");
    let setup_pid = sb.path("setup-pid");
    let counter = sb.path("setup-done");
    let script = format!(
        "if [ -e {block} ]; then echo $$ > {pid}.tmp; mv {pid}.tmp {pid}; exec sleep 120; fi; echo done >> {counter}",
        block = block.display(),
        pid = setup_pid.display(),
        counter = counter.display(),
    );
    let pkg = PackageBuilder::app("slowsetup", "1.0", "cat \"$FLAVOR_WORKENV/etc/where\"\n")
        .setup(
            json!({"type": "write_file", "path": "{workenv}/etc/where", "content": "{workenv}\n"}),
        )
        .setup(json!({"type": "execute", "command": format!("sh -c '{script}'")}))
        .build(&sb.pkg("slowsetup.psp"));
    fs::write(&block, "").unwrap();

    let child = start(&mut sb.command(&pkg));
    wait_until("the setup command", Duration::from_secs(60), || {
        setup_pid.exists()
    });
    send_signal(child.id(), "KILL");
    assert_eq!(wait(child).signal, Some(9));
    // Stop the orphaned setup command too.
    let orphan = fs::read_to_string(&setup_pid).unwrap();
    send_signal(orphan.trim().parse().unwrap(), "KILL");

    // Published (setup runs in the final path) but never marked complete.
    assert_eq!(sb.workenvs("slowsetup").len(), 1);
    assert!(sb.ready_markers("slowsetup").is_empty());
    assert_eq!(count_lines(&counter), 0);

    fs::remove_file(&block).unwrap();
    let we = sb.workenvs("slowsetup")[0].clone();
    sb.run(&pkg, &[]).clean(&format!("{}\n", we.display()));
    assert_eq!(count_lines(&counter), 1);
    assert_eq!(sb.ready_markers("slowsetup").len(), 1);
    sb.run(&pkg, &[]).clean(&format!("{}\n", we.display()));
    assert_eq!(
        count_lines(&counter),
        1,
        "a warm launch must not run setup again"
    );
}
