//! Setup commands (`write_file`, `chmod`, `execute`, `enumerate_and_execute`) run once, in the
//! published workenv, with `{workenv}` and `FLAVOR_WORKENV` naming that final path; a failing
//! one stops the launch with exit 103, leaves nothing trusted behind, and the next launch
//! tries again.

use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use support::*;

#[test]
fn setup_commands_see_the_final_workenv_path() {
    let sb = Sandbox::new();
    let pkg = PackageBuilder::app(
        "setupper",
        "4.5",
        concat!(
            "echo \"env: $FLAVOR_WORKENV\"\n",
            "echo \"file: $(cat \"$FLAVOR_WORKENV/etc/where.txt\")\"\n",
            "echo \"setup env: $(cat \"$FLAVOR_WORKENV/etc/seen-by-setup.txt\")\"\n",
            "\"$FLAVOR_WORKENV/tools/tool\"\n",
            "cat \"$FLAVOR_WORKENV/etc/enumerated.txt\"\n",
        ),
    )
    .slot(Slot::file(
        "tool",
        "{workenv}/tools/tool",
        sh("echo tool ran\n"),
        0o644,
    ))
    .slot(Slot::tar(
        "plugins",
        Tar::new()
            .dir("plugins/")
            .file("plugins/a.plug", b"a", 0o644)
            .file("plugins/b.plug", b"b", 0o644)
            .file("plugins/ignored.txt", b"c", 0o644)
            .finish(),
    ))
    .setup(
        json!({"type": "write_file", "path": "{workenv}/etc/where.txt",
                  "content": "{workenv} {package_name} {version}", "mode": "0600"}),
    )
    .setup(json!({"type": "chmod", "path": "{workenv}/tools/tool", "mode": "755"}))
    .setup(json!({"type": "execute",
                  "command": "sh -c 'echo \"$FLAVOR_WORKENV\" > {workenv}/etc/seen-by-setup.txt'"}))
    .setup(json!({"type": "enumerate_and_execute",
                  "enumerate": {"path": "{workenv}/plugins", "pattern": "*.plug"},
                  "command": "sh -c 'basename \"$1\" >> {workenv}/etc/enumerated.txt' sh"}))
    .build(&sb.pkg("setupper.psp"));

    let first = sb.run(&pkg, &[]);
    let we = sb.workenvs("setupper")[0].clone();
    let we_s = we.display().to_string();
    // `we` is `<root>/workenv/.setupper.pspf/versions/<hash>`, the published path: what the
    // setup commands wrote must name it, never the private staging directory.
    assert!(sb.staging_dirs("setupper").is_empty());
    let expected = format!(
        "env: {we_s}\nfile: {we_s} setupper 4.5\nsetup env: {we_s}\ntool ran\na.plug\nb.plug\n"
    );
    first.clean(&expected);
    sb.run(&pkg, &[]).clean(&expected);
    let mode = |p: &str| fs::metadata(we.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("etc/where.txt"), 0o600);
    assert_eq!(mode("tools/tool"), 0o755);
    // The upstream path leads to the same files.
    let via_link = sb.cache().join("workenv/setupper/etc/where.txt");
    assert_eq!(
        fs::read_to_string(via_link).unwrap(),
        format!("{we_s} setupper 4.5")
    );
}

/// A package whose `execute` setup command fails while the file `fail` exists, and counts its
/// attempts in `attempts` (outside the workenv).
fn flaky_setup(sb: &Sandbox) -> std::path::PathBuf {
    let script = format!(
        "echo try >> {attempts}; if [ -e {fail} ]; then echo setup broke >&2; exit 3; fi",
        attempts = sb.path("attempts").display(),
        fail = sb.path("fail").display(),
    );
    PackageBuilder::app(
        "flaky",
        "1.0",
        "echo \"ran after setup: $(cat \"$FLAVOR_WORKENV/etc/ok\")\"\n",
    )
    .setup(json!({"type": "write_file", "path": "{workenv}/etc/ok", "content": "yes"}))
    .setup(json!({"type": "execute", "command": format!("sh -c '{script}'")}))
    .build(&sb.pkg("flaky.psp"))
}

#[test]
fn a_failing_setup_command_stops_the_launch_and_is_retried() {
    let sb = Sandbox::new();
    let pkg = flaky_setup(&sb);
    fs::write(sb.path("fail"), "").unwrap();
    for attempt in 1..=2 {
        let r = sb.run(&pkg, &[]);
        r.expect_code(103);
        assert_eq!(r.stdout, "", "the command must not run");
        let lines = r.stderr_lines();
        assert_eq!(lines.len(), 1, "{}", r.stderr);
        assert!(lines[0].contains("setup command 1"), "{}", lines[0]);
        assert!(lines[0].contains("setup broke"), "{}", lines[0]);
        assert!(
            sb.ready_markers("flaky").is_empty(),
            "a failed setup was marked ready"
        );
        assert!(
            sb.workenvs("flaky").is_empty(),
            "a failed setup left its workenv"
        );
        assert!(!sb.cache().join("workenv/flaky").exists());
        assert_eq!(count_lines(&sb.path("attempts")), attempt);
    }
    fs::remove_file(sb.path("fail")).unwrap();
    sb.run(&pkg, &[]).clean("ran after setup: yes\n");
    assert_eq!(count_lines(&sb.path("attempts")), 3);
    sb.run(&pkg, &[]).clean("ran after setup: yes\n");
    assert_eq!(count_lines(&sb.path("attempts")), 3);
}

#[test]
fn unknown_or_malformed_setup_commands_are_errors_not_skipped() {
    let sb = Sandbox::new();
    for (i, bad) in [
        json!({"type": "download", "url": "https://example.invalid/x"}),
        json!({"type": "write_file", "content": "no path"}),
        json!({"type": "chmod", "path": "{workenv}/bin/app", "mode": "rwx"}),
        json!({"type": "execute", "command": "/nonexistent/program --flag"}),
    ]
    .into_iter()
    .enumerate()
    {
        let file = format!("bad{i}.psp");
        let pkg = PackageBuilder::app("bad", "1.0", "echo never\n")
            .setup(bad.clone())
            .build(&sb.pkg(&file));
        let r = sb.run(&pkg, &[]);
        r.expect_code(103);
        assert_eq!(r.stdout, "");
        assert_eq!(r.stderr_lines().len(), 1, "{bad}: {}", r.stderr);
        assert!(r.stderr.contains("setup command 0"), "{bad}: {}", r.stderr);
        let name = format!("bad{i}");
        assert!(sb.ready_markers(&name).is_empty());
        assert!(sb.workenvs(&name).is_empty());
    }
}

#[test]
fn workenv_directories_are_created_with_their_modes() {
    let sb = Sandbox::new();
    let pkg = PackageBuilder::app("dirs", "1.0", "ls -d \"$FLAVOR_WORKENV\"/var/*\n")
        .workenv_dir("{workenv}/var/cache", "0700")
        .workenv_dir("var/{package_name}-logs", "0750")
        .build(&sb.pkg("dirs.psp"));
    let r = sb.run(&pkg, &[]);
    let we = sb.workenvs("dirs")[0].clone();
    r.clean(&format!("{0}/var/cache\n{0}/var/dirs-logs\n", we.display()));
    let mode = |p: &str| fs::metadata(we.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("var/cache"), 0o700);
    assert_eq!(mode("var/dirs-logs"), 0o750);
}
