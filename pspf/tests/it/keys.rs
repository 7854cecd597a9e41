//! Keys: seed derivation and the kit's two PEM key pairs must give exactly the facts of
//! `conformance/keys/keys.json`, our PEM writer must reproduce the kit's files byte for byte,
//! and OpenSSL must read what we write (and we what it writes).

use crate::common::{kit_dir, kit_packages};
use pspf::keys::{
    fingerprint, private_key_from_pem, private_key_to_pem, public_key_from_pem, public_key_to_pem,
    signing_key_from_seed,
};
use serde_json::Value;
use std::fs;
use std::process::Command;

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string: {}", v[key]))
}

fn keys_json() -> Value {
    serde_json::from_slice(&fs::read(kit_dir().join("keys/keys.json")).unwrap()).unwrap()
}

#[test]
fn seed_derivation_matches_keys_json() {
    let keys = keys_json();
    let seeds = keys["seeds"].as_object().unwrap();
    assert!(seeds.contains_key("conformance") && seeds.contains_key("test123"));
    for (seed, facts) in seeds {
        let key = signing_key_from_seed(seed);
        let public = key.verifying_key();
        assert_eq!(
            hex::encode(key.to_bytes()),
            text(facts, "secret_seed_hex"),
            "{seed}"
        );
        assert_eq!(
            hex::encode(public.as_bytes()),
            text(facts, "public_key_hex"),
            "{seed}"
        );
        assert_eq!(
            fingerprint(public.as_bytes()),
            text(facts, "public_key_sha256_hex")
        );
    }
}

#[test]
fn pem_key_pairs_load_and_serialise_as_recorded() {
    let (kit, keys) = (kit_dir(), keys_json());
    for pair in ["keygen", "conformance-seed"] {
        let f = &keys[pair];
        let private_text = fs::read_to_string(kit.join(text(f, "private_key_file"))).unwrap();
        let public_text = fs::read_to_string(kit.join(text(f, "public_key_file"))).unwrap();
        for (pem, kind) in [(&private_text, "private"), (&public_text, "public")] {
            let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).unwrap();
            assert_eq!(label, text(f, &format!("{kind}_pem_label")), "{pair}");
            assert_eq!(
                hex::encode(&der),
                text(f, &format!("{kind}_der_hex")),
                "{pair}"
            );
        }
        let private = private_key_from_pem(&private_text).unwrap();
        let public = public_key_from_pem(&public_text).unwrap();
        assert_eq!(
            hex::encode(private.to_bytes()),
            text(f, "private_seed_hex"),
            "{pair}"
        );
        assert_eq!(private.verifying_key(), public, "{pair}");
        assert_eq!(
            hex::encode(public.as_bytes()),
            text(f, "public_key_hex"),
            "{pair}"
        );
        assert_eq!(
            fingerprint(public.as_bytes()),
            text(f, "public_key_sha256_hex")
        );
        // Our writer produces exactly the text of the kit's (and upstream keygen's) files.
        assert_eq!(
            private_key_to_pem(&private),
            private_text,
            "{pair} private PEM"
        );
        assert_eq!(public_key_to_pem(&public), public_text, "{pair} public PEM");
    }
    let seed_key = signing_key_from_seed("conformance");
    let dir = kit.join("keys/conformance-seed");
    let private_text = fs::read_to_string(dir.join("flavor-private.key")).unwrap();
    let public_text = fs::read_to_string(dir.join("flavor-public.key")).unwrap();
    assert_eq!(private_key_to_pem(&seed_key), private_text);
    assert_eq!(public_key_to_pem(&seed_key.verifying_key()), public_text);

    // The *-pemkey packages are signed with the keygen pair, the rest with the seed key.
    for p in kit_packages() {
        let pair = if p.name.ends_with("-pemkey") {
            "keygen"
        } else {
            "conformance-seed"
        };
        let want = text(&keys[pair], "public_key_hex");
        assert_eq!(text(&p.expect, "public_key"), want, "{}", p.name);
    }
}

/// `openssl` on PATH, or `None` with a note (a failure when `CI` is set: CI installs it).
fn openssl() -> Option<&'static str> {
    let out = Command::new("openssl").arg("version").output();
    if out.is_ok_and(|o| o.status.success()) {
        return Some("openssl");
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "openssl is required when CI is set"
    );
    eprintln!("note: openssl not found on PATH; skipping the OpenSSL interop test");
    None
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn openssl_interoperates_with_our_pem_files() {
    let Some(openssl) = openssl() else { return };
    let dir = tempfile::tempdir().unwrap();

    // OpenSSL's key loads, and its public half is the one we derive and write.
    let theirs = dir.path().join("openssl.key");
    run(Command::new(openssl)
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&theirs));
    let their_text = fs::read_to_string(&theirs).unwrap();
    let key = private_key_from_pem(&their_text).unwrap();
    let their_public = run(Command::new(openssl)
        .args(["pkey", "-pubout", "-in"])
        .arg(&theirs));
    assert_eq!(
        public_key_from_pem(&their_public).unwrap(),
        key.verifying_key()
    );
    assert_eq!(public_key_to_pem(&key.verifying_key()), their_public);
    assert_eq!(private_key_to_pem(&key), their_text);

    // OpenSSL accepts what we write and derives the same public key PEM from it.
    for seed in ["conformance", "test123"] {
        let ours = dir.path().join(format!("{seed}.key"));
        let key = signing_key_from_seed(seed);
        fs::write(&ours, private_key_to_pem(&key)).unwrap();
        let public = run(Command::new(openssl)
            .args(["pkey", "-pubout", "-in"])
            .arg(&ours));
        assert_eq!(
            public,
            public_key_to_pem(&key.verifying_key()),
            "seed {seed}"
        );
    }
}
