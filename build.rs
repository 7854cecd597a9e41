//! Builds the embedded launcher: a nested `cargo build` of `flavor-launcher`, static
//! (`+crt-static`, non-PIE), size-optimised (profile `launcher`), with local paths remapped so
//! the bytes do not depend on where the repository lives. `--target` is explicit so the static
//! flags reach only target crates, never proc macros or build scripts (DESIGN.md §1). The
//! result's path is exported as `FLAVOR_LAUNCHER_BIN` for `include_bytes!`.
//!
//! Two size cuts live here rather than in the profile (README "Launcher size" has the figures):
//! - the link drops call-frame information (`launcher/link/no-eh-frame.ld`,
//!   `--no-eh-frame-hdr`): with `panic = "abort"` nothing unwinds;
//! - libzstd is compiled with one Huffman decoder and one sequence decoder
//!   (`HUF_FORCE_DECOMPRESS_X1`, `ZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT`): every frame still
//!   decodes, at the same speed on the benchmark payloads, in 60 KB less code.

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
    let no_eh_frame = manifest_dir.join("launcher/link/no-eh-frame.ld");
    for arg in [
        "-Wl,--no-eh-frame-hdr".to_string(),
        format!("-Wl,-T,{}", no_eh_frame.display()),
    ] {
        rustflags.extend(["-C".to_string(), format!("link-arg={arg}")]);
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let (cflags_var, cflags) = zstd_cflags();
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
        .env(cflags_var, cflags)
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

/// The C flags for the launcher's target (libzstd is its only C code): the smaller decoder
/// set, after whatever the user gave in the most specific variable the `cc` crate reads — which
/// becomes the variable set, so the user's flags still apply.
fn zstd_cflags() -> (String, String) {
    const DECODERS: &str = "-DHUF_FORCE_DECOMPRESS_X1=1 -DZSTD_FORCE_DECOMPRESS_SEQUENCES_SHORT=1";
    let names = [
        format!("CFLAGS_{TARGET}"),
        format!("CFLAGS_{}", TARGET.replace('-', "_")),
        "TARGET_CFLAGS".to_string(),
        "CFLAGS".to_string(),
    ];
    for name in &names {
        println!("cargo:rerun-if-env-changed={name}");
    }
    let user = names
        .iter()
        .find_map(|name| env::var(name).ok())
        .unwrap_or_default();
    (
        names[0].clone(),
        format!("{user} {DECODERS}").trim().to_string(),
    )
}
