//! Debug and release builds write different files (a debug build never replaces a release
//! package), and `flavor graph` says of every node which package, target and slot it is.

use std::collections::BTreeSet;
use support::project::Project;

#[test]
fn debug_and_release_packages_are_different_files() {
    let p = Project::example("hello");
    let release = p.flavor(&["build", "--release"]);
    release.ok();
    assert!(
        release
            .stderr
            .contains("package hello (release) → dist/hello.psp"),
        "{}",
        release.stderr
    );
    let released = p.bytes("dist/hello.psp");
    // A later debug build, and `run`, write beside it in debug/, never over it.
    let debug = p.flavor(&["build"]);
    debug.ok();
    assert!(
        debug
            .stderr
            .contains("package hello (debug) → dist/debug/hello.psp"),
        "{}",
        debug.stderr
    );
    p.flavor(&["run", "-q", "--", "x"]).ok();
    assert!(
        p.bytes("dist/hello.psp") == released,
        "the release package stays"
    );
    assert!(p.bytes("dist/debug/hello.psp") != released);
    p.run_package("dist/hello.psp", &["rel"]).ok();
    p.run_package("dist/debug/hello.psp", &["dbg"]).ok();
    // --json names the profile of each package written.
    let summary = p.build(&["--release"]).summary;
    assert_eq!(summary["packages"][0]["profile"], "release", "{summary}");
    // clean removes both.
    p.flavor(&["clean", "-q"]).ok();
    assert!(!p.path("dist").exists());
}

/// `(id, label)` of every node of a dot graph, and its edges.
fn parse_dot(dot: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for line in dot.lines().map(str::trim) {
        if let Some((id, rest)) = line.split_once(" [label=\"") {
            nodes.push((id.to_string(), rest.trim_end_matches("\"];").to_string()));
        } else if line.contains(" -> ") {
            edges.push(line.to_string());
        }
    }
    (nodes, edges)
}

#[test]
fn graph_labels_name_package_target_and_slot() {
    let p = Project::example("monorepo");
    // The package action both of count's targets share, drawn for one target, names that
    // target and its file only.
    let one = p.flavor_in("apps/count", &["graph", "portable"]);
    one.ok();
    let (nodes, _) = parse_dot(&one.stdout);
    let package = nodes
        .iter()
        .find(|(_, l)| l.starts_with("package: count"))
        .unwrap_or_else(|| panic!("{}", one.stdout));
    assert!(
        package
            .1
            .contains("portable → apps/count/dist/debug/count.psp"),
        "{}",
        one.stdout
    );
    assert!(!one.stdout.contains("linux-x86_64"), "{}", one.stdout);

    // The whole workspace: no two nodes look alike, every edge is drawn once, and the slot
    // every member shares says whom it is built for.
    let all = p.flavor(&["graph"]);
    all.ok();
    let (nodes, edges) = parse_dot(&all.stdout);
    let labels: BTreeSet<&String> = nodes.iter().map(|(_, l)| l).collect();
    assert_eq!(labels.len(), nodes.len(), "{}", all.stdout);
    let unique: BTreeSet<&String> = edges.iter().collect();
    assert_eq!(unique.len(), edges.len(), "{}", all.stdout);
    assert!(edges.iter().all(|e| !e.contains("label")), "{}", all.stdout);
    for name in ["count", "greet", "stamp"] {
        assert!(
            nodes
                .iter()
                .any(|(_, l)| l.starts_with(&format!("package: {name}"))),
            "{}",
            all.stdout
        );
    }
    assert!(
        nodes.iter().any(|(_, l)| l.contains("slot lib")
            && l.contains("count (linux-x86_64, portable), greet, stamp")),
        "{}",
        all.stdout
    );
}
