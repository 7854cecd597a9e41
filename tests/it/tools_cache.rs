//! `flavor cache stats|gc` and `flavor clean` on real build caches: the hit rate `flavor build`
//! records, garbage collection that keeps exactly what the current manifests use (plus the
//! newest other results within `--max-size`), and cleaning that removes packages and cache but
//! nothing that is not flavor's.

use serde_json::Value;
use std::fs;
use std::path::Path;
use support::Sandbox;
use support::tools::{flavor_in, hello_project, json_of, s};

fn stats(sb: &Sandbox, dir: &Path) -> Value {
    json_of(&flavor_in(sb, dir, &["cache", "stats", "--json"]))
}

/// `flavor build --json` in `dir`; returns (built, cached) of its summary.
fn build(sb: &Sandbox, dir: &Path) -> (u64, u64) {
    let out = flavor_in(sb, dir, &["build", "--json"]);
    out.ok();
    let summary: Value = serde_json::from_str(out.stdout.lines().last().unwrap()).unwrap();
    (
        summary["built"].as_u64().unwrap(),
        summary["cached"].as_u64().unwrap(),
    )
}

/// Replace the hello script with a variant (a content change that rebuilds every action).
fn variant(project: &Path, n: u32) {
    fs::write(
        project.join("src/hello.sh"),
        format!("#!/bin/sh\necho \"variant {n}: $*\"\n"),
    )
    .unwrap();
}

#[test]
fn stats_show_entries_bytes_and_the_hit_rate_of_the_last_build() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    let empty = stats(&sb, &project);
    assert_eq!(empty["exists"], false);
    assert_eq!(empty["last_build"], Value::Null);
    assert_eq!(empty["dir"], s(&project.join(".flavor/cache")));

    let (built, cached) = build(&sb, &project);
    assert!(built > 0 && cached == 0);
    let first = stats(&sb, &project);
    assert_eq!(first["entries"].as_u64(), Some(built));
    assert!(first["blobs"].as_u64().unwrap() >= built);
    assert!(first["bytes"].as_u64().unwrap() > 0);
    assert_eq!(first["last_build"]["built"].as_u64(), Some(built));
    assert_eq!(first["last_build"]["hit_rate"].as_f64(), Some(0.0));

    assert_eq!(build(&sb, &project), (0, built));
    let second = stats(&sb, &project);
    assert_eq!(second["last_build"]["cached"].as_u64(), Some(built));
    assert_eq!(second["last_build"]["hit_rate"].as_f64(), Some(1.0));
    let human = flavor_in(&sb, &project, &["cache", "stats"]);
    human.ok();
    assert!(human.stdout.contains("hit rate 100%"), "{}", human.stdout);

    // `flavor run` records its build too, and FLAVOR_BUILD_CACHE moves the cache.
    let elsewhere = sb.path("shared-cache");
    let mut cmd = support::tools::flavor_cmd(&sb, &project, &["run", "--", "x"]);
    cmd.env("FLAVOR_BUILD_CACHE", &elsewhere);
    support::run(&mut cmd).ok();
    let mut cmd = support::tools::flavor_cmd(&sb, &project, &["cache", "stats", "--json"]);
    cmd.env("FLAVOR_BUILD_CACHE", &elsewhere);
    let moved = json_of(&support::run(&mut cmd));
    assert_eq!(moved["dir"], s(&elsewhere));
    assert_eq!(moved["last_build"]["built"].as_u64(), Some(built));
}

#[test]
fn gc_keeps_what_the_manifests_use_and_drops_the_rest() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    variant(&project, 1);
    let (built, _) = build(&sb, &project);
    variant(&project, 2);
    build(&sb, &project);
    let before = stats(&sb, &project);
    assert_eq!(before["entries"].as_u64(), Some(2 * built));

    let dry = json_of(&flavor_in(
        &sb,
        &project,
        &["cache", "gc", "--dry-run", "--json"],
    ));
    assert_eq!(dry["removed_entries"].as_u64(), Some(built));
    assert_eq!(stats(&sb, &project)["entries"], before["entries"]);

    let gc = json_of(&flavor_in(&sb, &project, &["cache", "gc", "--json"]));
    assert_eq!(gc["removed_entries"].as_u64(), Some(built), "{gc}");
    assert_eq!(gc["used_by_manifests"].as_u64(), Some(built), "{gc}");
    assert!(gc["freed"].as_u64().unwrap() > 0);
    let after = stats(&sb, &project);
    assert_eq!(after["entries"].as_u64(), Some(built));
    assert!(after["bytes"].as_u64() < before["bytes"].as_u64());
    // What the manifests use is all still there: nothing to build.
    assert_eq!(build(&sb, &project), (0, built));
    // What they no longer use is gone: variant 1 builds again.
    variant(&project, 1);
    assert_eq!(build(&sb, &project), (built, 0));
    let out = support::run(sb.command(&project.join("dist/hello.psp")).arg("ok"));
    assert_eq!(out.stdout, "variant 1: ok\n");
}

#[test]
fn gc_max_size_keeps_the_newest_unused_results_that_fit() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    for n in 1..=3 {
        variant(&project, n);
        build(&sb, &project);
    }
    let total = stats(&sb, &project)["bytes"].as_u64().unwrap();
    // Everything fits: nothing goes.
    let all = json_of(&flavor_in(
        &sb,
        &project,
        &["cache", "gc", "--max-size", "1G", "--json"],
    ));
    assert_eq!(all["removed_entries"], 0);
    // One byte short of everything: the newest unused results (variant 2) stay, variant 1's
    // go.
    let limit = (total - 1).to_string();
    let some = json_of(&flavor_in(
        &sb,
        &project,
        &["cache", "gc", "--max-size", &limit, "--json"],
    ));
    assert!(some["removed_entries"].as_u64().unwrap() > 0, "{some}");
    variant(&project, 2);
    assert_eq!(build(&sb, &project).0, 0, "variant 2 was kept");
    variant(&project, 1);
    assert!(build(&sb, &project).0 > 0, "variant 1 was dropped");
    // Sizes are checked as the command line is parsed.
    flavor_in(&sb, &project, &["cache", "gc", "--max-size", "5X"]).expect_code(2);
}

#[test]
fn clean_removes_packages_and_the_cache_and_nothing_else() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    let mut manifest = fs::read_to_string(project.join("flavor.toml")).unwrap();
    manifest.push_str(
        "\n[[target]]\nname = \"one\"\n\n[[target]]\nname = \"two\"\noutput = \"out/two.psp\"\n",
    );
    fs::write(project.join("flavor.toml"), manifest).unwrap();
    build(&sb, &project);
    let outputs = [
        project.join("dist/hello-one-linux-x86_64.psp"),
        project.join("out/two.psp"),
    ];
    fs::write(project.join("out/notes.txt"), "mine").unwrap();
    for o in &outputs {
        assert!(o.is_file(), "{}", o.display());
    }
    let dry = flavor_in(&sb, &project, &["clean", "--dry-run"]);
    dry.ok();
    assert!(
        dry.stdout
            .contains("would remove dist/hello-one-linux-x86_64.psp"),
        "{}",
        dry.stdout
    );
    assert!(outputs.iter().all(|o| o.exists()) && project.join(".flavor/cache").is_dir());

    let cleaned = json_of(&flavor_in(&sb, &project, &["clean", "--json"]));
    assert_eq!(cleaned["removed"].as_array().unwrap().len(), 2, "{cleaned}");
    assert!(outputs.iter().all(|o| !o.exists()));
    assert!(!project.join("dist").exists(), "an emptied dist/ goes");
    assert!(!project.join(".flavor").exists());
    assert_eq!(
        fs::read_to_string(project.join("out/notes.txt")).unwrap(),
        "mine"
    );
    assert!(project.join("src/hello.sh").is_file());
    assert!(stats(&sb, &project)["exists"] == false);

    // A file at an output path that is not a package is left alone, and a cache named by
    // FLAVOR_BUILD_CACHE loses only flavor's entries.
    fs::create_dir_all(project.join("dist")).unwrap();
    fs::write(
        project.join("dist/hello-one-linux-x86_64.psp"),
        "not a package",
    )
    .unwrap();
    let shared = sb.path("shared-cache");
    fs::create_dir_all(&shared).unwrap();
    fs::write(shared.join("README"), "someone else's").unwrap();
    for args in [&["build", "-q", "two"][..], &["clean"][..]] {
        let mut cmd = support::tools::flavor_cmd(&sb, &project, args);
        cmd.env("FLAVOR_BUILD_CACHE", &shared);
        let out = support::run(&mut cmd);
        out.ok();
        if args[0] == "clean" {
            assert!(
                out.stdout
                    .contains("skipped dist/hello-one-linux-x86_64.psp"),
                "{}",
                out.stdout
            );
        }
    }
    assert_eq!(
        fs::read_to_string(project.join("dist/hello-one-linux-x86_64.psp")).unwrap(),
        "not a package"
    );
    let left: Vec<_> = fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["README"]);
}

#[test]
fn outside_a_workspace_the_cache_commands_say_so() {
    let sb = Sandbox::new();
    for args in [
        &["cache", "stats"][..],
        &["cache", "gc"][..],
        &["clean"][..],
    ] {
        let out = flavor_in(&sb, sb.root(), args);
        out.expect_code(1);
        assert!(
            out.stderr.contains("no flavor.toml"),
            "{args:?}: {}",
            out.stderr
        );
    }
    flavor_in(&sb, sb.root(), &["cache"]).expect_code(2);
}
