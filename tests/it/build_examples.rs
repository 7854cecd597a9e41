//! The examples, built as a user builds them: `flavor build` in a copy of each example makes
//! its packages, which run as processes and print what the example promises; `flavor run --
//! ARGS` builds and runs; `--json` prints one JSON object per line ending with a summary; and
//! `flavor graph` prints the planned actions as JSON or Graphviz dot.

use serde_json::Value;
use support::project::{Build, Project};

/// Every package file of the monorepo example.
const MONOREPO_PACKAGES: [&str; 4] = [
    "apps/count/dist/debug/count-linux-x86_64.psp",
    "apps/count/dist/debug/count.psp",
    "apps/greet/dist/debug/greet.psp",
    "apps/stamp/dist/debug/stamp.psp",
];

#[test]
fn hello_builds_and_runs() {
    let p = Project::example("hello");
    let build = p.build(&[]);
    assert_eq!(build.packages(), ["hello"]);
    let out = p.run_package("dist/debug/hello.psp", &["world"]);
    out.ok();
    assert!(
        out.stdout
            .starts_with("Hello, world! (hello from hello.psp)\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn python_app_builds_and_runs_with_the_system_python() {
    let p = Project::example("python-app");
    let build = p.build(&[]);
    assert_eq!(build.packages(), ["wordstat"]);
    // Two slots: the app directory archived and compressed in one streaming action, the
    // settings file stored raw (no action of its own).
    assert_eq!(
        build.ran(),
        ["archive slot app (tar.zst)", "package wordstat"]
    );
    p.run_package(
        "dist/debug/wordstat.psp",
        &["The cat and the hat.", "THE", "end"],
    )
    .clean("wordstat (packaged): 7 words, 5 distinct\n  the 3\n  and 1\n  cat 1\n");
    // Its usage error and exit code come through the launcher.
    let usage = p.run_package("dist/debug/wordstat.psp", &[]);
    usage.expect_code(2);
    assert_eq!(usage.stderr, "usage: wordstat WORD...\n");
}

#[test]
fn flavor_run_builds_then_runs_with_the_arguments() {
    let p = Project::example("python-app");
    let out = p.flavor(&["run", "--", "b", "a", "b", "--not-a-flag"]);
    out.ok();
    assert_eq!(
        out.stdout,
        "wordstat (packaged): 4 words, 3 distinct\n  b 2\n  --not-a-flag 1\n  a 1\n"
    );
    assert!(p.path("dist/debug/wordstat.psp").is_file());
    // In a workspace member, `flavor run` runs that member.
    let m = Project::example("monorepo");
    let out = m.flavor_in("apps/greet", &["run", "--", "Ada"]);
    out.ok();
    assert_eq!(out.stdout, "greet: hello, Ada\n");
}

#[test]
fn monorepo_builds_every_package_and_each_runs() {
    let p = Project::example("monorepo");
    let build = p.build(&[]);
    assert_eq!(
        build.packages(),
        ["count (linux-x86_64)", "count (portable)", "greet", "stamp"]
    );
    for rel in MONOREPO_PACKAGES {
        assert!(p.path(rel).is_file(), "{rel} missing");
    }
    p.run_package("apps/greet/dist/debug/greet.psp", &["Ada"])
        .clean("greet: hello, Ada\n");
    let count = "count: 2 argument(s)\ncount: 1. a\ncount: 2. b c\n";
    p.run_package("apps/count/dist/debug/count.psp", &["a", "b c"])
        .clean(count);
    p.run_package(
        "apps/count/dist/debug/count-linux-x86_64.psp",
        &["a", "b c"],
    )
    .clean(count);
    // The C program compiled by the build step, behind a script using the shared library.
    p.run_package("apps/stamp/dist/debug/stamp.psp", &["abc", ""])
        .clean("stamp: abc 1a47e90b\nstamp:  811c9dc5\n");
}

#[test]
fn json_output_is_one_object_per_line_ending_with_a_summary() {
    let p = Project::example("monorepo");
    let build = p.build(&[]);
    let summary = &build.summary;
    assert_eq!(summary["ok"], true);
    assert_eq!(summary["failed"], 0);
    assert!(build.built() > 0);
    assert_eq!(build.cached(), 0, "a cold build");
    let paths: Vec<&str> = summary["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 4);
    for rel in MONOREPO_PACKAGES {
        let full = p.path(rel);
        assert!(
            paths.contains(&full.to_str().unwrap()),
            "{rel} in {paths:?}"
        );
    }
    // Every action that started finished, with its label and output size.
    for event in &build.events {
        let kind = event["event"].as_str().unwrap();
        assert!(["started", "finished"].contains(&kind), "{event}");
        assert!(
            event["action"].is_u64() && event["label"].is_string(),
            "{event}"
        );
    }
    let finished: Vec<&Value> = build
        .events
        .iter()
        .filter(|e| e["event"] == "finished")
        .collect();
    assert_eq!(finished.len() as u64, build.built());
    assert!(
        finished
            .iter()
            .all(|e| e["output_bytes"].as_u64() > Some(0))
    );
    assert_eq!(build.labels("started").len() as u64, build.built());
    assert!(
        build.run.stderr.is_empty(),
        "--json keeps stderr quiet: {}",
        build.run.stderr
    );
}

#[test]
fn human_output_ends_with_a_one_line_summary() {
    let p = Project::example("hello");
    let out = p.flavor(&["build"]);
    out.ok();
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("finished: built 2, cached 0 in "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("package hello (debug) → dist/debug/hello.psp"),
        "{}",
        out.stderr
    );
    // The per-user signing key was created in the sandbox's config directory.
    assert!(
        out.stderr.contains("created your signing key"),
        "{}",
        out.stderr
    );
    let key = p.sandbox.path("xdg-config/flavor/keys/flavor-private.key");
    assert!(key.is_file(), "{} missing", key.display());
}

#[test]
fn graph_json_lists_the_planned_actions() {
    let p = Project::example("monorepo");
    let out = p.flavor(&["graph", "--format", "json"]);
    out.ok();
    let graph: Value = serde_json::from_str(&out.stdout).expect("graph JSON");
    let nodes = graph["nodes"].as_array().unwrap();
    let labels: Vec<&str> = nodes.iter().map(|n| n["label"].as_str().unwrap()).collect();
    for kind in ["archive", "step", "package"] {
        assert!(
            nodes.iter().any(|n| n["kind"] == kind),
            "no {kind}: {labels:?}"
        );
    }
    // The shared slot is one action (archived and compressed) for all three packages.
    assert_eq!(
        labels
            .iter()
            .filter(|l| **l == "archive slot lib (tar.zst)")
            .count(),
        1
    );
    assert!(labels.contains(&"step compile"), "{labels:?}");
    assert_eq!(graph["outputs"].as_array().unwrap().len(), 4);
    assert!(!graph["edges"].as_array().unwrap().is_empty());
    // Planning builds nothing, and writes no signing key either.
    assert!(!p.path("apps/greet/dist").exists());
    assert!(
        !p.sandbox.path("xdg-config/flavor/keys").exists(),
        "graph created the per-user key"
    );
    // Nor does planning for a cache gc.
    p.flavor(&["cache", "gc"]).ok();
    assert!(!p.sandbox.path("xdg-config/flavor/keys").exists());
}

#[test]
fn graph_dot_is_a_digraph() {
    let p = Project::example("monorepo");
    let out = p.flavor(&["graph", "--format", "dot"]);
    out.ok();
    assert!(out.stdout.starts_with("digraph"), "{}", out.stdout);
    assert!(out.stdout.contains("step: step compile"), "{}", out.stdout);
    assert!(out.stdout.trim_end().ends_with('}'));
}

#[test]
fn a_step_output_is_packaged_and_a_comment_in_its_source_changes_nothing_downstream() {
    let p = Project::example("monorepo");
    p.build(&[]);
    // The compiled program is the same bytes after a comment is added: only the step reruns.
    p.append("apps/stamp/src/fnv1a.c", "/* a comment */\n");
    let again: Build = p.build(&[]);
    assert_eq!(again.ran(), ["step compile"]);
    p.run_package("apps/stamp/dist/debug/stamp.psp", &["abc"])
        .clean("stamp: abc 1a47e90b\n");
}

#[test]
fn a_large_single_file_is_compressed_unless_the_slot_says_raw() {
    let big = "a line of text that compresses well\n".repeat(4096);
    let manifest = |codec: &str| {
        format!(
            "[package]\nname = \"big\"\nversion = \"1.0.0\"\n\n[execution]\n\
             command = \"/bin/sh {{workenv}}/run.sh\"\n\n\
             [[slot]]\nid = \"run\"\nsource = \"run.sh\"\n\n\
             [[slot]]\nid = \"data\"\nsource = \"data.txt\"\n{codec}"
        )
    };
    let p = Project::from_files(&[
        ("flavor.toml", &manifest("")),
        ("run.sh", "wc -c < \"$(dirname \"$0\")/data.txt\"\n"),
        ("data.txt", &big),
    ]);
    let cold = p.build(&[]);
    assert_eq!(cold.count("finished", "compress slot data (zstd)"), 1);
    // The cold store ran the compression while digesting its input (each byte read once):
    // the key it took is the one a rebuild computes, so nothing runs again.
    let again = p.build(&[]);
    assert_eq!((again.built(), again.ran()), (0, Vec::<String>::new()));
    let psp = "dist/debug/big.psp";
    let inspected: Value =
        serde_json::from_str(&p.flavor(&["inspect", psp, "--json"]).ok().stdout).unwrap();
    let codec = |id: &str| {
        let slots = inspected["slots"].as_array().unwrap();
        let slot = slots.iter().find(|s| s["id"] == id).unwrap();
        slot["codec"].as_str().unwrap().to_string()
    };
    assert_eq!(codec("data"), "zstd", "{inspected}");
    assert_eq!(codec("run"), "raw", "a small file stays raw");
    let compressed = p.bytes(psp).len();
    p.run_package(psp, &[]).clean(&format!("{}\n", big.len()));

    p.write("flavor.toml", &manifest("codec = \"raw\"\n"));
    p.build(&[]);
    let raw = p.bytes(psp).len();
    assert!(
        raw > compressed + big.len() * 9 / 10,
        "raw on request: {raw} bytes, compressed {compressed}, file {}",
        big.len()
    );
    p.run_package(psp, &[]).clean(&format!("{}\n", big.len()));
}
