//! The tools and fixtures the Python-app, multi-platform and benchmark work stands on, each
//! proven by using it for real: an aarch64 program runs through qemu in binfmt_misc, upstream
//! launchers are the platforms their names say (and the Linux ones run), the relocatable
//! CPython works — and a plain copy does not — with every host Python hidden, and the pinned
//! wheels are there with their hashes and install offline.
//!
//! Outside CI a missing tool skips a test with one line; under `CI=true` it fails
//! (`support::need`).

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use support::cpython::{RelocatablePython, cpython312};
use support::hidden_python::{STILL_RUNS, hidden_python};
use support::upstream::{self, Kind, platform_of};
use support::{Sandbox, ci_tools, cross, run, wheels};

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("flavor-fixtures-")
        .tempdir()
        .expect("a temp dir")
}

const HELLO_C: &str = r#"#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from aarch64, argv[0]=%s argc=%d\n", argv[0], argc);
    return 7;
}
"#;

#[test]
fn a_static_aarch64_program_runs_through_binfmt() {
    let Some(gcc) = cross::aarch64_gcc() else {
        return;
    };
    let Some(()) = cross::aarch64_runs() else {
        return;
    };
    let dir = tempdir();
    let exe = dir.path().join("hello-aarch64");
    cross::compile_aarch64_static(&gcc, HELLO_C, &exe).unwrap();
    assert_eq!(platform_of(&exe).unwrap(), "linux-aarch64");

    let direct = run(Command::new(&exe).arg("x"));
    direct.expect_code(7);
    let expected = format!("hello from aarch64, argv[0]={} argc=2\n", exe.display());
    assert_eq!(direct.stdout, expected);

    // Exec'd under another name, as a launcher execs an app: the registration's P flag keeps
    // the argv[0] the parent chose.
    let execd = run(Command::new(&exe).arg0("renamed").args(["one", "two"]));
    execd.expect_code(7);
    assert_eq!(execd.stdout, "hello from aarch64, argv[0]=renamed argc=3\n");
}

#[test]
fn upstream_launchers_are_the_platforms_they_claim() {
    for platform in upstream::platforms() {
        for kind in [Kind::Rust, Kind::Go] {
            let Some(l) = upstream::launcher(platform, kind) else {
                return;
            };
            assert_eq!(l.platform, platform);
            assert_eq!(platform_of(&l.path).unwrap(), platform, "{}", l.origin);
            let size = fs::metadata(&l.path).unwrap().len();
            assert!(
                size > 1_000_000,
                "{} is only {size} bytes",
                l.path.display()
            );
            assert!(
                l.origin
                    .starts_with("flavorpack 0.5.4 flavorpack-0.5.4-py3-none-")
                    && l.origin
                        .contains(&format!("-launcher-{}-", upstream::VERSION)),
                "{}",
                l.origin
            );
        }
    }
    // Our own launcher is recognised as this host's platform, and a non-executable is an error.
    assert_eq!(platform_of(&support::launcher()).unwrap(), "linux-x86_64");
    let err = platform_of(&support::workspace_root().join("Cargo.toml")).unwrap_err();
    assert!(
        err.contains("Cargo.toml") && err.contains("not an executable"),
        "{err}"
    );
}

/// Run an upstream Linux launcher with no package appended: it must start, find no package
/// and say so — which shows it really executes here.
fn assert_runs_and_finds_no_package(l: &upstream::UpstreamLauncher) {
    let out = run(&mut Command::new(&l.path));
    assert_ne!(out.code, Some(0), "{}", l.origin);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("Unknown package format") || said.contains("MagicTrailer"),
        "{} did not complain about the missing package:\n{said}",
        l.origin
    );
}

#[test]
fn upstream_linux_launchers_run_here_the_aarch64_ones_through_qemu() {
    for kind in [Kind::Rust, Kind::Go] {
        let Some(l) = upstream::launcher("linux-x86_64", kind) else {
            return;
        };
        assert_runs_and_finds_no_package(&l);
    }
    let Some(()) = cross::aarch64_runs() else {
        return;
    };
    for kind in [Kind::Rust, Kind::Go] {
        let Some(l) = upstream::launcher("linux-aarch64", kind) else {
            return;
        };
        assert_runs_and_finds_no_package(&l);
    }
}

#[test]
fn the_host_python_is_hidden_in_the_namespace() {
    let Some(hidden) = hidden_python() else {
        return;
    };
    assert!(
        hidden.hidden().count() > 0,
        "found no host Python to hide: {hidden:?}"
    );
    let mut script = String::from("set -e\n");
    for dir in &hidden.dirs {
        script.push_str(&format!("test -z \"$(ls -A '{}')\"\n", dir.display()));
    }
    script.push_str(
        "for p in python3 python; do\n  if \"$p\" -c '' 2>/dev/null; then echo \"$p runs\"; exit 1; fi\n\
         done\necho hidden\n",
    );
    run(hidden.command("/bin/sh").args(["-c", &script])).clean("hidden\n");
    // Outside the namespace nothing changed.
    let dir = hidden.dirs.first().expect("at least one hidden directory");
    assert!(
        fs::read_dir(dir).unwrap().next().is_some(),
        "{} is empty",
        dir.display()
    );
    // A Python that the namespace failed to hide is reported, not silently used.
    let tmp = tempdir();
    let sneaky = tmp.path().join("python3");
    fs::write(&sneaky, "#!/bin/sh\nexit 0\n").unwrap();
    std::os::unix::fs::symlink("/bin/true", tmp.path().join("python")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&sneaky, fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", tmp.path().display());
    let out = run(hidden.command("/bin/echo").arg("ran").env("PATH", path));
    out.expect_code(STILL_RUNS);
    assert!(out.stderr.contains("still runs"), "{}", out.stderr);
}

const PROBE: &str = "import ssl, sqlite3, json, sys; \
                     print(sys.prefix); print(sys.version.split()[0]); print(ssl.OPENSSL_VERSION)";

#[test]
fn the_relocatable_cpython_runs_from_anywhere_with_every_host_python_hidden() {
    let Some(py) = cpython312() else { return };
    let Some(hidden) = hidden_python() else {
        return;
    };
    let name = py.archive.file_name().unwrap().to_string_lossy();
    assert!(
        name.starts_with(&format!("cpython-{}+", py.version))
            && name.ends_with("-x86_64-unknown-linux-gnu-install_only.tar.gz"),
        "{name}"
    );
    let dir = tempdir();
    let root = py.unpack_into(dir.path());
    let python3 = RelocatablePython::python3(&root);
    assert_eq!(fs::read_link(&python3).unwrap(), Path::new("python3.12"));
    for pruned in [
        "test",
        "idlelib",
        "tkinter",
        "ensurepip",
        "site-packages/pip",
    ] {
        assert!(
            !root.join("lib/python3.12").join(pruned).exists(),
            "{pruned} kept"
        );
    }
    assert!(!root.join("lib/python3.12").read_dir().unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("config-")
    }));

    let out = run(hidden.command(&python3).args(["-I", "-c", PROBE]));
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        root.canonicalize().unwrap().to_str().unwrap(),
        "sys.prefix"
    );
    assert_eq!(lines[1], py.version);
    assert!(lines[2].starts_with("OpenSSL"), "{}", out.stdout);
}

#[test]
fn a_plain_copy_of_the_pyenv_interpreter_only_seems_to_work() {
    // The trap the fixture's recipe exists for: the copied executable runs on this machine,
    // but from the host's tree; with the host hidden it cannot even start.
    let Some(py) = cpython312() else { return };
    let Some(hidden) = hidden_python() else {
        return;
    };
    let dir = tempdir();
    let copy = dir.path().join("bin/python3.12");
    fs::create_dir_all(copy.parent().unwrap()).unwrap();
    fs::copy(py.source.join("bin/python3.12"), &copy).unwrap();
    let seen = run(Command::new(&copy).args(["-I", "-c", "import sys; print(sys.prefix)"]));
    seen.ok();
    assert_eq!(seen.stdout.trim(), py.source.to_str().unwrap());
    let hid = run(hidden.command(&copy).args(["-I", "-c", "pass"]));
    assert_ne!(hid.code, Some(0));
    assert!(hid.stderr.contains("libpython3.12"), "{}", hid.stderr);
}

#[test]
fn the_tools_venv_has_the_pinned_uv_and_pyinstaller() {
    let Some(uv) = ci_tools::uv() else { return };
    let out = run(Command::new(&uv).arg("--version"));
    out.ok();
    let pinned = ci_tools::pinned_version("uv");
    assert!(
        out.stdout.starts_with(&format!("uv {pinned}")),
        "{}",
        out.stdout
    );
    let Some(pyinstaller) = ci_tools::pyinstaller() else {
        return;
    };
    let out = run(Command::new(&pyinstaller).arg("--version"));
    out.ok();
    assert_eq!(out.stdout.trim(), ci_tools::pinned_version("pyinstaller"));
}

#[test]
fn pinned_app_wheels_are_present_with_their_hashes() {
    let expected = [
        ("cowsay", 1),
        ("tabulate", 1),
        ("pyfiglet", 1),
        ("httpie", 16),
    ];
    for (app, count) in expected {
        let Some(set) = wheels::app(app) else { return };
        assert_eq!(set.wheels.len(), count, "{app}");
        assert!(
            set.wheels.iter().any(|w| w.name == app),
            "{app} pins itself"
        );
        for path in set.paths() {
            assert!(path.is_file(), "{}", path.display());
        }
    }
    let httpie = wheels::app("httpie").unwrap();
    let native: Vec<&str> = httpie
        .wheels
        .iter()
        .filter(|w| w.file.contains("-cp312-cp312-manylinux"))
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(native, ["charset-normalizer", "multidict"]);
}

#[test]
fn a_pinned_app_installs_offline_and_runs_on_the_relocatable_cpython_without_host_python() {
    let Some(set) = wheels::app("cowsay") else {
        return;
    };
    let Some(uv) = ci_tools::uv() else { return };
    let Some(py) = cpython312() else { return };
    let Some(hidden) = hidden_python() else {
        return;
    };
    let dir = tempdir();
    let root = py.unpack_into(dir.path());
    let site = dir.path().join("site");
    let install = run(Command::new(&uv)
        .args([
            "pip",
            "install",
            "--offline",
            "--no-index",
            "--require-hashes",
            "--no-deps",
        ])
        .arg("--find-links")
        .arg(&set.dir)
        .arg("--requirement")
        .arg(&set.requirements)
        .arg("--target")
        .arg(&site)
        .arg("--python")
        .arg(RelocatablePython::python3(&root))
        .env("UV_CACHE_DIR", dir.path().join("uv-cache"))
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never"));
    install.ok();
    let code = format!(
        "import os, sys; sys.path.insert(0, {:?}); import cowsay; cowsay.cow('flavor'); \
         print(os.environ['HOME'])",
        site.to_str().unwrap()
    );
    // As a package test would run it: in a sandbox (cleared environment, private HOME).
    let sb = Sandbox::new();
    let out = run(hidden
        .sandbox_command(&sb, &RelocatablePython::python3(&root))
        .args(["-I", "-c", &code]));
    out.ok();
    assert_eq!(out.stdout.lines().last(), sb.home().to_str());
    assert!(out.stdout.contains("| flavor |"), "{}", out.stdout);
    assert!(out.stdout.contains("^__^"), "{}", out.stdout);
}
