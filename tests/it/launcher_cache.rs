//! The workenv cache: parallel cold starts extract exactly once, an upgrade in place gets its
//! own workenv without disturbing a running older version, packages sharing a file name never
//! run each other's files, a damaged workenv heals itself, `FLAVOR_WORKENV_CACHE=0` forces a
//! fresh extraction, `volatile` slots come back on every launch and `init` slots are gone
//! after setup.

use serde_json::json;
use std::fs;
use std::time::Duration;
use support::*;

/// A package that prints a data file from its workenv and counts (outside the workenv, in
/// `counter`) how many times its setup ran.
fn counted(sb: &Sandbox, file: &str, data: &str) -> std::path::PathBuf {
    let counter = sb.path("setup-count");
    PackageBuilder::app("counted", "1.0", "cat \"$FLAVOR_WORKENV/share/data.txt\"\n")
        .slot(Slot::tar(
            "share",
            Tar::new()
                .dir("share/")
                .file("share/data.txt", data.as_bytes(), 0o644)
                .finish(),
        ))
        .setup(json!({
            "type": "execute",
            "command": format!("sh -c 'echo $$ >> \"{}\"'", counter.display()),
        }))
        .build(&sb.pkg(file))
}

#[test]
fn parallel_cold_starts_extract_exactly_once() {
    let sb = Sandbox::new();
    let pkg = counted(&sb, "counted.psp", "shared data\n");
    let children: Vec<_> = (0..32).map(|_| start(&mut sb.command(&pkg))).collect();
    for child in children {
        wait(child).clean("shared data\n");
    }
    assert_eq!(
        count_lines(&sb.path("setup-count")),
        1,
        "setup ran more than once"
    );
    assert_eq!(sb.ready_markers("counted").len(), 1);
    assert_eq!(sb.workenvs("counted").len(), 1);
    assert!(sb.staging_dirs("counted").is_empty(), "staging left behind");
    // Warm launches do not extract again.
    sb.run(&pkg, &[]).clean("shared data\n");
    assert_eq!(count_lines(&sb.path("setup-count")), 1);
}

#[test]
fn workenv_cache_off_forces_a_fresh_extraction() {
    let sb = Sandbox::new();
    let pkg = counted(&sb, "counted.psp", "data\n");
    sb.run(&pkg, &[]).clean("data\n");
    let we = &sb.workenvs("counted")[0];
    fs::write(we.join("share/stray.txt"), "left by the app").unwrap();
    for off in ["0", "false"] {
        sb.run_env(&pkg, &[], &[("FLAVOR_WORKENV_CACHE", off)])
            .clean("data\n");
    }
    assert_eq!(count_lines(&sb.path("setup-count")), 3);
    assert!(!we.join("share/stray.txt").exists(), "not a fresh workenv");
    sb.run(&pkg, &[]).clean("data\n");
    assert_eq!(count_lines(&sb.path("setup-count")), 3);
}

/// Version `v` of one package: prints `version <v>: <data.txt>`; with argument `wait` it
/// first waits for the file `go` (so a test can upgrade the package meanwhile).
fn versioned(sb: &Sandbox, v: &str) -> PackageBuilder {
    let body = format!(
        "if [ \"$1\" = wait ]; then\n  touch {started}\n  i=0; while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\nfi\necho \"version {v}: $(cat \"$FLAVOR_WORKENV/data.txt\")\"\n",
        started = sb.path("started").display(),
        go = sb.path("go").display(),
    );
    PackageBuilder::app("upgrader", v, &body).slot(Slot::file(
        "data",
        "{workenv}/data.txt",
        format!("data of {v}"),
        0o644,
    ))
}

#[test]
fn an_upgrade_in_place_runs_the_new_version_and_spares_a_running_old_one() {
    let sb = Sandbox::new();
    let pkg = sb.pkg("upgrader.psp");
    versioned(&sb, "1").build(&pkg);
    sb.run(&pkg, &[]).clean("version 1: data of 1\n");

    // A long-running v1 process, started before the upgrade.
    let old = start(sb.command(&pkg).arg("wait"));
    wait_until("v1 to start", Duration::from_secs(60), || {
        sb.path("started").exists()
    });

    versioned(&sb, "2").build(&pkg);
    sb.run(&pkg, &[]).clean("version 2: data of 2\n");
    sb.run(&pkg, &[]).clean("version 2: data of 2\n");

    fs::write(sb.path("go"), "").unwrap();
    wait(old).clean("version 1: data of 1\n");
    // Two builds, two workenvs; the upstream path points at the newest.
    assert_eq!(sb.workenvs("upgrader").len(), 2);
    let link = fs::read_to_string(sb.cache().join("workenv/upgrader/data.txt")).unwrap();
    assert_eq!(link, "data of 2");
    // Going back to v1 is an upgrade too.
    versioned(&sb, "1").build(&pkg);
    sb.run(&pkg, &[]).clean("version 1: data of 1\n");
}

#[test]
fn packages_sharing_a_file_name_never_run_each_others_files() {
    let sb = Sandbox::new();
    let mut pkgs = Vec::new();
    for dir in ["a", "b"] {
        fs::create_dir(sb.path(dir)).unwrap();
        let out = sb.path(&format!("{dir}/tool.psp"));
        PackageBuilder::app("tool", "1.0", "cat \"$FLAVOR_WORKENV/who\"\n")
            .slot(Slot::file(
                "who",
                "{workenv}/who",
                format!("I am {dir}\n"),
                0o644,
            ))
            .build(&out);
        pkgs.push((dir, out));
    }
    for _ in 0..3 {
        for (dir, pkg) in &pkgs {
            sb.run(pkg, &[]).clean(&format!("I am {dir}\n"));
        }
    }
    assert_eq!(sb.workenvs("tool").len(), 2);
    assert_eq!(sb.ready_markers("tool").len(), 2);
}

#[test]
fn a_deleted_script_run_by_a_system_interpreter_is_extracted_again() {
    let sb = Sandbox::new();
    let pkg = PackageBuilder::new("interp", "1.0", "/bin/sh {workenv}/lib/run.sh")
        .slot(Slot::file(
            "script",
            "{workenv}/lib/run.sh",
            b"echo interpreted\n".to_vec(),
            0o644,
        ))
        .build(&sb.path("interp.psp"));
    sb.run(&pkg, &[]).clean("interpreted\n");
    let we = sb.workenvs("interp")[0].clone();
    fs::remove_file(we.join("lib/run.sh")).unwrap();
    sb.run(&pkg, &[]).clean("interpreted\n");
    assert!(we.join("lib/run.sh").is_file());
}

#[test]
fn a_deleted_executable_or_workenv_is_extracted_again() {
    let sb = Sandbox::new();
    let pkg = counted(&sb, "counted.psp", "intact\n");
    sb.run(&pkg, &[]).clean("intact\n");
    let we = sb.workenvs("counted")[0].clone();

    fs::remove_file(we.join("bin/app")).unwrap();
    sb.run(&pkg, &[]).clean("intact\n");
    assert!(we.join("bin/app").is_file());
    assert_eq!(count_lines(&sb.path("setup-count")), 2);

    fs::remove_dir_all(&we).unwrap();
    sb.run(&pkg, &[]).clean("intact\n");
    assert!(we.join("share/data.txt").is_file());
    assert_eq!(count_lines(&sb.path("setup-count")), 3);

    // A lost completion marker means the workenv cannot be trusted: redone too.
    fs::remove_file(&sb.ready_markers("counted")[0]).unwrap();
    sb.run(&pkg, &[]).clean("intact\n");
    assert_eq!(count_lines(&sb.path("setup-count")), 4);
    assert_eq!(sb.workenvs("counted"), vec![we]);

    // The whole cache root gone.
    fs::remove_dir_all(sb.cache()).unwrap();
    sb.run(&pkg, &[]).clean("intact\n");
    assert_eq!(count_lines(&sb.path("setup-count")), 5);
}

#[test]
fn volatile_slots_come_back_on_every_launch() {
    let sb = Sandbox::new();
    let pkg = PackageBuilder::app(
        "volatile",
        "1.0",
        "cat \"$FLAVOR_WORKENV/state/counter.txt\"\necho changed-by-app > \"$FLAVOR_WORKENV/state/counter.txt\"\ncat \"$FLAVOR_WORKENV/keep.txt\"\necho changed-by-app > \"$FLAVOR_WORKENV/keep.txt\"\n",
    )
    .slot(Slot::file("state", "{workenv}/state/counter.txt", "pristine\n", 0o644).lifecycle("volatile"))
    .slot(Slot::file("keep", "{workenv}/keep.txt", "kept\n", 0o644))
    .build(&sb.pkg("volatile.psp"));
    sb.run(&pkg, &[]).clean("pristine\nkept\n");
    sb.run(&pkg, &[]).clean("pristine\nchanged-by-app\n");
    let we = sb.workenvs("volatile")[0].clone();
    fs::write(we.join("state/counter.txt"), "edited between runs\n").unwrap();
    sb.run(&pkg, &[]).clean("pristine\nchanged-by-app\n");
    fs::remove_file(we.join("state/counter.txt")).unwrap();
    sb.run(&pkg, &[]).clean("pristine\nchanged-by-app\n");
}

#[test]
fn init_slots_are_removed_after_setup() {
    let sb = Sandbox::new();
    let pkg = PackageBuilder::app(
        "initpkg",
        "1.0",
        "cat \"$FLAVOR_WORKENV/etc/seeded.txt\" \"$FLAVOR_WORKENV/etc/from-tar.txt\"\nls \"$FLAVOR_WORKENV\"\n",
    )
    .slot(Slot::file("seed", "{workenv}/init/seed.txt", "seed data\n", 0o644).lifecycle("init"))
    .slot(
        Slot::tar(
            "seedtree",
            Tar::new()
                .dir("bootstrap/")
                .dir("bootstrap/deep/")
                .file("bootstrap/deep/t.txt", b"tar seed\n", 0o644)
                .finish(),
        )
        .lifecycle("init"),
    )
    .setup(json!({"type": "execute",
        "command": "sh -c 'mkdir -p {workenv}/etc && cp {workenv}/init/seed.txt {workenv}/etc/seeded.txt && cp {workenv}/bootstrap/deep/t.txt {workenv}/etc/from-tar.txt'"}))
    .build(&sb.pkg("initpkg.psp"));
    let listing = "bin\netc\ninit\n";
    sb.run(&pkg, &[])
        .clean(&format!("seed data\ntar seed\n{listing}"));
    let we = sb.workenvs("initpkg")[0].clone();
    assert!(!we.join("init/seed.txt").exists());
    assert!(
        !we.join("bootstrap").exists(),
        "the init tar's directories are removed too"
    );
    sb.run(&pkg, &[])
        .clean(&format!("seed data\ntar seed\n{listing}"));
}

/// The version whose `data.txt` each workenv of `upgrader` holds, sorted.
fn unpacked_versions(sb: &Sandbox) -> Vec<String> {
    let mut found: Vec<String> = sb
        .workenvs("upgrader")
        .iter()
        .map(|w| fs::read_to_string(w.join("data.txt")).unwrap())
        .map(|d| d.trim_start_matches("data of ").to_string())
        .collect();
    found.sort();
    found
}

#[test]
fn only_the_newest_builds_stay_unpacked_and_a_running_one_is_never_removed() {
    let sb = Sandbox::new();
    let pkg = sb.pkg("upgrader.psp");
    versioned(&sb, "1").build(&pkg);
    let running = start(sb.command(&pkg).arg("wait"));
    wait_until("v1 to start", Duration::from_secs(60), || {
        sb.path("started").exists()
    });
    for v in 2..=6 {
        versioned(&sb, &v.to_string()).build(&pkg);
        sb.run(&pkg, &[])
            .clean(&format!("version {v}: data of {v}\n"));
    }
    // The newest three by last use, and version 1, which a process still runs from.
    assert_eq!(unpacked_versions(&sb), ["1", "4", "5", "6"]);
    fs::write(sb.path("go"), "").unwrap();
    wait(running).clean("version 1: data of 1\n");
    // Once nothing runs from it, the next new build's first run removes it; the lock files
    // of removed builds go with them.
    versioned(&sb, "7").build(&pkg);
    sb.run(&pkg, &[]).clean("version 7: data of 7\n");
    assert_eq!(unpacked_versions(&sb), ["5", "6", "7"]);
    let locks = fs::read_dir(sb.meta_dir("upgrader").join("versions"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "lock"))
        .count();
    assert_eq!(locks, 3);
    // FLAVOR_WORKENV_KEEP sets how many; 0 keeps every build.
    for v in 8..=9 {
        versioned(&sb, &v.to_string()).build(&pkg);
        sb.run_env(&pkg, &[], &[("FLAVOR_WORKENV_KEEP", "0")]).ok();
    }
    assert_eq!(unpacked_versions(&sb), ["5", "6", "7", "8", "9"]);
    versioned(&sb, "10").build(&pkg);
    sb.run_env(&pkg, &[], &[("FLAVOR_WORKENV_KEEP", "1")]).ok();
    assert_eq!(unpacked_versions(&sb), ["10"]);
}

/// A package whose first launch takes a while to unpack (a 24 MiB slot) and which, with
/// argument `hold`, runs until the file `go` exists (at most 60 s).
fn slow_to_unpack(sb: &Sandbox) -> std::path::PathBuf {
    let body = format!(
        "if [ \"$1\" = hold ]; then\n  i=0; while [ ! -e {go} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\nfi\necho ran\n",
        go = sb.path("go").display(),
    );
    let big: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    PackageBuilder::app("holder", "1.0", &body)
        .slot(Slot::file("big", "{workenv}/big.bin", big, 0o644))
        .build(&sb.pkg("holder.psp"))
}

#[test]
fn cold_launches_racing_a_first_run_never_wait_for_its_command() {
    let sb = Sandbox::new();
    let pkg = slow_to_unpack(&sb);
    // The first launch unpacks, then keeps running; launches started meanwhile find the
    // build unpacked by it and must run at once, not wait until it exits.
    let mut holder = start(sb.command(&pkg).arg("hold"));
    let racers: Vec<_> = (0..8).map(|_| start(&mut sb.command(&pkg))).collect();
    for racer in racers {
        wait(racer).clean("ran\n");
    }
    assert!(
        holder.try_wait().unwrap().is_none(),
        "the racing launches waited for the first launch's command to end"
    );
    fs::write(sb.path("go"), "").unwrap();
    wait(holder).clean("ran\n");
    assert_eq!(sb.workenvs("holder").len(), 1);
}
