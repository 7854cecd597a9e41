//! Builds the embedded launcher: a nested `cargo build` of `flavor-launcher`, static
//! (`+crt-static`, non-PIE), size-optimised (profile `launcher`), with local paths remapped so
//! the bytes do not depend on where the repository lives. `--target` is explicit so the static
//! flags reach only target crates, never proc macros or build scripts (DESIGN.md §1). The
//! result's path is exported as `FLAVOR_LAUNCHER_BIN` for `include_bytes!`.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const TARGET: &str = "x86_64-unknown-linux-gnu";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    for watched in [
        "launcher",
        "workenv",
        "pspf/src",
        "pspf/Cargo.toml",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(watched).display()
        );
    }
    println!("cargo:rerun-if-env-changed=FLAVOR_LAUNCHER_PREBUILT");

    // An explicitly given launcher (e.g. for packaging) short-circuits the nested build.
    if let Some(prebuilt) = env::var_os("FLAVOR_LAUNCHER_PREBUILT") {
        println!(
            "cargo:rustc-env=FLAVOR_LAUNCHER_BIN={}",
            PathBuf::from(prebuilt).display()
        );
        return;
    }

    let target_root = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("target"));
    let target_dir = target_root.join("launcher-build");
    let cargo_home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut rustflags = vec![
        "-C".to_string(),
        "target-feature=+crt-static".into(),
        "-C".into(),
        "relocation-model=static".into(),
        format!("--remap-path-prefix={}=/flavor", manifest_dir.display()),
    ];
    if let Some(home) = cargo_home {
        rustflags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&manifest_dir)
        .args([
            "build",
            "--quiet",
            "-p",
            "flavor-launcher",
            "--profile",
            "launcher",
        ])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_PRIMARY_PACKAGE")
        .status()
        .expect("failed to start the nested cargo build of flavor-launcher");
    assert!(
        status.success(),
        "building the embedded launcher (flavor-launcher, profile launcher, target {TARGET}) failed"
    );
    let bin = target_dir
        .join(TARGET)
        .join("launcher")
        .join("flavor-launcher");
    assert!(bin.is_file(), "{} was not produced", bin.display());
    println!("cargo:rustc-env=FLAVOR_LAUNCHER_BIN={}", bin.display());
}
