//! `flavor keygen` and `flavor key trust|list`: key files that OpenSSL reads, with private
//! modes; no silent overwrite; and the trusted-keys directory the launcher consults under
//! `FLAVOR_VALIDATION=strict`, wherever the environment puts it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use support::tools::{flavor, flavor_in, hello_project, json_of, s};
use support::{Sandbox, run};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `openssl ARGS`; panics with a hint when OpenSSL is missing (`.ci/run` installs it).
fn openssl(args: &[&str]) -> support::Run {
    assert!(
        Command::new("openssl").arg("version").output().is_ok(),
        "openssl is needed for the key interop tests (.ci/run installs it)"
    );
    run(Command::new("openssl").args(args))
}

#[test]
fn keygen_writes_a_private_key_pair_that_openssl_reads() {
    let sb = Sandbox::new();
    let out = flavor(&sb, &["keygen"]);
    out.ok();
    // The default is the per-user key directory, under XDG_CONFIG_HOME.
    let dir = sb.path("xdg-config/flavor/keys");
    let (private, public) = (
        dir.join("flavor-private.key"),
        dir.join("flavor-public.key"),
    );
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&private), 0o600);
    assert_eq!(mode(&public), 0o600);
    let pem = fs::read_to_string(&private).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");

    // OpenSSL derives the same public key from the private one.
    let derived = openssl(&["pkey", "-in", s(&private), "-pubout"]);
    derived.ok();
    assert_eq!(derived.stdout, fs::read_to_string(&public).unwrap());
    openssl(&["pkey", "-pubin", "-in", s(&public), "-noout"]).ok();

    // The fingerprint printed is the SHA-256 of the raw public key.
    let key = pspf::keys::public_key_from_pem(&fs::read_to_string(&public).unwrap()).unwrap();
    let fp = pspf::keys::fingerprint(key.as_bytes());
    assert!(
        out.stdout
            .contains(&format!("fingerprint  {}\n", &fp[..16])),
        "{}",
        out.stdout
    );

    // No overwrite without --force; the key stays as it was.
    let again = flavor(&sb, &["keygen"]);
    again.expect_code(1);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert_eq!(fs::read_to_string(&private).unwrap(), pem);
    let forced = json_of(&flavor(&sb, &["keygen", "--force", "--trust", "--json"]));
    assert_ne!(forced["fingerprint"], fp.as_str());
    assert_ne!(fs::read_to_string(&private).unwrap(), pem);
    assert_eq!(mode(&private), 0o600);
    // --trust put the new key among the trusted ones, where `key list` marks it as yours.
    assert!(Path::new(forced["trusted"].as_str().unwrap()).is_file());
    let listed = json_of(&flavor(&sb, &["key", "list", "--json"]));
    assert_eq!(listed["keys"][0]["fingerprint"], forced["fingerprint"]);
    assert_eq!(listed["keys"][0]["yours"], true);
}

#[test]
fn a_key_from_keygen_signs_builds_and_strict_launches_need_it_trusted() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    let keys = project.join("keys");
    let info = json_of(&flavor(&sb, &["keygen", "--out-dir", s(&keys), "--json"]));
    assert_eq!(info["private_key"], s(&keys.join("flavor-private.key")));
    let mut manifest = fs::read_to_string(project.join("flavor.toml")).unwrap();
    manifest.push_str("\n[signing]\nprivate_key = \"keys/flavor-private.key\"\n");
    fs::write(project.join("flavor.toml"), manifest).unwrap();
    flavor_in(&sb, &project, &["build", "-q"]).ok();
    let psp = project.join("dist/debug/hello.psp");
    let inspected = json_of(&flavor(&sb, &["inspect", s(&psp), "--json"]));
    assert_eq!(inspected["index"]["public_key"], info["public_key_hex"]);

    // Not trusted yet: a strict launch refuses (107 = integrity).
    let strict = [("FLAVOR_VALIDATION", "strict")];
    sb.run_env(&psp, &["world"], &strict).expect_code(107);
    let trusted = flavor(&sb, &["key", "trust", s(&keys.join("flavor-public.key"))]);
    trusted.ok();
    assert!(
        trusted
            .stdout
            .contains(&info["fingerprint"].as_str().unwrap()[..16])
    );
    let ran = sb.run_env(&psp, &["world"], &strict);
    ran.ok();
    assert!(ran.stdout.contains("world"), "{}", ran.stdout);

    // Trusting twice is harmless and says so.
    let twice = flavor(&sb, &["key", "trust", s(&keys.join("flavor-public.key"))]);
    assert!(
        twice.stdout.starts_with("already trusted"),
        "{}",
        twice.stdout
    );
    let listed = json_of(&flavor(&sb, &["key", "list", "--json"]));
    let fps: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["fingerprint"].as_str())
        .collect();
    assert_eq!(fps, [info["fingerprint"].as_str().unwrap()]);
}

#[test]
fn the_trusted_keys_directory_follows_the_environment_like_the_launcher() {
    let sb = Sandbox::new();
    let key = pspf::keys::signing_key_from_seed("tools-keys").verifying_key();
    let hex_key = hex::encode(key.as_bytes());
    let fp = pspf::keys::fingerprint(key.as_bytes());
    let with = |var: &str, dir: &Path, args: &[&str]| {
        let mut cmd = support::tools::flavor_cmd(&sb, sb.root(), args);
        cmd.env(var, dir);
        run(&mut cmd)
    };
    for (var, dir, expected) in [
        (
            "FLAVOR_TRUSTED_KEYS_DIR",
            sb.path("custom-trust"),
            sb.path("custom-trust"),
        ),
        (
            "FLAVOR_CONFIG_DIR",
            sb.path("flavor-config"),
            sb.path("flavor-config/trusted-keys"),
        ),
        (
            "XDG_CONFIG_HOME",
            sb.path("xdg-other"),
            sb.path("xdg-other/flavor/trusted-keys"),
        ),
    ] {
        with(var, &dir, &["key", "trust", &hex_key]).ok();
        let file = expected.join(format!("{}.pub", &fp[..16]));
        assert!(file.is_file(), "{var}: {}", file.display());
        let listed = with(var, &dir, &["key", "list"]);
        listed.ok();
        assert!(
            listed.stdout.contains(&fp[..16]),
            "{var}: {}",
            listed.stdout
        );
        assert!(
            listed.stdout.contains(s(&expected)),
            "{var}: {}",
            listed.stdout
        );
    }
    // An unreadable file is listed as such (the launcher skips it).
    fs::write(sb.path("custom-trust/junk.pub"), "not a key").unwrap();
    let listed = with(
        "FLAVOR_TRUSTED_KEYS_DIR",
        &sb.path("custom-trust"),
        &["key", "list"],
    );
    assert!(
        listed.stdout.contains("not a public key"),
        "{}",
        listed.stdout
    );
}

#[test]
fn key_trust_refuses_what_is_not_a_public_key() {
    let sb = Sandbox::new();
    flavor(&sb, &["keygen", "--out-dir", "k"]).ok();
    let private = flavor(&sb, &["key", "trust", "k/flavor-private.key"]);
    private.expect_code(1);
    assert!(private.stderr.contains("private key"), "{}", private.stderr);
    fs::write(sb.path("garbage.pem"), "-----BEGIN PUBLIC KEY-----\nAAAA\n").unwrap();
    flavor(&sb, &["key", "trust", "garbage.pem"]).expect_code(1);
    flavor(&sb, &["key", "trust", "no-such-file"]).expect_code(1);
    flavor(&sb, &["key", "bogus"]).expect_code(2);
    flavor(&sb, &["keygen", "--out-dir"]).expect_code(2);
    // Nothing was trusted along the way.
    let listed = json_of(&flavor(&sb, &["key", "list", "--json"]));
    assert_eq!(listed["keys"], serde_json::json!([]));
}

#[test]
fn one_fingerprint_names_a_key_everywhere_and_verify_accepts_it() {
    let sb = Sandbox::new();
    let project = hello_project(&sb, "hello");
    let keys = project.join("keys");
    let made = flavor(&sb, &["keygen", "--out-dir", s(&keys)]);
    made.ok();
    let short = made
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint  "))
        .unwrap_or_else(|| panic!("{}", made.stdout))
        .to_string();
    assert_eq!(short.len(), 16, "{short}");
    let info = json_of(&flavor(
        &sb,
        &["keygen", "--out-dir", s(&keys), "--force", "--json"],
    ));
    let full = info["fingerprint"].as_str().unwrap().to_string();
    let short = full[..16].to_string();
    let mut manifest = fs::read_to_string(project.join("flavor.toml")).unwrap();
    manifest.push_str("\n[signing]\nprivate_key = \"keys/flavor-private.key\"\n");
    fs::write(project.join("flavor.toml"), manifest).unwrap();
    flavor_in(&sb, &project, &["build", "-q"]).ok();
    let psp = project.join("dist/debug/hello.psp");

    // The same short form in inspect and the launcher's info; the full one in --json.
    let inspected = flavor(&sb, &["inspect", s(&psp)]);
    inspected.ok();
    assert!(
        inspected.stdout.contains(&format!("key       {short}")),
        "{}",
        inspected.stdout
    );
    let json = json_of(&flavor(&sb, &["inspect", s(&psp), "--json"]));
    assert_eq!(json["key"]["fingerprint"], full.as_str());
    let mut launcher = sb.command(&psp);
    launcher.env("FLAVOR_LAUNCHER_CLI", "1").arg("info");
    let launcher_info = run(&mut launcher);
    launcher_info.ok();
    assert!(
        launcher_info.stdout.contains(&short),
        "{}",
        launcher_info.stdout
    );

    // --trusted-key takes the key file, its hex, or its fingerprint (short or full).
    let public_hex = info["public_key_hex"].as_str().unwrap();
    let public_file = keys.join("flavor-public.key");
    for spec in [s(&public_file), public_hex, &full, &short] {
        let out = flavor(&sb, &["verify", "--trusted-key", spec, s(&psp)]);
        assert_eq!(out.code, Some(0), "{spec}: {}{}", out.stdout, out.stderr);
    }
    // Another key's fingerprint fails, naming the package's key by the same short form.
    let other = pspf::keys::signing_key_from_seed("someone else").verifying_key();
    let other_fp = pspf::keys::fingerprint(other.as_bytes());
    let refused = flavor(&sb, &["verify", "--trusted-key", &other_fp, s(&psp)]);
    refused.expect_code(1);
    assert!(refused.stderr.contains(&short), "{}", refused.stderr);
    // Too short to name a key safely.
    let vague = flavor(&sb, &["verify", "--trusted-key", &short[..8], s(&psp)]);
    assert_ne!(vague.code, Some(0));
    assert!(vague.stderr.contains("too few"), "{}", vague.stderr);
}
