//! Running the command: exit codes pass through in exec and spawn mode, a child killed by a
//! signal gives 128+N in spawn mode, signals sent to the launcher reach the child in spawn
//! mode, and argv arrives byte for byte with no flag ever interpreted by the launcher.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;
use support::*;

/// A package whose script exits with the code given as its first argument, or kills itself
/// with the signal given as `kill:<SIG>`.
fn exiter(sb: &Sandbox) -> std::path::PathBuf {
    PackageBuilder::app(
        "exiter",
        "1.0",
        "case \"$1\" in\n  kill:*) echo dying; kill -s \"${1#kill:}\" $$; sleep 5; exit 99 ;;\n  *) echo \"exiting $1\"; exit \"$1\" ;;\nesac\n",
    )
    .build(&sb.pkg("exiter.psp"))
}

#[test]
fn exit_codes_pass_through_in_exec_and_spawn_mode() {
    let sb = Sandbox::new();
    let pkg = exiter(&sb);
    for mode in ["exec", "spawn"] {
        for code in [0, 1, 42, 255] {
            let arg = code.to_string();
            let r = sb.run_env(&pkg, &[&arg], &[("FLAVOR_EXEC_MODE", mode)]);
            r.expect_code(code);
            assert_eq!(r.stdout, format!("exiting {code}\n"), "{mode}");
            assert_eq!(r.stderr, "", "{mode}: {code}");
        }
    }
}

#[test]
fn a_child_killed_by_a_signal_gives_128_plus_n_in_spawn_mode() {
    let sb = Sandbox::new();
    let pkg = exiter(&sb);
    for (sig, n) in [("TERM", 15), ("KILL", 9), ("INT", 2)] {
        let arg = format!("kill:{sig}");
        let r = sb.run_env(&pkg, &[&arg], &[("FLAVOR_EXEC_MODE", "spawn")]);
        r.expect_code(128 + n);
        assert_eq!(r.stdout, "dying\n");
    }
    // In exec mode the launcher *is* the command, so the signal ends the process itself.
    let r = sb.run(&pkg, &["kill:TERM"]);
    assert_eq!((r.code, r.signal), (None, Some(15)));
}

/// A script that traps TERM and INT, reports that it is ready, and exits 7 (after noting the
/// signal in a file) when one arrives.
fn trapper(sb: &Sandbox) -> std::path::PathBuf {
    let body = format!(
        "seen={seen}\ntrap 'echo TERM > \"$seen\"; exit 7' TERM\ntrap 'echo INT > \"$seen\"; exit 8' INT\necho $$ > {ready}\ni=0\nwhile [ $i -lt 3000 ]; do sleep 0.05; i=$((i+1)); done\nexit 3\n",
        seen = sb.path("seen").display(),
        ready = sb.path("ready").display(),
    );
    PackageBuilder::app("trapper", "1.0", &body).build(&sb.pkg("trapper.psp"))
}

fn signal_launcher(sb: &Sandbox, pkg: &Path, sig: &str) -> Run {
    let _ = std::fs::remove_file(sb.path("ready"));
    let _ = std::fs::remove_file(sb.path("seen"));
    let mut cmd = sb.command(pkg);
    cmd.env("FLAVOR_EXEC_MODE", "spawn");
    let child = start(&mut cmd);
    let launcher_pid = child.id();
    wait_until("the child to trap signals", Duration::from_secs(60), || {
        std::fs::read_to_string(sb.path("ready")).is_ok_and(|s| s.ends_with('\n'))
    });
    let child_pid: u32 = std::fs::read_to_string(sb.path("ready"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(
        child_pid, launcher_pid,
        "spawn mode runs the command as a child"
    );
    send_signal(launcher_pid, sig);
    wait(child)
}

#[test]
fn spawn_mode_forwards_signals_to_the_child_and_returns_its_code() {
    let sb = Sandbox::new();
    let pkg = trapper(&sb);
    // The first launch is cold (extraction, then spawn), the second warm.
    let r = signal_launcher(&sb, &pkg, "TERM");
    r.expect_code(7);
    assert_eq!(std::fs::read_to_string(sb.path("seen")).unwrap(), "TERM\n");
    let r = signal_launcher(&sb, &pkg, "INT");
    r.expect_code(8);
    assert_eq!(std::fs::read_to_string(sb.path("seen")).unwrap(), "INT\n");
}

/// A script printing every argument on its own line between delimiters.
fn echoer(sb: &Sandbox, command_args: &str) -> std::path::PathBuf {
    let mut b = PackageBuilder::app(
        "echoer",
        "1.0",
        "printf 'argc=%s\\n' \"$#\"\nfor a in \"$@\"; do printf '<%s>\\n' \"$a\"; done\n",
    );
    b.metadata.execution.command = format!("{{workenv}}/bin/app{command_args}");
    b.build(&sb.pkg("echoer.psp"))
}

fn expected_lines(args: &[&str]) -> String {
    let mut out = format!("argc={}\n", args.len());
    for a in args {
        out.push_str(&format!("<{a}>\n"));
    }
    out
}

#[test]
fn arguments_arrive_intact() {
    let sb = Sandbox::new();
    let pkg = echoer(&sb, "");
    let args = [
        "two words",
        "'single'",
        "\"double\"",
        "",
        "  leading and trailing  ",
        "ünïcödé → 🦀",
        "$HOME",
        "*",
        "a\\b",
        "line1\nline2",
        "--",
        "-x",
    ];
    // Cold and warm take different paths through the launcher; both must pass argv through.
    for _ in 0..2 {
        sb.run(&pkg, &args).clean(&expected_lines(&args));
    }
    sb.run_env(&pkg, &args, &[("FLAVOR_EXEC_MODE", "spawn")])
        .clean(&expected_lines(&args));
    sb.run(&pkg, &[]).clean("argc=0\n");
}

#[test]
fn non_utf8_arguments_arrive_as_bytes() {
    let sb = Sandbox::new();
    let pkg = echoer(&sb, "");
    let raw = OsStr::from_bytes(b"caf\xe9\xff");
    let r = run(sb.command(&pkg).arg(raw));
    r.ok();
    assert_eq!(r.stdout_bytes, b"argc=1\n<caf\xe9\xff>\n");
}

#[test]
fn the_launcher_interprets_no_flags() {
    let sb = Sandbox::new();
    let pkg = echoer(&sb, "");
    for flags in [
        &["--help"][..],
        &["--version"],
        &["-h", "-V"],
        &["help"],
        &["info"],
        &["verify"],
        &["--launcher-cli", "metadata"],
    ] {
        sb.run(&pkg, flags).clean(&expected_lines(flags));
    }
}

#[test]
fn the_commands_own_arguments_come_first_and_keep_their_quoting() {
    let sb = Sandbox::new();
    let pkg = echoer(&sb, " --fixed 'with space' \"{package_name}-{version}\"");
    sb.run(&pkg, &["user arg", "--help"])
        .clean(&expected_lines(&[
            "--fixed",
            "with space",
            "echoer-1.0",
            "user arg",
            "--help",
        ]));
}
