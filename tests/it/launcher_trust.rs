//! What the launcher trusts on this machine: a cache another user made is never used (the
//! temp-dir fallback is per user and private), and under `strict` an older signed version of
//! a package never replaces a newer one already seen (rollback), unless the user allows it.

use flavor_workenv::{BuildLayout, EXEC_PLAN_VERSION, ExecPlan, Validation};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::tools::s;
use support::*;

/// uid of `nobody`, the "other user" of these tests.
const OTHER_UID: u32 = 65534;

fn am_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn chown_tree(path: &Path, uid: u32) {
    let status = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}"), s(path)])
        .status()
        .unwrap();
    assert!(status.success(), "chown {}", path.display());
}

/// Plant, under cache root `root`, a complete-looking workenv for `pkg` whose exec plan runs
/// `sh -c 'echo PLANTED; touch <pwned>'` (what another user of the machine could write).
fn plant(root: &Path, pkg: &Path, pwned: &Path) {
    let index = pspf::Package::open(pkg).unwrap().index().raw().to_vec();
    let sha: [u8; 32] = Sha256::digest(&index).into();
    let name = flavor_workenv::layout::package_name(pkg);
    let build = BuildLayout::for_index(root.to_path_buf(), name, &sha);
    fs::create_dir_all(build.dir()).unwrap();
    let plan = ExecPlan {
        plan_version: EXEC_PLAN_VERSION,
        index_sha256: hex::encode(sha),
        package: "victim".into(),
        version: "1.0".into(),
        workenv: build.dir(),
        program: "/bin/sh".into(),
        args: vec![
            "-c".into(),
            format!("echo PLANTED; touch {}", pwned.display()),
        ],
        check: None,
        runtime_env: None,
        workenv_env: BTreeMap::new(),
        execution_env: BTreeMap::new(),
        volatile: vec![],
        validation: Validation::Strict,
        key_trusted: true,
    };
    fs::write(build.ready(), plan.to_json()).unwrap();
}

/// Issue 12 item 2: with HOME and XDG_CACHE_HOME unset the cache is `$TMPDIR/flavor-<uid>`
/// (0700), never the shared `$TMPDIR/flavor`; a cache directory or plan another user owns,
/// or that others can write, is refused with a message saying what to do.
#[test]
fn the_temp_fallback_is_per_user_and_nothing_another_user_made_is_trusted() {
    let sb = Sandbox::new();
    let pkg = PackageBuilder::app("tmpapp", "1.0", "echo genuine\n").build(&sb.pkg("tmpapp.psp"));
    let pwned = sb.path("pwned");
    let launch = || {
        let mut cmd = sb.command(&pkg);
        for var in ["HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "FLAVOR_CACHE"] {
            cmd.env_remove(var);
        }
        run(&mut cmd)
    };
    // Another user's plan in the old shared location is not even looked at.
    let shared = sb.tmp().join("flavor");
    plant(&shared, &pkg, &pwned);
    if am_root() {
        chown_tree(&shared, OTHER_UID);
    } else {
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    }
    launch().clean("genuine\n");
    assert!(!pwned.exists(), "a plan another user planted was executed");
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let mine = sb.tmp().join(format!("flavor-{uid}"));
    let m = fs::symlink_metadata(&mine).unwrap();
    assert!(m.is_dir() && m.uid() == uid);
    assert_eq!(m.permissions().mode() & 0o777, 0o700);

    // The per-user directory pre-created by somebody else (or open to everyone).
    let refused = |what: &str| {
        let r = launch();
        r.expect_code(106);
        assert_eq!(r.stdout, "", "{what}: ran");
        assert_eq!(r.stderr_lines().len(), 1, "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("FLAVOR_CACHE"),
            "{what}: no hint: {}",
            r.stderr
        );
        assert!(!pwned.exists(), "{what}: the planted plan ran");
        r.stderr
    };
    fs::remove_dir_all(&mine).unwrap();
    plant(&mine, &pkg, &pwned);
    if am_root() {
        chown_tree(&mine, OTHER_UID);
        let e = refused("a root owned by another user");
        assert!(e.contains(&format!("uid {OTHER_UID}")), "{e}");
        assert!(e.contains(s(&mine)), "{e}");
        // Owned by us again, but the plan itself is somebody else's.
        chown_tree(&mine, uid);
        let plan = fs::read_dir(mine.join("workenv/.tmpapp.pspf/versions"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "ready"))
            .unwrap();
        chown_tree(&plan, OTHER_UID);
        let e = refused("a plan owned by another user");
        assert!(e.contains(".ready"), "{e}");
        chown_tree(&plan, uid);
        fs::set_permissions(&plan, fs::Permissions::from_mode(0o666)).unwrap();
        let e = refused("a plan others can write");
        assert!(e.contains("writable"), "{e}");
        fs::set_permissions(&plan, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let versions = mine.join("workenv/.tmpapp.pspf/versions");
    fs::set_permissions(&versions, fs::Permissions::from_mode(0o777)).unwrap();
    let e = refused("a cache directory others can write");
    assert!(e.contains(s(&versions)), "{e}");
    assert!(e.contains("writable"), "{e}");

    // Once the user removes it, the package unpacks into a fresh private directory.
    fs::remove_dir_all(&mine).unwrap();
    launch().clean("genuine\n");
    launch().clean("genuine\n");
    assert!(!pwned.exists());
}

/// A trusted-keys directory with the public keys of `seeds`.
fn trusting(sb: &Sandbox, seeds: &[&str]) -> PathBuf {
    let keys = sb.path("trusted-keys");
    fs::create_dir_all(&keys).unwrap();
    for seed in seeds {
        let key = pspf::keys::signing_key_from_seed(seed).verifying_key();
        fs::write(
            keys.join(format!("{seed}.pub")),
            pspf::keys::public_key_to_pem(&key),
        )
        .unwrap();
    }
    keys
}

/// Version `version` of package `rb`, signed with `seed`, written to `<file>.psp`.
fn release(sb: &Sandbox, file: &str, version: &str, seed: &str) -> PathBuf {
    let mut b = PackageBuilder::app("rb", version, &format!("echo rb {version}\n"));
    b.seed = seed.into();
    b.build(&sb.pkg(&format!("{file}.psp")))
}

/// Issue 12 item 11: under strict, a package older (by semver) than the newest version of
/// the same package name and signing key seen on this machine is refused, saying which
/// version was seen and how to allow the downgrade; the seen version is recorded by any
/// verified launch; other keys, non-semver versions and weaker levels are not affected.
#[test]
fn strict_refuses_a_rollback_to_an_older_signed_version() {
    let sb = Sandbox::new();
    let keys = trusting(&sb, &[TEST_SEED, "other publisher"]);
    let run_at = |pkg: &Path, level: &str, extra: &[(&str, &str)]| {
        let mut env = vec![
            ("FLAVOR_VALIDATION", level),
            ("FLAVOR_TRUSTED_KEYS_DIR", s(&keys)),
        ];
        env.extend_from_slice(extra);
        sb.run_env(pkg, &[], &env)
    };
    let old = release(&sb, "rb-old", "1.9.0", TEST_SEED);
    let new = release(&sb, "rb-new", "1.10.0", TEST_SEED);
    run_at(&old, "strict", &[]).clean("rb 1.9.0\n");
    // 1.10.0 is newer than 1.9.0 (semver, not text order).
    run_at(&new, "strict", &[]).clean("rb 1.10.0\n");
    // The replayed older version, already unpacked (a warm launch), is refused.
    let r = run_at(&old, "strict", &[]);
    r.expect_code(107);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    for needle in ["1.9.0", "1.10.0", "FLAVOR_ALLOW_DOWNGRADE=1"] {
        assert!(r.stderr.contains(needle), "{needle} missing: {}", r.stderr);
    }
    // Explicitly allowed; and weaker levels do not apply the rule.
    run_at(&old, "strict", &[("FLAVOR_ALLOW_DOWNGRADE", "1")]).clean("rb 1.9.0\n");
    run_at(&old, "standard", &[]).clean("rb 1.9.0\n");
    // Allowing once does not lower what was seen.
    run_at(&old, "strict", &[]).expect_code(107);
    // A cold launch of an older pre-release is refused too.
    let rc = release(&sb, "rb-rc", "1.10.0-rc.1", TEST_SEED);
    run_at(&rc, "strict", &[]).expect_code(107);
    // Another key's package of the same name has its own history.
    let theirs = release(&sb, "rb-theirs", "0.1.0", "other publisher");
    run_at(&theirs, "strict", &[]).clean("rb 0.1.0\n");
    // A version that is not semver gives no order: it runs.
    let calver = release(&sb, "rb-cal", "2020.1", TEST_SEED);
    run_at(&calver, "strict", &[]).clean("rb 2020.1\n");
    run_at(&new, "strict", &[]).clean("rb 1.10.0\n");

    // A standard launch records what it verified: a later strict replay is refused.
    let sb2 = Sandbox::new();
    let keys2 = trusting(&sb2, &[TEST_SEED]);
    let newer = release(&sb2, "rb-new", "2.0.0", TEST_SEED);
    let older = release(&sb2, "rb-old", "1.0.0", TEST_SEED);
    sb2.run(&newer, &[]).clean("rb 2.0.0\n");
    let strict = [
        ("FLAVOR_VALIDATION", "strict"),
        ("FLAVOR_TRUSTED_KEYS_DIR", s(&keys2)),
    ];
    let r = sb2.run_env(&older, &[], &strict);
    r.expect_code(107);
    assert!(r.stderr.contains("2.0.0"), "{}", r.stderr);
    // What was seen is kept privately in the user's cache.
    let seen: Vec<PathBuf> = files_under(&sb2.cache().join("seen"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "version"))
        .collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let m = fs::metadata(&seen[0]).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o077,
        0,
        "{:o}",
        m.permissions().mode()
    );
}
