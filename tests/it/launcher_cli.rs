//! CLI mode (`FLAVOR_LAUNCHER_CLI=1|true`): `info`, `metadata` (the stored JSON byte for
//! byte), `verify` (0, or 107 when damaged), `extract <slot> <dir>`, `run`, `help`, and 105
//! for bad arguments. Without the variable the same words are plain arguments of the command.

use std::fs;
use std::path::{Path, PathBuf};
use support::*;

fn cli_pkg(sb: &Sandbox) -> PathBuf {
    PackageBuilder::app("clipkg", "2.0", "echo \"app got: $*\"\n")
        .slot(
            Slot::file("notes", "{workenv}/doc/notes.txt", "some notes\n", 0o644)
                .codec(pspf::Codec::Zstd),
        )
        .slot(
            Slot::tar(
                "tree",
                Tar::new()
                    .dir("share/")
                    .file("share/a.txt", b"A\n", 0o644)
                    .finish(),
            )
            .codec(pspf::Codec::TarGz),
        )
        .build(&sb.pkg("clipkg.psp"))
}

fn cli(sb: &Sandbox, pkg: &Path, args: &[&str]) -> Run {
    sb.run_env(pkg, args, &[("FLAVOR_LAUNCHER_CLI", "1")])
}

#[test]
fn info_describes_the_package_without_extracting_it() {
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    for args in [&["info"][..], &[]] {
        let r = cli(&sb, &pkg, args);
        r.ok();
        assert_eq!(r.stderr, "");
        assert!(r.stdout.contains("clipkg 2.0"), "{}", r.stdout);
        assert!(r.stdout.contains("{workenv}/bin/app"), "{}", r.stdout);
        assert!(
            r.stdout.contains(&sb.cache().display().to_string()),
            "{}",
            r.stdout
        );
        for id in ["app", "notes", "tree"] {
            assert!(r.stdout.contains(id), "{id} missing:\n{}", r.stdout);
        }
    }
    assert!(
        !sb.cache().join("workenv").exists(),
        "CLI mode extracted something"
    );
}

#[test]
fn metadata_prints_the_stored_json_exactly() {
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    let stored = pspf::Package::open(&pkg)
        .unwrap()
        .metadata_json()
        .unwrap()
        .to_vec();
    let r = cli(&sb, &pkg, &["metadata"]);
    r.ok();
    assert_eq!(r.stdout_bytes, [stored, b"\n".to_vec()].concat());
    // Upstream bytes (unsorted keys, another writer's layout) come out untouched too.
    let kit = kit_dir().join("packages");
    for name in ["rs030-multi", "go054-tgz", "py054-raw"] {
        let repacked = sb.pkg(&format!("{name}.psp"));
        pspf::repack(&kit.join(format!("{name}.psp")), &launcher(), &repacked).unwrap();
        let r = cli(&sb, &repacked, &["metadata"]);
        r.ok();
        let expected = fs::read(kit.join(format!("{name}.metadata.json"))).unwrap();
        assert_eq!(
            r.stdout_bytes,
            [expected, b"\n".to_vec()].concat(),
            "{name}"
        );
    }
}

#[test]
fn verify_passes_a_sound_package_and_fails_a_damaged_one() {
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    let r = cli(&sb, &pkg, &["verify"]);
    r.ok();
    assert!(r.stdout.contains("✓"), "{}", r.stdout);
    assert!(!r.stdout.contains("✗"), "{}", r.stdout);
    // Damage the zstd slot's stored bytes.
    let damaged = copy_package(&pkg, &sb.pkg("damaged.psp"));
    let offset = pspf::Package::open(&damaged).unwrap().descriptors()[1].offset;
    flip_byte(&damaged, offset + 5);
    let r = cli(&sb, &damaged, &["verify"]);
    r.expect_code(107);
    let failed: Vec<&str> = r.stdout.lines().filter(|l| l.starts_with('✗')).collect();
    assert!(!failed.is_empty(), "{}", r.stdout);
    assert!(failed.iter().all(|l| l.contains("notes")), "{failed:?}");
    // Damaged metadata.
    let damaged = copy_package(&pkg, &sb.pkg("damaged2.psp"));
    let at = pspf::Package::open(&damaged)
        .unwrap()
        .index()
        .metadata_offset();
    flip_byte(&damaged, at + 30);
    cli(&sb, &damaged, &["verify"]).expect_code(107);
}

#[test]
fn extract_writes_one_slot_by_number_or_id() {
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    let out = sb.path("out");
    let r = cli(&sb, &pkg, &["extract", "notes", out.to_str().unwrap()]);
    r.ok();
    assert_eq!(
        fs::read_to_string(out.join("doc/notes.txt")).unwrap(),
        "some notes\n"
    );
    assert_eq!(
        r.stdout.trim(),
        out.join("doc/notes.txt").display().to_string()
    );
    let r = cli(&sb, &pkg, &["extract", "2", out.to_str().unwrap()]);
    r.ok();
    assert_eq!(fs::read_to_string(out.join("share/a.txt")).unwrap(), "A\n");
    cli(&sb, &pkg, &["extract", "0", out.to_str().unwrap()]).ok();
    assert!(out.join("bin/app").is_file());
    assert!(
        !sb.cache().join("workenv").exists(),
        "extract must not touch the cache"
    );
}

#[test]
fn bad_cli_arguments_exit_105() {
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    let out = sb.path("out");
    for args in [
        &["extract"][..],
        &["extract", "notes"],
        &["extract", "no-such-slot", out.to_str().unwrap()],
        &["extract", "7", out.to_str().unwrap()],
        &["frobnicate"],
        &["--version"],
    ] {
        let r = cli(&sb, &pkg, args);
        r.expect_code(105);
        assert_eq!(r.stdout, "", "{args:?}");
        assert_eq!(r.stderr_lines().len(), 1, "{args:?}: {}", r.stderr);
    }
    assert!(!out.exists());
}

#[test]
fn run_and_help_in_cli_mode() {
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    cli(&sb, &pkg, &["run", "x", "--help"]).clean("app got: x --help\n");
    let r = cli(&sb, &pkg, &["help"]);
    r.ok();
    assert!(r.stdout.contains("FLAVOR_LAUNCHER_CLI"), "{}", r.stdout);
    let r = sb.run_env(&pkg, &["metadata"], &[("FLAVOR_LAUNCHER_CLI", "true")]);
    r.ok();
    assert!(r.stdout.starts_with('{'), "{}", r.stdout);
}

#[test]
fn without_the_variable_cli_words_go_to_the_command() {
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    for words in [
        &["info"][..],
        &["metadata"],
        &["verify"],
        &["extract", "0", "x"],
        &["help"],
    ] {
        sb.run(&pkg, words)
            .clean(&format!("app got: {}\n", words.join(" ")));
    }
    for off in ["0", "false", ""] {
        sb.run_env(&pkg, &["info"], &[("FLAVOR_LAUNCHER_CLI", off)])
            .clean("app got: info\n");
    }
}

/// A closed stdout ends CLI mode as it ends `cat`: by SIGPIPE (the launcher keeps the default
/// disposition, which the app it execs inherits) or, when SIGPIPE is ignored, by exiting as
/// if the output had been read — never in a panic.
#[test]
fn a_closed_stdout_ends_cli_mode_quietly_not_in_a_panic() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let sb = Sandbox::new();
    let pkg = cli_pkg(&sb);
    for ignore_sigpipe in [false, true] {
        for args in [&["info"][..], &["verify"], &["help"], &["metadata"]] {
            // A pipe whose reading end is already closed: every write fails.
            let (reader, writer) = std::io::pipe().expect("a pipe");
            drop(reader);
            let mut cmd = sb.command(&pkg);
            cmd.args(args)
                .env("FLAVOR_LAUNCHER_CLI", "1")
                .stdin(std::process::Stdio::null())
                .stdout(writer);
            if ignore_sigpipe {
                // SAFETY: only signal(2), which is async-signal-safe, runs before exec.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                        Ok(())
                    });
                }
            }
            let out = cmd.output().expect("run the package");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let quiet = out.status.code() == Some(0) || out.status.signal() == Some(libc::SIGPIPE);
            assert!(
                quiet,
                "{args:?} (SIGPIPE ignored: {ignore_sigpipe}): {:?} {stderr}",
                out.status
            );
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        }
    }
}
