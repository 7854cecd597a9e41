//! `[python]` packages: the manifest section read with its pyproject and `uv.lock` (a lock made
//! by the pinned uv from PyPI), missing and stale locks as located errors saying `uv lock`,
//! wheels of a lock fetched with their sha256 checked, and the shared-library audit of the
//! relocatable CPython fixture checked against binutils' own reading.

use flavor_rules::python::audit::{GlibcVersion, audit};
use flavor_rules::python::fetch::{FetchError, fetch, sha256_file};
use flavor_rules::python::lock::UvLock;
use flavor_rules::python::tags::WheelTarget;
use std::process::Command;
use support::project::Project;

const PYPROJECT: &str = r#"[project]
name = "wordfreq"
version = "1.0.0"
requires-python = ">=3.12"
dependencies = ["cowsay==6.1"]

[project.scripts]
wordfreq = "wordfreq.cli:main"

[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
"#;

const MANIFEST: &str = r#"[python]
interpreter = "vendor/cpython.tar.gz"
"#;

/// A project with a pyproject and a `[python]` manifest, no lock.
fn project() -> Project {
    Project::from_files(&[
        ("flavor.toml", MANIFEST),
        ("pyproject.toml", PYPROJECT),
        ("src/wordfreq/__init__.py", ""),
        ("src/wordfreq/cli.py", "def main():\n    print('words')\n"),
    ])
}

/// `uv lock` with the pinned uv, for an interpreter satisfying `requires-python` (pyenv's
/// 3.12, the one the CPython fixture is made from); `None` by the need rule.
fn uv_lock(p: &Project) -> Option<()> {
    let uv = support::ci_tools::uv()?;
    let python = support::cpython::cpython312()?
        .source
        .join("bin/python3.12");
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(uv)
        .arg("lock")
        .current_dir(p.path(""))
        .env("UV_PYTHON", python)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_CACHE_DIR", cache.path())
        .output()
        .unwrap();
    if !out.status.success() {
        return support::need::missing(
            format_args!("uv lock failed: {}", String::from_utf8_lossy(&out.stderr)),
            "CI reaches PyPI; elsewhere check the network",
        );
    }
    Some(())
}

/// Diagnostics text with miette's wrapping undone: one line, single spaces.
fn flat(text: &str) -> String {
    text.replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_missing_lock_is_a_located_error_saying_uv_lock() {
    let p = project();
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &flat(&out.stderr);
    assert!(err.contains("there is no lock file"), "{err}");
    assert!(err.contains("uv.lock"), "{err}");
    assert!(err.contains("run `uv lock`"), "{err}");
    assert!(err.contains("flavor.toml:1:"), "{err}");
    assert!(!p.path("dist").exists());
}

#[test]
fn a_stale_lock_is_a_located_error_saying_uv_lock() {
    let p = project();
    let Some(()) = uv_lock(&p) else { return };
    let lock = std::fs::read_to_string(p.path("uv.lock")).unwrap();
    assert!(lock.contains("name = \"cowsay\""), "{lock}");
    // A fresh lock passes the manifest check (what stops this build is the missing
    // interpreter archive, located at its key).
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &flat(&out.stderr);
    assert!(!err.contains("uv lock"), "{err}");
    assert!(
        err.contains("interpreter archive `vendor/cpython.tar.gz` does not exist"),
        "{err}"
    );
    assert!(err.contains("flavor.toml:2:"), "{err}");

    // A dependency added without re-locking.
    p.replace(
        "pyproject.toml",
        "[\"cowsay==6.1\"]",
        "[\"cowsay==6.1\", \"tabulate>=0.9\"]",
    );
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &flat(&out.stderr);
    assert!(err.contains("uv.lock is stale"), "{err}");
    assert!(err.contains("`tabulate>=0.9`"), "{err}");
    assert!(err.contains("run `uv lock`"), "{err}");
    assert!(err.contains("flavor.toml:1:"), "{err}");

    // The version bumped without re-locking; the lock named explicitly is located at its key.
    p.replace("pyproject.toml", ", \"tabulate>=0.9\"", "");
    p.replace(
        "pyproject.toml",
        "version = \"1.0.0\"",
        "version = \"1.1.0\"",
    );
    p.append("flavor.toml", "lock = \"uv.lock\"\n");
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &flat(&out.stderr);
    assert!(err.contains("locks wordfreq 1.0.0"), "{err}");
    assert!(err.contains("version 1.1.0"), "{err}");
    assert!(err.contains("flavor.toml:3:"), "{err}");
}

#[test]
fn wheels_of_a_lock_are_fetched_with_their_sha256_checked() {
    let p = project();
    let Some(()) = uv_lock(&p) else { return };
    let Some(wheels) = support::wheels::app("cowsay") else {
        return;
    };
    let lock = UvLock::load(&p.path("uv.lock")).unwrap();
    let chosen = lock
        .wheels_for("wordfreq", WheelTarget { minor: 12 })
        .unwrap();
    assert_eq!(chosen.len(), 1, "{chosen:?}");
    let wheel = &chosen[0];
    assert_eq!(wheel.package, "cowsay");
    assert!(wheel.url.ends_with(&wheels.wheels[0].file), "{wheel:?}");
    // The lock's hash is the pin's; fetch from the local copy (a file:// mirror).
    let hash = wheel.hash.as_deref().unwrap();
    assert_eq!(hash, format!("sha256:{}", wheels.wheels[0].sha256));
    let local = wheels.dir.join(&wheels.wheels[0].file);
    let url = format!("file://{}", local.display());
    let cas = tempfile::tempdir().unwrap();
    let got = fetch(&url, Some(hash), cas.path()).unwrap();
    assert_eq!(
        got.parent().unwrap().file_name().unwrap(),
        &wheels.wheels[0].sha256[..]
    );
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&local).unwrap());

    // A damaged copy in the store is fetched again, never used.
    std::fs::write(&got, b"not a wheel").unwrap();
    let again = fetch(&url, Some(hash), cas.path()).unwrap();
    assert_eq!(sha256_file(&again).unwrap(), wheels.wheels[0].sha256);

    // Bytes that are not the locked ones are refused and leave nothing behind.
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = fetch(&url, Some(&wrong), cas.path()).unwrap_err();
    assert!(matches!(err, FetchError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains(&wheels.wheels[0].sha256), "{err}");
    let left: Vec<_> = std::fs::read_dir(cas.path().join("0".repeat(64)))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(matches!(
        fetch(&url, None, cas.path()),
        Err(FetchError::NoHash { .. })
    ));
}

#[test]
fn the_audit_finds_the_glibc_and_libraries_the_interpreter_needs() {
    let Some(py) = support::cpython::cpython312() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = py.unpack_into(dir.path());
    let report = audit(&[&root]).unwrap();
    // The executable needs libpython, which the tree holds: not a warning.
    let exe = &report.files[std::path::Path::new("bin/python3.12")];
    assert!(
        exe.needed.iter().any(|n| n == "libpython3.12.so.1.0"),
        "{exe:?}"
    );
    assert!(!report.outside.contains_key("libpython3.12.so.1.0"));
    // lib-dynload links the host's OpenSSL and libffi: outside the manylinux set.
    for lib in ["libssl.so.3", "libffi.so.8"] {
        assert!(report.outside.contains_key(lib), "{:?}", report.outside);
    }
    assert!(report.warnings().iter().any(|w| w.contains("libssl.so.3")));
    // The newest GLIBC_ version binutils sees in any file is the audit's minimum glibc.
    let mut newest = None;
    for file in report.files.keys() {
        let out = Command::new("readelf")
            .arg("--version-info")
            .arg(root.join(file))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for word in text.split_whitespace() {
            newest = newest.max(GlibcVersion::from_symbol_version(word));
        }
    }
    assert!(newest.is_some());
    assert_eq!(report.min_glibc, newest);
    assert!(
        report.min_glibc >= Some(GlibcVersion(2, 34, 0)),
        "{report:?}"
    );
}

/// Every file under `root`, relative, with its bytes (symbolic links as their target).
fn snapshot(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let t = e.file_type().unwrap();
            if t.is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.insert(rel, target.display().to_string().into_bytes());
            } else if t.is_dir() {
                dirs.push(path);
            } else {
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_interpreter_is_unpacked_normalised_and_precompiled_reproducibly() {
    use flavor_rules::manifest::Bytecode;
    use flavor_rules::python::interpreter::{precompile, unpack};
    let Some(py) = support::cpython::cpython312() else {
        return;
    };
    let Some(hidden) = support::hidden_python::hidden_python() else {
        return;
    };
    // The fixture, with what upstream archives carry and a package must not.
    let work = tempfile::tempdir().unwrap();
    let root = py.unpack_into(work.path());
    let stdlib = root.join("lib/python3.12");
    std::fs::write(stdlib.join("EXTERNALLY-MANAGED"), "[externally-managed]\n").unwrap();
    std::fs::write(
        root.join("bin/pip3"),
        "#!/install/bin/python3\nimport pip\n",
    )
    .unwrap();
    std::fs::write(root.join("bin/tool.sh"), "#!/bin/sh\necho ok\n").unwrap();
    std::fs::create_dir_all(stdlib.join("idlelib")).unwrap();
    std::fs::write(stdlib.join("idlelib/idle.py"), "").unwrap();
    std::fs::create_dir_all(stdlib.join("json/tests")).unwrap();
    std::fs::write(stdlib.join("json/tests/t.py"), "").unwrap();
    let archive = work.path().join("cpython-install_only.tar.gz");
    let tar = Command::new("tar")
        .args(["-czf"])
        .arg(&archive)
        .arg("-C")
        .arg(work.path())
        .arg("python")
        .status()
        .unwrap();
    assert!(tar.success());

    let mut trees = Vec::new();
    for name in ["a", "b-longer-path"] {
        let dest = work.path().join(name);
        std::fs::create_dir(&dest).unwrap();
        let tree = unpack(&archive, &dest).unwrap();
        assert_eq!(tree.minor, 12);
        let lib = tree.stdlib();
        for gone in ["EXTERNALLY-MANAGED", "idlelib", "json/tests"] {
            assert!(!lib.join(gone).exists(), "{gone} kept");
        }
        assert!(!tree.root.join("bin/pip3").exists());
        assert!(tree.root.join("bin/tool.sh").is_file());
        precompile(&tree, &dest, &[&lib], Bytecode::UncheckedHash).unwrap();
        trees.push((dest, tree));
    }
    // Same archive, different build directories: the same bytes, no build path inside.
    let (a, b) = (snapshot(&trees[0].1.root), snapshot(&trees[1].1.root));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let pycs: Vec<&String> = a.keys().filter(|k| k.ends_with(".pyc")).collect();
    assert!(pycs.len() > 500, "{} .pyc", pycs.len());
    for (k, bytes) in &a {
        assert!(b[k] == *bytes, "{k} differs between build directories");
        let dir = trees[0].0.to_string_lossy();
        let found = bytes.windows(dir.len()).any(|w| w == dir.as_bytes());
        assert!(!found, "{k} holds the build path");
        if k.ends_with(".pyc") {
            // PEP 552 flags: bit 0 hash-based, bit 1 check_source.
            assert_eq!(bytes[4..8], [1, 0, 0, 0], "{k} is not unchecked-hash");
        }
    }
    // With every host Python hidden, it runs and writes no bytecode.
    let tree = &trees[0].1;
    let before = snapshot(&tree.root);
    let out = hidden
        .command(tree.python3())
        .args([
            "-I",
            "-c",
            "import json, ssl, decimal, sqlite3; print(json.dumps([1]))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "[1]\n");
    assert_eq!(
        snapshot(&tree.root).len(),
        before.len(),
        "the run wrote files"
    );

    // Not an install_only archive: a layout error naming the archive.
    let bad = work.path().join("bad.tar.gz");
    let tar = Command::new("tar")
        .arg("-czf")
        .arg(&bad)
        .arg("-C")
        .arg(&stdlib)
        .arg("json")
        .status()
        .unwrap();
    assert!(tar.success());
    let dest = work.path().join("bad");
    std::fs::create_dir(&dest).unwrap();
    let err = unpack(&bad, &dest).unwrap_err().to_string();
    assert!(err.contains("bad.tar.gz"), "{err}");
    assert!(err.contains("no python/bin/python3"), "{err}");
}

/// The system's glibc as `getconf GNU_LIBC_VERSION` says (`glibc 2.36` → (2, 36)).
fn system_glibc() -> (u32, u32) {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.trim().strip_prefix("glibc ").unwrap();
    let (major, minor) = v.split_once('.').unwrap();
    (major.parse().unwrap(), minor.parse().unwrap())
}

#[test]
fn the_launcher_refuses_an_older_glibc_before_extracting() {
    use support::PackageBuilder;
    use support::Sandbox;
    let (major, minor) = system_glibc();
    let sb = Sandbox::new();
    let body = "echo native code ran\n";
    // Needs exactly this system's glibc: runs.
    let ok = PackageBuilder::app("native", "1.0", body)
        .min_glibc(&format!("{major}.{minor}"))
        .build(&sb.pkg("native.psp"));
    sb.run(&ok, &[]).clean("native code ran\n");
    // Needs the next one: one sentence, exit 104, nothing extracted.
    let sb = Sandbox::new();
    let newer = format!("{major}.{}", minor + 1);
    let pkg = PackageBuilder::app("native", "1.0", body)
        .min_glibc(&newer)
        .build(&sb.pkg("native.psp"));
    let run = sb.run(&pkg, &[]);
    run.expect_code(104);
    let expected =
        format!("native needs glibc {newer} or newer, and this system has glibc {major}.{minor}");
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    assert!(!run.stdout.contains("native code ran"));
    let left: Vec<_> = walk_files(&sb.cache());
    assert!(!left.iter().any(|p| p.ends_with("/bin/app")), "{left:?}");
}

/// Every file and directory under `dir` (empty when it does not exist).
fn walk_files(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            out.push(e.path().display().to_string());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                dirs.push(e.path());
            }
        }
    }
    out
}

#[test]
fn a_bad_exclude_glob_and_a_taken_slot_id_are_located_errors() {
    let p = project();
    p.append(
        "flavor.toml",
        "exclude = [\"**/tests/**\", \"a/[b\"]\n\n[[slot]]\nid = \"site\"\nsource = \"src\"\n",
    );
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &flat(&out.stderr);
    assert!(err.contains("bad glob `a/[b`"), "{err}");
    assert!(err.contains("flavor.toml:3:"), "{err}");
    assert!(err.contains("two slots have the id `site`"), "{err}");
    assert!(!p.path("dist").exists());
}

#[test]
fn a_python_package_with_a_target_of_another_platform_is_a_located_error() {
    let p = project();
    p.append(
        "flavor.toml",
        "\n[[target]]\nname = \"linux-x86_64\"\n\n[[target]]\nname = \"linux-aarch64\"\n",
    );
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = &flat(&out.stderr);
    assert!(
        err.contains("target `linux-aarch64` is for linux-aarch64"),
        "{err}"
    );
    assert!(err.contains("flavor.toml:8:"), "{err}");
    assert!(!err.contains("target `linux-x86_64` is"), "{err}");
}
