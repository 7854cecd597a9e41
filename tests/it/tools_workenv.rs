//! `flavor workenv list|info|clean|remove` over real launcher caches: packages built by
//! `flavor build` and run with the sandbox's cache root (found as the launcher finds it), an
//! upgrade beside the old build, a crash's leftovers, a damaged workenv, and a workenv in the
//! layout upstream FlavorPack launchers write.

use serde_json::Value;
use std::fs::{self, File, FileTimes};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use support::tools::{flavor, flavor_in, hello_project, json_of, s};
use support::{Sandbox, kit_dir};

/// A hello package built in the sandbox (`<sandbox>/hello/dist/debug/hello.psp`) and run once.
fn hello_ran(sb: &Sandbox) -> PathBuf {
    let project = hello_project(sb, "hello");
    flavor_in(sb, &project, &["build", "-q"]).ok();
    let psp = project.join("dist/debug/hello.psp");
    sb.run(&psp, &["world"]).ok();
    psp
}

fn workenvs(sb: &Sandbox) -> Vec<Value> {
    let list = json_of(&flavor(sb, &["workenv", "list", "--json"]));
    assert_eq!(list["root"], s(&sb.cache()));
    list["workenvs"].as_array().unwrap().clone()
}

fn info(sb: &Sandbox, name: &str) -> Value {
    json_of(&flavor(sb, &["workenv", "info", name, "--json"]))
}

/// Set a file's (or directory's) access and change times `days` days back.
fn age(path: &Path, days: u64) {
    let t = SystemTime::now() - Duration::from_secs(days * 86_400);
    File::open(path)
        .and_then(|f| f.set_times(FileTimes::new().set_accessed(t).set_modified(t)))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn a_package_run_shows_up_with_version_size_last_use_and_status() {
    let sb = Sandbox::new();
    let psp = hello_ran(&sb);
    let all = workenvs(&sb);
    assert_eq!(all.len(), 1, "{all:?}");
    let w = &all[0];
    assert_eq!(w["name"], "hello");
    assert_eq!(w["layout"], "flavor");
    assert_eq!(
        (w["package"].as_str(), w["version"].as_str()),
        (Some("hello"), Some("0.1.0"))
    );
    assert_eq!(w["status"], "valid");
    assert!(w["size"].as_u64().unwrap() > 0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let last = w["last_use"].as_u64().unwrap();
    assert!(
        last <= now && now - last < 600,
        "last use {last}, now {now}"
    );

    // info by name or by the package's path; one build, the current one.
    let by_path = info(&sb, s(&psp));
    assert_eq!(by_path, info(&sb, "hello"));
    let versions = by_path["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0]["state"], "current");
    assert!(
        Path::new(versions[0]["path"].as_str().unwrap())
            .join("bin/hello.sh")
            .is_file()
    );

    let human = flavor(&sb, &["workenv", "list"]);
    human.ok();
    assert!(human.stdout.contains("hello 0.1.0"), "{}", human.stdout);
    assert!(human.stdout.contains("valid"), "{}", human.stdout);
}

#[test]
fn the_cache_root_is_found_as_the_launcher_finds_it() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    flavor_in(&sb, &project, &["build", "-q"]).ok();
    let psp = project.join("dist/debug/hello.psp");
    // Without FLAVOR_CACHE: $XDG_CACHE_HOME/flavor, then ~/.cache/flavor.
    for (unset, root) in [
        (vec!["FLAVOR_CACHE"], sb.path("xdg-cache/flavor")),
        (
            vec!["FLAVOR_CACHE", "XDG_CACHE_HOME"],
            sb.path("home/.cache/flavor"),
        ),
    ] {
        let mut launch = sb.command(&psp);
        let mut list = support::tools::flavor_cmd(&sb, sb.root(), &["workenv", "list", "--json"]);
        for var in &unset {
            launch.env_remove(var);
            list.env_remove(var);
        }
        support::run(launch.arg("x")).ok();
        let listed = json_of(&support::run(&mut list));
        assert_eq!(listed["root"], s(&root), "without {unset:?}");
        assert_eq!(listed["workenvs"][0]["name"], "hello", "without {unset:?}");
        assert!(root.join("workenv/hello").exists());
    }
    // --cache names one explicitly.
    let other = json_of(&flavor(
        &sb,
        &[
            "workenv",
            "--cache",
            s(&sb.path("xdg-cache/flavor")),
            "list",
            "--json",
        ],
    ));
    assert_eq!(other["workenvs"].as_array().unwrap().len(), 1);
}

#[test]
fn an_upgrade_keeps_the_old_build_until_it_goes_unused() {
    let sb = Sandbox::new();
    let psp = hello_ran(&sb);
    let project = psp.ancestors().nth(3).unwrap().to_path_buf();
    let mut script = fs::read_to_string(project.join("src/hello.sh")).unwrap();
    script.push_str("echo upgraded\n");
    fs::write(project.join("src/hello.sh"), script).unwrap();
    flavor_in(&sb, &project, &["build", "-q"]).ok();
    assert!(sb.run(&psp, &[]).stdout.contains("upgraded"));

    let w = info(&sb, "hello");
    assert_eq!(w["status"], "valid");
    let states: Vec<&str> = w["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"].as_str().unwrap())
        .collect();
    let mut sorted = states.clone();
    sorted.sort();
    assert_eq!(sorted, ["current", "inactive"], "{w}");

    // Nothing is broken, so a plain clean keeps both builds.
    let kept = json_of(&flavor(&sb, &["workenv", "clean", "--json"]));
    assert_eq!(kept["removed"], serde_json::json!([]));

    // The old build unused for 40 days goes with --older-than 30; the current one stays.
    let old = w["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["state"] == "inactive")
        .unwrap();
    let hash = old["hash"].as_str().unwrap();
    let versions = sb.meta_dir("hello").join("versions");
    // Its last use is its lock file's time.
    age(&versions.join(format!("{hash}.lock")), 40);
    let cleaned = json_of(&flavor(
        &sb,
        &["workenv", "clean", "--older-than", "30", "--json"],
    ));
    let removed = cleaned["removed"].as_array().unwrap();
    assert_eq!(removed.len(), 1, "{cleaned}");
    assert_eq!(removed[0]["build"], hash);
    assert!(!versions.join(hash).exists());
    let w = info(&sb, "hello");
    assert_eq!(w["versions"].as_array().unwrap().len(), 1);
    assert_eq!(w["versions"][0]["state"], "current");
    let run = sb.run(&psp, &[]);
    assert!(run.stdout.contains("upgraded"), "{}", run.stdout);
}

#[test]
fn crash_leftovers_and_damage_are_stale_and_cleaned() {
    let sb = Sandbox::new();
    let psp = hello_ran(&sb);
    let meta = sb.meta_dir("hello");
    // What a first run killed mid-way leaves beside a healthy build: a build without its
    // completion marker and a staging directory.
    fs::create_dir_all(meta.join("versions/0123456789abcdef/bin")).unwrap();
    fs::create_dir_all(meta.join("tmp/0123456789abcdef.4242/bin")).unwrap();
    let w = info(&sb, "hello");
    assert_eq!(w["status"], "valid", "{w}");
    let states: Vec<&str> = w["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["state"].as_str().unwrap())
        .collect();
    assert!(states.contains(&"incomplete"), "{w}");

    let dry = json_of(&flavor(&sb, &["workenv", "clean", "--dry-run", "--json"]));
    assert_eq!(dry["removed"].as_array().unwrap().len(), 2, "{dry}");
    assert_eq!(
        dry["removed"][0]["removed"], false,
        "a dry run removes nothing"
    );
    assert!(meta.join("tmp/0123456789abcdef.4242").exists());
    let out = flavor(&sb, &["workenv", "clean"]);
    out.ok();
    for what in ["incomplete", "leftover staging directory"] {
        assert!(out.stdout.contains(what), "{what}:\n{}", out.stdout);
    }
    assert!(!meta.join("versions/0123456789abcdef").exists());
    assert!(sb.staging_dirs("hello").is_empty());
    assert_eq!(sb.workenvs("hello").len(), 1, "the healthy build stays");

    // The build in use loses its command: stale; clean removes the workenv.
    let current = sb.workenvs("hello").remove(0);
    fs::remove_file(current.join("bin/hello.sh")).unwrap();
    let w = info(&sb, "hello");
    assert_eq!(w["status"], "stale", "{w}");
    assert!(w["reason"].as_str().unwrap().contains("damaged"), "{w}");
    let human = flavor(&sb, &["workenv", "list"]);
    assert!(
        human.stdout.contains("stale: the linked build is damaged"),
        "{}",
        human.stdout
    );
    flavor(&sb, &["workenv", "clean"]).ok();
    assert!(sb.workenvs("hello").is_empty());
    // The next run unpacks again and all is well.
    assert!(sb.run(&psp, &["again"]).stdout.contains("again"));
    assert_eq!(info(&sb, "hello")["status"], "valid");
}

#[test]
fn upstream_layout_workenvs_are_listed_checked_and_removed() {
    let sb = Sandbox::new();
    let root = sb.cache().join("workenv");
    let (dir, meta) = (root.join("legacy"), root.join(".legacy.pspf"));
    fs::create_dir_all(dir.join("bin")).unwrap();
    fs::write(dir.join("bin/hello.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::create_dir_all(meta.join("instance/extract")).unwrap();
    fs::create_dir_all(meta.join("package")).unwrap();
    fs::copy(
        kit_dir().join("packages/rs030-raw.metadata.json"),
        meta.join("package/psp.json"),
    )
    .unwrap();
    fs::write(meta.join("instance/package.checksum"), "ab0b45f0").unwrap();
    fs::write(meta.join("instance/extract/complete"), "").unwrap();
    let expected: Value =
        serde_json::from_slice(&fs::read(meta.join("package/psp.json")).unwrap()).unwrap();

    let w = info(&sb, "legacy");
    assert_eq!(w["layout"], "upstream");
    assert_eq!(w["package"], expected["package"]["name"]);
    assert_eq!(w["version"], expected["package"]["version"]);
    assert_eq!(w["status"], "valid", "{w}");
    assert!(w["size"].as_u64().unwrap() > 0);

    // Unfinished (no completion marker): stale, and clean removes it whole — but not while
    // the upstream lock file names a live process (here: this test).
    fs::remove_file(meta.join("instance/extract/complete")).unwrap();
    assert_eq!(info(&sb, "legacy")["status"], "stale");
    let lock = meta.join("instance/extract/lock");
    fs::write(&lock, format!("{}\n", std::process::id())).unwrap();
    let busy = flavor(&sb, &["workenv", "clean"]);
    busy.ok();
    assert!(busy.stdout.contains("skipped legacy"), "{}", busy.stdout);
    assert!(dir.exists());
    fs::remove_file(&lock).unwrap();
    flavor(&sb, &["workenv", "clean"]).ok();
    assert!(!dir.exists() && !meta.exists());
    assert!(workenvs(&sb).is_empty());
}

#[test]
fn remove_deletes_one_workenv_and_the_package_unpacks_again() {
    let sb = Sandbox::new();
    let psp = hello_ran(&sb);
    // While a launcher holds a build's extraction lock, the workenv is left alone.
    let lock = fs::read_dir(sb.meta_dir("hello").join("versions"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "lock"))
        .expect("the first run's lock file");
    let held = File::open(&lock).unwrap();
    held.lock().unwrap();
    let busy = flavor(&sb, &["workenv", "remove", "hello"]);
    busy.expect_code(1);
    assert!(
        busy.stderr.contains("a launcher is unpacking it"),
        "{}",
        busy.stderr
    );
    assert!(sb.meta_dir("hello").exists());
    drop(held);
    let out = flavor(&sb, &["workenv", "remove", "hello"]);
    out.ok();
    assert!(out.stdout.starts_with("removed hello"), "{}", out.stdout);
    assert!(!sb.cache().join("workenv/hello").exists());
    assert!(!sb.meta_dir("hello").exists());
    assert!(workenvs(&sb).is_empty());
    for bad in ["hello", "..", ".hello.pspf", "nothing-here"] {
        let out = flavor(&sb, &["workenv", "remove", bad]);
        out.expect_code(1);
        assert!(out.stderr.starts_with("error: "), "{bad}: {}", out.stderr);
    }
    flavor(&sb, &["workenv", "info"]).expect_code(2);
    assert!(sb.run(&psp, &["back"]).stdout.contains("back"));
    // A whole workenv unused for long goes with clean --older-than.
    for marker in sb.ready_markers("hello") {
        age(&marker, 10);
        age(&marker.with_extension("lock"), 10);
    }
    for p in [
        sb.meta_dir("hello").join("package/psp.json"),
        sb.meta_dir("hello").join("instance/package.checksum"),
        sb.meta_dir("hello").join("instance/extract/complete"),
    ] {
        age(&p, 10);
    }
    for v in sb.workenvs("hello") {
        age(&v, 10);
    }
    let kept = json_of(&flavor(
        &sb,
        &["workenv", "clean", "--older-than", "30", "--json"],
    ));
    assert_eq!(kept["removed"], serde_json::json!([]));
    let gone = json_of(&flavor(
        &sb,
        &["workenv", "clean", "--older-than", "7", "--json"],
    ));
    assert_eq!(gone["removed"][0]["name"], "hello", "{gone}");
    assert!(gone["removed"][0]["build"].is_null());
    assert!(workenvs(&sb).is_empty());
}

#[test]
fn every_launch_records_its_use_and_clean_reports_that_use() {
    let sb = Sandbox::new();
    let psp = hello_ran(&sb);
    let hash = info(&sb, "hello")["versions"][0]["hash"]
        .as_str()
        .unwrap()
        .to_string();
    let lock = sb
        .meta_dir("hello")
        .join("versions")
        .join(format!("{hash}.lock"));
    // A use two days ago, then a warm launch now: the last use is now, to the second.
    age(&lock, 2);
    let two_days = info(&sb, "hello")["versions"][0]["last_use"]
        .as_u64()
        .unwrap();
    sb.run(&psp, &["again"]).ok();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let version = &info(&sb, "hello")["versions"][0];
    let last = version["last_use"].as_u64().unwrap();
    assert!(last > two_days + 86_400, "{version}");
    assert!(now - last < 60, "last use {last}, now {now}");
    // Two launches a moment apart: the second is recorded too.
    age(&lock, 1);
    sb.run(&psp, &["twice"]).ok();
    let last = info(&sb, "hello")["versions"][0]["last_use"]
        .as_u64()
        .unwrap();
    assert!(now.abs_diff(last) < 60, "last use {last}, now {now}");

    // --older-than 0 removes it, naming when it was last used — not the cutoff.
    let at = info(&sb, "hello")["last_use_at"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(1100));
    let dry = flavor(&sb, &["workenv", "clean", "--older-than", "0", "--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout.contains(&format!("last used {at}")),
        "{at}: {}",
        dry.stdout
    );
}
