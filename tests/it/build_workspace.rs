//! Which packages a `flavor build` builds in a workspace: inside a member directory only that
//! member, at the root every member, `flavor build NAME` the named package or target (and
//! what it needs), an unknown name nothing (exit 1 with the list of packages).

use support::project::Project;

#[test]
fn inside_a_member_only_that_member_is_built() {
    let p = Project::example("monorepo");
    let b = p.build_in("apps/greet/src", &[]);
    b.run.ok();
    assert_eq!(b.packages(), ["greet"]);
    assert_eq!(
        b.ran(),
        [
            "archive slot app (tar.zst)",
            "archive slot lib (tar.zst)",
            "package greet"
        ]
    );
    assert!(p.path("apps/greet/dist/greet.psp").is_file());
    assert!(!p.path("apps/count/dist").exists());
    assert!(!p.path("apps/stamp/dist").exists());
    // The cache is the workspace's, at its root, whichever directory the build ran in.
    assert!(p.path(".flavor/cache").is_dir());
    assert!(!p.path("apps/greet/.flavor").exists());
    // So a root build afterwards reuses the shared slot greet's build compressed.
    let all = p.build(&[]);
    assert_eq!(all.count("started", "archive slot lib (tar.zst)"), 0);
    assert_eq!(all.count("started", "package greet"), 0);
}

#[test]
fn at_the_root_every_member_is_built() {
    let p = Project::example("monorepo");
    let b = p.build(&[]);
    assert_eq!(
        b.packages(),
        ["count (linux-x86_64)", "count (portable)", "greet", "stamp"]
    );
    // From the shared directory (not a member) the root manifest is the nearest one.
    let again = p.build_in("shared/lib", &[]);
    again.run.ok();
    assert_eq!(again.packages().len(), 4);
    assert_eq!(again.built(), 0);
}

#[test]
fn naming_a_package_builds_it_with_all_its_targets() {
    let p = Project::example("monorepo");
    let b = p.build(&["count"]);
    assert_eq!(b.packages(), ["count (linux-x86_64)", "count (portable)"]);
    assert!(!p.path("apps/greet/dist").exists());
    assert!(!p.path("apps/stamp/dist").exists());
    // Naming packages from inside another member works too.
    let b = p.build_in("apps/count", &["greet", "stamp"]);
    b.run.ok();
    assert_eq!(b.packages(), ["greet", "stamp"]);
}

#[test]
fn naming_a_target_builds_just_that_target() {
    let p = Project::example("monorepo");
    let b = p.build(&["portable"]);
    assert_eq!(b.packages(), ["count (portable)"]);
    assert!(p.path("apps/count/dist/count.psp").is_file());
    assert!(!p.path("apps/count/dist/count-linux-x86_64.psp").exists());
    assert!(!p.path("apps/greet/dist").exists());
    p.run_package("apps/count/dist/count.psp", &["x"])
        .clean("count: 1 argument(s)\ncount: 1. x\n");
    let b = p.build(&["linux-x86_64"]);
    assert_eq!(b.packages(), ["count (linux-x86_64)"]);
    assert_eq!(b.built(), 0, "both targets are the same package action");
    assert!(
        p.bytes("apps/count/dist/count-linux-x86_64.psp") == p.bytes("apps/count/dist/count.psp")
    );
}

#[test]
fn an_unknown_name_fails_with_the_list_of_packages() {
    let p = Project::example("monorepo");
    let out = p.flavor(&["build", "grete"]);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("no package or target named `grete` (packages: count, greet, stamp; targets: count:linux-x86_64, count:portable)"),
        "{}",
        out.stderr
    );
    assert!(!p.path(".flavor/cache/ac").exists() || p.cas_blobs().is_empty());
    for dir in ["apps/count/dist", "apps/greet/dist", "apps/stamp/dist"] {
        assert!(!p.path(dir).exists(), "{dir} was built");
    }
    // `flavor run` with an unknown name, and `flavor run` at a root of several packages.
    let out = p.flavor(&["run", "nope"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("no package or target named `nope`"),
        "{}",
        out.stderr
    );
    let out = p.flavor(&["run"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("several packages or targets match"),
        "{}",
        out.stderr
    );
}

#[test]
fn manifest_path_selects_a_workspace_from_elsewhere() {
    let p = Project::example("monorepo");
    let manifest = p.path("flavor.toml");
    let mut cmd = p.command("", &["build", "-q", "greet", "--manifest-path"]);
    cmd.arg(&manifest).current_dir(p.sandbox.root());
    support::run(&mut cmd).ok();
    assert!(p.path("apps/greet/dist/greet.psp").is_file());
    assert!(!p.path("apps/count/dist").exists());
}
