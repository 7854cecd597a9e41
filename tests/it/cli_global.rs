//! What every `flavor` command shares: a closed standard output ends it quietly (as with
//! cargo and ripgrep), the global options (`-q`, `-v`, `--color`, `--manifest-path`) work
//! before or after any command's name, and errors are coloured only when asked.

use std::process::Command;
use support::project::Project;
use support::tools::{flavor_cmd, flavor_in, hello_project, s};
use support::{Sandbox, run};

/// Runs `cmd` with its standard output a pipe whose reader is already gone, as in
/// `flavor inspect pkg | head -0`: every write fails with `EPIPE`.
fn with_closed_stdout(cmd: &mut Command) -> support::Run {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer);
    run(cmd)
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    flavor_in(&sb, &project, &["build", "-q"]).ok();
    let psp = project.join("dist/debug/hello.psp");
    let commands: [&[&str]; 9] = [
        &["inspect", s(&psp)],
        &["inspect", s(&psp), "--json"],
        &["verify", s(&psp)],
        &["verify", "--json", s(&psp)],
        &["graph"],
        &["build", "--json"],
        &["key", "list"],
        &["cache", "stats"],
        &["completions", "bash"],
    ];
    for args in commands {
        let out = with_closed_stdout(&mut flavor_cmd(&sb, &project, args));
        assert_eq!(out.code, Some(0), "{args:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("Broken pipe"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn quiet_verbose_and_build_options_work_on_every_building_command() {
    let p = Project::example("hello");
    // -q before or after the command's name; run takes -j and --force like build.
    let quiet = p.flavor(&["-q", "run", "-j", "1", "--force", "--", "Ada"]);
    quiet.ok();
    assert_eq!(quiet.stderr, "", "-q prints nothing but problems");
    assert!(quiet.stdout.contains("Ada"), "{}", quiet.stdout);
    let verbose = p.flavor(&["run", "-v", "--force", "--", "Ada"]);
    verbose.ok();
    assert!(verbose.stderr.contains("package"), "{}", verbose.stderr);
    // watch accepts them too (an unknown option before --help would be a usage error).
    p.flavor(&["watch", "-q", "-j", "2", "--force", "--help"])
        .ok();
    // --manifest-path: from anywhere, for build and run alike.
    let elsewhere = tempfile::tempdir().unwrap();
    let manifest = p.path("flavor.toml");
    let mut cmd = p.command(".", &["run", "--manifest-path", s(&manifest), "-q"]);
    cmd.current_dir(elsewhere.path()).args(["--", "Bo"]);
    let ran = run(&mut cmd);
    ran.ok();
    assert!(ran.stdout.contains("Bo"), "{}", ran.stdout);
    // A command that reads no manifest says so instead of ignoring it.
    let refused = p.flavor(&["--manifest-path", s(&manifest), "keygen"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("reads no manifest"),
        "{}",
        refused.stderr
    );
}

#[test]
fn build_errors_are_coloured_only_when_asked() {
    let p = Project::example("hello");
    p.write("flavor.toml", &{
        let text = std::fs::read_to_string(p.path("flavor.toml")).unwrap();
        format!(
            "{text}\n[[step]]\nid = \"boom\"\ncommand = \"exit 3\"\noutputs = [\"out\"]\n\n\
             [[slot]]\nid = \"boom\"\nstep = \"boom\"\ntarget = \"boom\"\n"
        )
    });
    let red = "\u{1b}[";
    let always = p.flavor(&["build", "--color", "always"]);
    always.expect_code(1);
    let first_error = always.stderr.find("error:").unwrap();
    assert!(
        always.stderr[..first_error].ends_with('m') && always.stderr[..first_error].contains(red),
        "{}",
        always.stderr
    );
    let never = p.flavor(&["build", "--color", "never"]);
    never.expect_code(1);
    assert!(!never.stderr.contains(red), "{}", never.stderr);
    assert!(never.stderr.contains("error: "), "{}", never.stderr);
    // NO_COLOR wins over CLICOLOR_FORCE under the default `auto`.
    let mut cmd = p.command(".", &["build"]);
    cmd.env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1");
    let plain = run(&mut cmd);
    plain.expect_code(1);
    assert!(!plain.stderr.contains(red), "{}", plain.stderr);
    let mut cmd = p.command(".", &["build"]);
    cmd.env("CLICOLOR_FORCE", "1").env_remove("NO_COLOR");
    let forced = run(&mut cmd);
    forced.expect_code(1);
    assert!(forced.stderr.contains(red), "{}", forced.stderr);
}
