//! What a user sees when a build goes wrong: a failing build step exits 1 with its name and
//! captured output, and the packages that do not depend on it are still built; a step whose
//! declared output is missing fails with a message naming it; a broken manifest exits 1 with
//! miette diagnostics on stderr (file, span, help line), every problem in one run.

use support::project::Project;

/// The monorepo with the `compile` step of `stamp` replaced by `command`.
fn monorepo_with_step(command: &str) -> Project {
    let p = Project::example("monorepo");
    p.replace(
        "apps/stamp/flavor.toml",
        "command = \"mkdir -p build && cc -O2 -o build/fnv1a src/fnv1a.c\"",
        &format!("command = {command:?}"),
    );
    p
}

#[test]
fn a_failing_step_is_reported_and_independent_packages_still_build() {
    let p =
        monorepo_with_step("echo compiling; echo 'fnv1a.c:3: the compiler exploded' >&2; exit 3");
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &out.stderr;
    assert!(
        err.contains("error: step compile failed: `echo compiling;"),
        "{err}"
    );
    assert!(err.contains("` exited with code 3\n"), "{err}");
    // The captured output, once.
    assert_eq!(err.matches("  | compiling\n").count(), 1, "{err}");
    assert_eq!(
        err.matches("  | fnv1a.c:3: the compiler exploded\n")
            .count(),
        1,
        "{err}"
    );
    assert!(err.lines().last().unwrap().starts_with("FAILED: "), "{err}");
    // greet and count do not depend on the step: built and installed. stamp is not.
    for rel in [
        "apps/greet/dist/debug/greet.psp",
        "apps/count/dist/debug/count.psp",
        "apps/count/dist/debug/count-linux-x86_64.psp",
    ] {
        assert!(p.path(rel).is_file(), "{rel} missing\n{err}");
    }
    assert!(!p.path("apps/stamp/dist/debug/stamp.psp").exists());
    p.run_package("apps/greet/dist/debug/greet.psp", &["Ada"])
        .clean("greet: hello, Ada\n");
}

#[test]
fn a_failing_step_in_json_mode() {
    let p = monorepo_with_step("echo 'no compiler today' >&2; false");
    let b = p.build_in("", &[]);
    b.run.expect_code(1);
    assert_eq!(b.summary["ok"], false);
    assert_eq!(b.summary["failed"], 1);
    let failed: Vec<_> = b.events.iter().filter(|e| e["event"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{:?}", b.events);
    assert_eq!(failed[0]["label"], "step compile");
    assert!(
        failed[0]["output"]
            .as_str()
            .unwrap()
            .contains("no compiler today")
    );
    // What reads the step's output is skipped: the tool slot's archive (compressed as it is
    // written) and the stamp package.
    let mut skipped = b.labels("skipped");
    skipped.sort();
    assert_eq!(skipped, ["archive slot tool (tar.zst)", "package stamp"]);
    assert_eq!(b.summary["skipped"], 2);
    assert_eq!(
        b.packages(),
        ["count (linux-x86_64)", "count (portable)", "greet"],
        "what does not depend on the step is installed"
    );
    // Once fixed, the failed step runs again; what succeeded before comes from the cache.
    p.replace(
        "apps/stamp/flavor.toml",
        "command = \"echo 'no compiler today' >&2; false\"",
        "command = \"mkdir -p build && cc -O2 -o build/fnv1a src/fnv1a.c\"",
    );
    let fixed = p.build(&[]);
    assert_eq!(
        fixed.ran(),
        [
            "archive slot tool (tar.zst)",
            "package stamp",
            "step compile"
        ]
    );
}

#[test]
fn a_step_whose_declared_output_is_missing_fails_clearly() {
    let p = monorepo_with_step("mkdir -p build && echo built nothing");
    let out = p.flavor(&["build", "stamp"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains(
            "error: step compile failed: declared output `build/fnv1a` does not exist after \
             `mkdir -p build && echo built nothing` ran"
        ),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("  | built nothing"), "{}", out.stderr);
    assert!(!p.path("apps/stamp/dist/debug/stamp.psp").exists());
}

#[test]
fn a_manifest_error_names_the_file_the_span_and_a_fix() {
    let p = Project::example("hello");
    p.replace(
        "flavor.toml",
        "target = \"bin\"",
        "target = \"bin\"\ncodex = \"tar.zst\"",
    );
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &out.stderr;
    assert!(err.contains("unknown key `slot.codex`"), "{err}");
    assert!(
        err.contains("flavor.toml:18:1]"),
        "file, line and column: {err}"
    );
    assert!(
        err.contains("codex = \"tar.zst\""),
        "the offending line: {err}"
    );
    assert!(err.contains("help: did you mean `codec`?"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!p.path("dist").exists(), "nothing is built");
}

#[test]
fn several_manifest_errors_are_reported_in_one_run() {
    let p = Project::example("hello");
    p.replace(
        "flavor.toml",
        "target = \"bin\"",
        "target = \"bin\"\ncodec = \"tar.zstd\"\nlifecycle = \"forever\"\npermissions = \"0789\"",
    );
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &out.stderr;
    for expected in [
        "unknown codec `tar.zstd`",
        "did you mean `tar.zst`?",
        "unknown lifecycle `forever`",
        "permissions `0789` is not an octal file mode",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.matches("help:").count() >= 3, "{err}");
    assert!(err.matches("flavor.toml:").count() >= 3, "{err}");
}

#[test]
fn errors_in_several_workspace_members_are_reported_together() {
    let p = Project::example("monorepo");
    p.replace(
        "apps/greet/flavor.toml",
        "id = \"app\"",
        "id = \"app\"\nsauce = \"x\"",
    );
    p.replace(
        "apps/count/flavor.toml",
        "name = \"portable\"",
        "nme = \"portable\"",
    );
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &out.stderr;
    assert!(err.contains("apps/greet/flavor.toml"), "{err}");
    assert!(err.contains("unknown key `slot.sauce`"), "{err}");
    assert!(err.contains("apps/count/flavor.toml"), "{err}");
    assert!(err.contains("nme"), "{err}");
    // The same diagnostics as JSON events.
    let b = p.build_in("", &[]);
    b.run.expect_code(1);
    let files: Vec<&str> = b
        .events
        .iter()
        .chain([&b.summary])
        .filter(|e| e["event"] == "manifest_error")
        .filter_map(|e| e["file"].as_str())
        .collect();
    assert_eq!(files.len(), 2, "{}", b.run.stdout);
}

#[test]
fn a_missing_manifest_is_an_error() {
    let p = Project::from_files(&[("README", "no manifest here\n")]);
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    assert!(out.stderr.contains("no flavor.toml in"), "{}", out.stderr);
}

#[test]
fn a_duplicate_id_points_at_both_lines_and_a_missing_cwd_names_the_key() {
    let p = Project::example("hello");
    p.append(
        "flavor.toml",
        "\n[[slot]]\nid = \"app\"\nsource = \"src\"\ntarget = \"again\"\n",
    );
    let out = p.flavor(&["build", "--color", "never"]);
    out.expect_code(1);
    // The help may be wrapped to the terminal's width.
    let err = &out.stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(err.contains("two slots have the id `app`"), "{err}");
    assert!(err.contains("first defined here"), "{err}");
    assert!(
        err.contains("first defined at line 15, column 6"),
        "line:column, not a byte offset: {err}"
    );
    assert!(!err.contains("byte"), "{err}");

    let p = Project::example("hello");
    p.append(
        "flavor.toml",
        "\n[[step]]\nid = \"gen\"\ncommand = \"true\"\ncwd = \"nodir\"\noutputs = [\"x\"]\n",
    );
    let out = p.flavor(&["build", "--color", "never"]);
    out.expect_code(1);
    let err = &out.stderr;
    assert!(
        err.contains("step `gen`: cwd `nodir` is not a directory"),
        "{err}"
    );
    assert!(err.contains("flavor.toml:"), "{err}");
    assert!(!err.contains("cannot lock"), "{err}");
}
