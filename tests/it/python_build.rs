//! `[python]` packages built end to end and run as processes on a "machine" without Python:
//! real PyPI applications nobody here wrote (cowsay, tabulate, pyfiglet with package data,
//! httpie with C extensions) locked by the pinned uv (resolution capped with
//! `exclude-newer`, so the lock is the same tomorrow), built in one workspace that shares one
//! interpreter tree, and run with every host Python hidden; a packaged project (hatchling)
//! built byte-identically from two clones, whose first run loads the shipped `.pyc` and
//! writes none, and whose edit reruns only the `site` chain.

use std::path::{Path, PathBuf};
use std::process::Command;
use support::project::{Build, Project};

/// Resolution cap of every test lock: the newest upload uv may pick.
const EXCLUDE_NEWER: &str = "2026-11-01T00:00:00Z";

/// The pinned uv and the relocatable CPython 3.12 fixture; `None` by the need rule.
fn tools() -> Option<(PathBuf, &'static support::cpython::RelocatablePython)> {
    Some((support::ci_tools::uv()?, support::cpython::cpython312()?))
}

/// uv's cache shared by the tests (wheels and build backends are downloaded once).
fn uv_cache() -> PathBuf {
    support::target_dir().join("flavor-fixtures/uv-cache")
}

/// `flavor ARGS` in `dir` of `p`, finding the pinned uv.
fn flavor(p: &Project, dir: &str, args: &[&str], uv: &Path) -> Command {
    let mut cmd = p.command(dir, args);
    cmd.env("FLAVOR_UV", uv).env("UV_CACHE_DIR", uv_cache());
    cmd
}

/// `flavor build --json` in `dir`; panics unless it succeeds.
fn build(p: &Project, dir: &str, uv: &Path) -> Build {
    let build = Build::wait(support::start(&mut flavor(
        p,
        dir,
        &["build", "--json"],
        uv,
    )));
    build.run.ok();
    build
}

/// `uv lock` in `dir` with the fixture's source interpreter; `None` by the need rule.
fn lock(dir: &Path, uv: &Path, python: &Path) -> Option<()> {
    let out = Command::new(uv)
        .arg("lock")
        .current_dir(dir)
        .env("UV_PYTHON", python)
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("UV_CACHE_DIR", uv_cache())
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

/// A pyproject with `deps` (and `extra` appended).
fn pyproject(name: &str, deps: &[&str], extra: &str) -> String {
    let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
    format!(
        "[project]\nname = \"{name}\"\nversion = \"1.0.0\"\nrequires-python = \">=3.12\"\n\
         dependencies = [{}]\n\n[tool.uv]\nexclude-newer = \"{EXCLUDE_NEWER}\"\n{extra}",
        deps.join(", ")
    )
}

/// One application of the workspace test.
struct App {
    dir: &'static str,
    dep: &'static str,
    entry: &'static str,
    args: &'static [&'static str],
    expect: &'static [&'static str],
}

const APPS: [App; 4] = [
    App {
        dir: "cowsay-app",
        dep: "cowsay==6.1",
        entry: "cowsay.__main__:cli",
        args: &["-t", "moo from flavor"],
        expect: &["moo from flavor", "(oo)"],
    },
    App {
        dir: "tabulate-app",
        dep: "tabulate==0.10.0",
        entry: "tabulate:_main",
        args: &["-1", "-f", "github", "DATA"],
        expect: &["| fruit   |   count |", "| apple   |       3 |"],
    },
    App {
        dir: "pyfiglet-app",
        dep: "pyfiglet==1.0.4",
        entry: "pyfiglet:main",
        args: &["hi"],
        expect: &["| '_ \\| |", "|_| |_|_|"],
    },
    App {
        dir: "httpie-app",
        dep: "httpie==3.2.4",
        entry: "httpie.__main__:main",
        args: &[
            "--ignore-stdin",
            "--offline",
            "--print=H",
            "example.org",
            "X-Flavor:yes",
        ],
        expect: &[
            "GET / HTTP/1.1",
            "X-Flavor: yes",
            "User-Agent: HTTPie/3.2.4",
        ],
    },
];

#[test]
fn real_pypi_apps_build_in_one_workspace_and_run_with_every_host_python_hidden() {
    let Some((uv, cpython)) = tools() else { return };
    let Some(hidden) = support::hidden_python::hidden_python() else {
        return;
    };
    let python = cpython.source.join("bin/python3.12");
    let p = Project::from_files(&[("flavor.toml", "[workspace]\nmembers = [\"apps/*\"]\n")]);
    std::fs::create_dir_all(p.path("vendor")).unwrap();
    std::fs::copy(&cpython.archive, p.path("vendor/cpython.tar.gz")).unwrap();
    for app in &APPS {
        let dir = format!("apps/{}", app.dir);
        p.write(
            &format!("{dir}/pyproject.toml"),
            &pyproject(app.dir, &[app.dep], ""),
        );
        p.write(
            &format!("{dir}/flavor.toml"),
            &format!(
                "[package]\n\n[python]\nentry = \"{}\"\ninterpreter = \
                 \"../../vendor/cpython.tar.gz\"\nexclude = [\"**/tests/**\"]\n",
                app.entry
            ),
        );
        let Some(()) = lock(&p.path(&dir), &uv, &python) else {
            return;
        };
    }
    let data = p.sandbox.path("fruit.txt");
    std::fs::write(&data, "fruit count\napple 3\npear 12\n").unwrap();

    let b = build(&p, "", &uv);
    // One interpreter tree (and one compressed `python` slot) for the four packages.
    assert_eq!(b.count("started", "python interpreter"), 1, "{:?}", b.ran());
    assert_eq!(
        b.count("started", "archive slot python (tar.zst)"),
        1,
        "{:?}",
        b.ran()
    );
    assert_eq!(b.packages().len(), 4, "{:?}", b.packages());

    for app in &APPS {
        let pkg = p.path(&format!("apps/{0}/dist/debug/{0}.psp", app.dir));
        let args: Vec<String> = (app.args.iter())
            .map(|a| a.replace("DATA", &data.display().to_string()))
            .collect();
        let mut cmd = hidden.sandbox_command(&p.sandbox, &pkg);
        let out = support::run(cmd.args(&args));
        assert_eq!(
            out.code,
            Some(0),
            "{}: {}\n{}",
            app.dir,
            out.stdout,
            out.stderr
        );
        for want in app.expect {
            assert!(
                out.stdout.contains(want),
                "{}: {want:?} in\n{}",
                app.dir,
                out.stdout
            );
        }
    }
}

const WORDFREQ_CLI: &str = "import sys\nfrom collections import Counter\n\n\
def main():\n    words = ' '.join(sys.argv[1:]).split()\n    for word, n in \
Counter(words).most_common():\n        print(f'{word} {n}')\n";

/// A packaged project (hatchling) depending on cowsay, locked; `None` by the need rule.
fn wordfreq(uv: &Path, cpython: &support::cpython::RelocatablePython) -> Option<Project> {
    let extra = "\n[project.scripts]\nwordfreq = \"wordfreq.cli:main\"\n\n[build-system]\n\
                 requires = [\"hatchling==1.27.0\"]\nbuild-backend = \"hatchling.build\"\n";
    let p = Project::from_files(&[
        (
            "flavor.toml",
            "[package]\n\n[python]\ninterpreter = \"vendor/cpython.tar.gz\"\n",
        ),
        (
            "pyproject.toml",
            &pyproject("wordfreq", &["cowsay==6.1"], extra),
        ),
        ("src/wordfreq/__init__.py", ""),
        ("src/wordfreq/cli.py", WORDFREQ_CLI),
    ]);
    std::fs::create_dir_all(p.path("vendor")).unwrap();
    std::fs::copy(&cpython.archive, p.path("vendor/cpython.tar.gz")).unwrap();
    lock(&p.path(""), uv, &cpython.source.join("bin/python3.12"))?;
    Some(p)
}

/// `{workenv}/python/bin/python3` of the one workenv under `cache`.
fn workenv_python(cache: &Path) -> PathBuf {
    let found: Vec<PathBuf> = support::files_under(cache)
        .into_iter()
        .filter(|p| p.ends_with("python/bin/python3.12"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

#[test]
fn a_packaged_project_builds_byte_identically_loads_its_pyc_and_rebuilds_only_site() {
    let Some((uv, cpython)) = tools() else { return };
    let Some(hidden) = support::hidden_python::hidden_python() else {
        return;
    };
    let Some(a) = wordfreq(&uv, cpython) else {
        return;
    };
    let Some(b) = wordfreq(&uv, cpython) else {
        return;
    };
    // The two clones lock the same (exclude-newer), then build the same bytes (signed with
    // the same key: a per-user key would differ between the two sandboxes' users).
    assert_eq!(a.bytes("uv.lock"), b.bytes("uv.lock"));
    a.sign_with_seed();
    b.sign_with_seed();
    build(&a, "", &uv);
    build(&b, "", &uv);
    let pkg = "dist/debug/wordfreq.psp";
    if a.bytes(pkg) != b.bytes(pkg) {
        let inspect = |p: &Project| p.flavor(&["inspect", "--json", pkg]).stdout;
        panic!(
            "two clones built different packages:\n{}\n{}",
            inspect(&a),
            inspect(&b)
        );
    }

    let run = |p: &Project, args: &[&str]| {
        let mut cmd = hidden.sandbox_command(&p.sandbox, &p.path(pkg));
        support::run(cmd.args(args))
    };
    run(&a, &["b", "a", "b"]).clean("b 2\na 1\n");

    // The interpreter that ran loads every module it imports from the shipped .pyc (hash
    // based, valid for this interpreter) and writes none: without -B, a stale or missing
    // .pyc would be (re)written, or fail to be ("could not create").
    let python = workenv_python(&a.sandbox.cache());
    let before = support::files_under(&a.sandbox.cache());
    let mut cmd = hidden.wrap(
        Command::new(&python).args(["-I", "-v", "-c", "import wordfreq.cli, cowsay, json"]),
        false,
    );
    let out = support::run(&mut cmd);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    for module in [
        "wordfreq/__pycache__/cli.",
        "cowsay/__pycache__/main.",
        "json/__pycache__/decoder.",
    ] {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains("code object from") && l.contains(module)),
            "{module} not loaded from its .pyc:\n{}",
            out.stderr
        );
    }
    assert!(!out.stderr.contains("created '"), "{}", out.stderr);
    assert!(!out.stderr.contains("could not create"), "{}", out.stderr);
    assert_eq!(before, support::files_under(&a.sandbox.cache()));

    // An edit of one app file rebuilds the project's wheel, the site tree, its slot and the
    // package; the interpreter and its slot come from the cache.
    a.replace(
        "src/wordfreq/cli.py",
        "print(f'{word} {n}')",
        "print(f'{word}: {n}')",
    );
    let again = build(&a, "", &uv);
    let ran = again.ran();
    assert_eq!(
        ran,
        [
            "archive slot site (tar.zst)",
            "build wheel wordfreq",
            "install site-packages wordfreq",
            "package wordfreq",
        ],
        "{ran:?}"
    );
    run(&a, &["b", "a", "b"]).clean("b: 2\na: 1\n");

    // Wheels are downloaded once per user: a workspace whose build cache is gone fetches
    // cowsay's wheel from the downloads directory (re-hashed, not downloaded again).
    let downloads = a.sandbox.cache().join("downloads");
    let wheel = support::files_under(&downloads)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with("cowsay-6.1-py3-none-any.whl"))
        .unwrap_or_else(|| panic!("no cowsay wheel under {}", downloads.display()));
    let fetched = std::fs::metadata(&wheel).unwrap().modified().unwrap();
    std::fs::remove_dir_all(a.path(".flavor")).unwrap();
    let fresh = build(&a, "", &uv);
    assert_eq!(
        fresh.count("started", "fetch cowsay-6.1-py3-none-any.whl"),
        1
    );
    assert_eq!(
        std::fs::metadata(&wheel).unwrap().modified().unwrap(),
        fetched
    );
}

#[test]
fn an_interpreter_uv_manages_is_packaged_without_touching_the_users_path() {
    let Some((uv, cpython)) = tools() else { return };
    let Some(hidden) = support::hidden_python::hidden_python() else {
        return;
    };
    let p = Project::from_files(&[
        (
            "flavor.toml",
            "[package]\n\n[python]\nentry = \"cowsay.__main__:cli\"\ninterpreter = { uv = \"3.12\" }\n",
        ),
        ("pyproject.toml", &pyproject("moo", &["cowsay==6.1"], "")),
    ]);
    let Some(()) = lock(&p.path(""), &uv, &cpython.source.join("bin/python3.12")) else {
        return;
    };
    // uv's managed installs: the fixture where uv keeps them (a download needs GitHub).
    let installs = p.sandbox.path("uv-python");
    std::fs::create_dir_all(&installs).unwrap();
    let unpacked = cpython.unpack_into(&installs);
    std::fs::rename(
        unpacked,
        installs.join(format!("cpython-{}-linux-x86_64-gnu", cpython.version)),
    )
    .unwrap();
    let mut cmd = flavor(&p, "", &["build", "--json"], &uv);
    cmd.env("UV_PYTHON_INSTALL_DIR", &installs);
    let b = Build::wait(support::start(&mut cmd));
    b.run.ok();
    assert_eq!(
        b.count("started", "archive python 3.12"),
        1,
        "{:?}",
        b.ran()
    );
    assert!(!p.sandbox.home().join(".local/bin").exists());
    let mut cmd = hidden.sandbox_command(&p.sandbox, &p.path("dist/debug/moo.psp"));
    let out = support::run(cmd.args(["-t", "managed by uv"]));
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("managed by uv"), "{}", out.stdout);

    // An interpreter uv has not got and cannot fetch is a clear error naming the request.
    p.replace("flavor.toml", "\"3.12\"", "\"3.9\"");
    let mut cmd = flavor(&p, "", &["build"], &uv);
    cmd.env("UV_PYTHON_INSTALL_DIR", &installs)
        .env("UV_PYTHON_INSTALL_MIRROR", "file:///nonexistent");
    let out = support::run(&mut cmd);
    out.expect_code(1);
    assert!(
        out.stderr.contains("interpreter { uv = \"3.9\" }"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("uv python install 3.9"),
        "{}",
        out.stderr
    );
}

#[test]
fn init_python_writes_a_locked_project_that_builds_and_runs_without_a_host_python() {
    let Some((uv, cpython)) = tools() else { return };
    let Some(hidden) = support::hidden_python::hidden_python() else {
        return;
    };
    let p = Project::from_files(&[]);
    std::fs::create_dir_all(p.path("")).unwrap();
    // uv's managed CPython 3.12: the fixture where uv keeps its installs.
    let installs = p.sandbox.path("uv-python");
    std::fs::create_dir_all(&installs).unwrap();
    let unpacked = cpython.unpack_into(&installs);
    let managed = installs.join(format!("cpython-{}-linux-x86_64-gnu", cpython.version));
    std::fs::rename(unpacked, managed).unwrap();
    let with_uv = |args: &[&str]| {
        let mut cmd = flavor(&p, "", args, &uv);
        cmd.env("UV_PYTHON_INSTALL_DIR", &installs);
        support::run(&mut cmd)
    };
    let out = with_uv(&["init", "--template", "python", "--name", "greeter-app"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    for file in [
        "flavor.toml",
        "pyproject.toml",
        "uv.lock",
        "src/greeter_app/cli.py",
        ".gitignore",
    ] {
        assert!(
            p.path(file).is_file(),
            "{file} not written:\n{}",
            out.stdout
        );
    }
    assert!(
        !out.stdout.contains("uv lock did not run"),
        "{}",
        out.stdout
    );
    let out = with_uv(&["build", "-q"]);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    let mut cmd = hidden.sandbox_command(&p.sandbox, &p.path("dist/debug/greeter-app.psp"));
    support::run(cmd.arg("snake")).clean("Hello, snake!\n");
}
