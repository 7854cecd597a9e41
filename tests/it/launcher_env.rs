//! The environment the command runs with (PSPF.md §7 layering: parent → `runtime.env` →
//! `workenv.env` → `execution.env` → `FLAVOR_*` → `PATH`), placeholders in every place the
//! contract names, and where the cache root comes from when `FLAVOR_CACHE`, XDG or `$HOME` are
//! missing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use support::*;

/// A package whose command prints its whole environment.
fn env_printer(name: &str) -> PackageBuilder {
    PackageBuilder::app(name, "3.2.1", "env\n")
}

fn env_of(run: &Run) -> BTreeMap<String, String> {
    run.ok();
    assert_eq!(run.stderr, "");
    parse_env(&run.stdout)
}

fn the_workenv(sb: &Sandbox, name: &str) -> PathBuf {
    let we = sb.workenvs(name);
    assert_eq!(we.len(), 1, "{name}: exactly one workenv");
    we[0].clone()
}

#[test]
fn unset_everything_but_passed_globs_then_set() {
    let sb = Sandbox::new();
    let pkg = env_printer("isolated")
        .runtime_env(policy(
            &["*"],
            &["PATH", "KEEP_*", "HOME", "ONE_?"],
            &[("SECRET_TOKEN", "LEAKED_TOKEN")],
            &[
                ("SET_PLAIN", "plain"),
                ("SET_PH", "{package_name}@{version}:{workenv}"),
            ],
        ))
        .workenv_env("W_DIR", "{workenv}/data")
        .workenv_env("W_NAME", "{package_name}-{version}")
        .exec_env("E_DIR", "{workenv}/etc")
        .exec_env("E_VER", "v{version}")
        .exec_env("SET_PLAIN", "overridden by execution.env")
        .build(&sb.pkg("isolated.psp"));
    let vars = [
        ("SECRET_TOKEN", "s3cret"),
        ("KEEP_A", "a"),
        ("KEEP_B", "b"),
        ("ONE_X", "x"),
        ("ONE_XY", "xy"),
        ("LANG", "C"),
        ("FLAVOR_LOG_LEVEL", "warn"),
    ];
    for _ in 0..2 {
        let env = env_of(&sb.run_env(&pkg, &[], &vars));
        let we = the_workenv(&sb, "isolated");
        let we_s = we.display().to_string();
        let get = |k: &str| env.get(k).map(String::as_str);
        // Unset with "*": only passed names survive (globs `*` and `?` honoured).
        for gone in [
            "SECRET_TOKEN",
            "LEAKED_TOKEN",
            "ONE_XY",
            "LANG",
            "TMPDIR",
            "XDG_CACHE_HOME",
        ] {
            assert_eq!(get(gone), None, "{gone} must be unset");
        }
        assert_eq!(get("FLAVOR_LOG_LEVEL"), None, "FLAVOR_* is not passed here");
        assert_eq!(get("KEEP_A"), Some("a"));
        assert_eq!(get("KEEP_B"), Some("b"));
        assert_eq!(get("ONE_X"), Some("x"));
        assert_eq!(get("HOME"), Some(sb.home().to_str().unwrap()));
        // set (placeholders expanded), then workenv.env, then execution.env on top.
        assert_eq!(
            get("SET_PH"),
            Some(format!("isolated@3.2.1:{we_s}").as_str())
        );
        assert_eq!(get("SET_PLAIN"), Some("overridden by execution.env"));
        assert_eq!(get("W_DIR"), Some(format!("{we_s}/data").as_str()));
        assert_eq!(get("W_NAME"), Some("isolated-3.2.1"));
        assert_eq!(get("E_DIR"), Some(format!("{we_s}/etc").as_str()));
        assert_eq!(get("E_VER"), Some("v3.2.1"));
        // The launcher's own variables come after the policy: never unset by it.
        assert_eq!(get("FLAVOR_WORKENV"), Some(we_s.as_str()));
        assert_eq!(get("FLAVOR_CACHE"), Some(sb.cache().to_str().unwrap()));
        assert_eq!(get("FLAVOR_COMMAND_NAME"), Some("isolated.psp"));
        assert_eq!(get("FLAVOR_ORIGINAL_COMMAND"), Some(pkg.to_str().unwrap()));
        let parent_path = std::env::var("PATH").unwrap();
        assert_eq!(
            get("PATH"),
            Some(format!("{we_s}/bin:{parent_path}").as_str())
        );
    }
}

#[test]
fn map_renames_unset_globs_drop_and_pass_protects() {
    let sb = Sandbox::new();
    let pkg = env_printer("mapper")
        .runtime_env(policy(
            &["DROP_*", "EXACT"],
            &["DROP_KEEP", "PASSED_OLD"],
            &[
                ("OLD_NAME", "NEW_NAME"),
                ("PASSED_OLD", "PASSED_NEW"),
                ("DROP_ME", "FROM_DROPPED"),
            ],
            &[("FORCED", "yes")],
        ))
        .build(&sb.pkg("mapper.psp"));
    let env = env_of(&sb.run_env(
        &pkg,
        &[],
        &[
            ("DROP_ME", "1"),
            ("DROP_KEEP", "2"),
            ("EXACT", "3"),
            ("EXACTLY", "4"),
            ("OLD_NAME", "renamed"),
            ("PASSED_OLD", "stays"),
            ("FORCED", "no"),
            ("UNRELATED", "5"),
        ],
    ));
    let get = |k: &str| env.get(k).map(String::as_str);
    assert_eq!(get("DROP_ME"), None);
    assert_eq!(get("DROP_KEEP"), Some("2"));
    assert_eq!(get("EXACT"), None);
    assert_eq!(get("EXACTLY"), Some("4"));
    assert_eq!(get("OLD_NAME"), None);
    assert_eq!(get("NEW_NAME"), Some("renamed"));
    // map skips passed names and has no effect on a variable that unset already removed.
    assert_eq!(get("PASSED_OLD"), Some("stays"));
    assert_eq!(get("PASSED_NEW"), None);
    assert_eq!(get("FROM_DROPPED"), None);
    assert_eq!(get("FORCED"), Some("yes"));
    assert_eq!(get("UNRELATED"), Some("5"));
}

#[test]
fn path_gets_the_workenv_bin_even_when_the_parent_has_none() {
    let sb = Sandbox::new();
    // An absolute shell, so the script still runs without a PATH.
    let mut b = PackageBuilder::app("nopath", "1", "echo \"PATH=$PATH\"\n");
    b.metadata.execution.command = "/bin/sh {workenv}/bin/app".into();
    let pkg = b.build(&sb.pkg("nopath.psp"));
    let env = env_of(&run(sb.command(&pkg).env_remove("PATH")));
    let we = the_workenv(&sb, "nopath");
    assert_eq!(env["PATH"], format!("{}/bin", we.display()));
}

/// A package printing its cache root and workenv, run with `env` applied on top of the
/// sandbox after removing every cache-related variable.
fn cache_probe(sb: &Sandbox, env: &[(&str, &Path)]) -> (String, String) {
    let pkg = PackageBuilder::app(
        "where",
        "1",
        "echo \"$FLAVOR_CACHE\"\necho \"$FLAVOR_WORKENV\"\n",
    );
    let pkg = pkg.build(&sb.pkg("where.psp"));
    let mut cmd = sb.command(&pkg);
    for k in ["FLAVOR_CACHE", "FLAVOR_WORKENV", "XDG_CACHE_HOME", "HOME"] {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = run(&mut cmd);
    r.ok();
    assert_eq!(r.stderr, "");
    let mut lines = r.stdout.lines().map(str::to_string);
    (lines.next().unwrap(), lines.next().unwrap())
}

#[test]
fn without_home_xdg_or_flavor_cache_the_root_is_a_private_dir_in_the_temp_dir() {
    let sb = Sandbox::new();
    let (root, workenv) = cache_probe(&sb, &[("TMPDIR", &sb.tmp())]);
    // Per user: the temp dir is shared (see launcher_trust for what another user's is).
    // SAFETY: geteuid has no preconditions.
    let expected = sb
        .tmp()
        .join(format!("flavor-{}", unsafe { libc::geteuid() }));
    assert_eq!(root, expected.display().to_string());
    assert!(workenv.starts_with(&root), "{workenv} under {root}");
    assert!(Path::new(&workenv).join("bin/app").is_file());
    assert!(expected.join("CACHEDIR.TAG").is_file());
    // A warm launch finds the same workenv there.
    let again = cache_probe(&sb, &[("TMPDIR", &sb.tmp())]);
    assert_eq!(again, (root, workenv));
    assert!(
        !sb.cache().join("workenv").exists(),
        "FLAVOR_CACHE was not set"
    );
}

#[test]
fn the_cache_root_falls_back_through_xdg_then_home() {
    let sb = Sandbox::new();
    let xdg = sb.path("xdg-cache");
    let (root, _) = cache_probe(&sb, &[("XDG_CACHE_HOME", &xdg), ("HOME", &sb.home())]);
    assert_eq!(root, xdg.join("flavor").display().to_string());
    let (root, _) = cache_probe(&sb, &[("HOME", &sb.home())]);
    assert_eq!(root, sb.home().join(".cache/flavor").display().to_string());
}

#[test]
fn a_nested_package_shares_its_parents_cache_root() {
    let sb = Sandbox::new();
    let parent_root = sb.path("parent-root");
    // FLAVOR_WORKENV = <root>/workenv/<name>: the root is its grandparent.
    let fake_workenv = parent_root.join("workenv").join("outer");
    fs::create_dir_all(&fake_workenv).unwrap();
    let (root, workenv) = cache_probe(&sb, &[("FLAVOR_WORKENV", &fake_workenv)]);
    assert_eq!(root, parent_root.display().to_string());
    assert!(workenv.starts_with(&root));
}
