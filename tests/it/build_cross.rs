//! Targets are platforms: `examples/cross` built for linux-x86_64 (flavor's launcher) and
//! linux-aarch64 (FlavorPack's Rust 0.5.4 aarch64 launcher, added with `flavor launcher add`),
//! both packages run (the aarch64 one through qemu in binfmt_misc); a darwin-arm64 package
//! made with FlavorPack's macOS launcher verifies and inspects as Mach-O arm64; a launcher of
//! another platform and a codec the launcher cannot decode are located errors; names select
//! packages, targets, platforms and `package:target`.
//!
//! Outside CI a missing tool (cross gcc, qemu, PyPI) skips a test with one line; under
//! `CI=true` it fails (`support::need`).

use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use support::cross;
use support::project::Project;
use support::upstream::{self, Kind, platform_of};

/// The JSON document a successful `flavor ARGS` prints.
fn json(p: &Project, args: &[&str]) -> Value {
    let out = p.flavor(args);
    out.ok();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// What a failed command printed, with miette's wrapping undone: each line's frame (`│`, `×`,
/// indentation) removed and the lines joined as the wrapping split them (after a `-` or `/`
/// without a space), so a test can look for whole sentences.
fn unwrapped(stderr: &str) -> String {
    let mut out = String::new();
    for line in stderr.lines() {
        let line = line.trim_start().trim_start_matches(['│', '×', '·']).trim();
        if line.is_empty() {
            continue;
        }
        if !(out.is_empty() || out.ends_with('-') || out.ends_with('/')) {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// The launchers `flavor launcher list --json` shows for `platform`.
fn listed(p: &Project, platform: &str) -> Vec<Value> {
    let doc = json(p, &["launcher", "list", "--json"]);
    let platforms = doc["platforms"].as_array().expect("platforms");
    let entry = platforms.iter().find(|e| e["platform"] == platform);
    entry.expect("every platform is listed")["launchers"]
        .as_array()
        .expect("launchers")
        .clone()
}

#[test]
fn a_release_build_makes_a_working_package_per_platform() {
    let Some(_gcc) = cross::aarch64_gcc() else {
        return;
    };
    let Some(()) = cross::aarch64_runs() else {
        return;
    };
    let Some(arm) = upstream::launcher("linux-aarch64", Kind::Rust) else {
        return;
    };
    let p = Project::example("cross");
    assert!(listed(&p, "linux-aarch64").is_empty());
    // Without a launcher for linux-aarch64, the build says so and writes nothing.
    let out = p.flavor(&["build", "--release"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr).contains("no launcher for linux-aarch64"),
        "{}",
        out.stderr
    );
    assert!(
        unwrapped(&out.stderr).contains("flavor launcher add"),
        "{}",
        out.stderr
    );
    assert!(!p.path("dist").exists());

    let added = p.flavor(&["launcher", "add", arm.path.to_str().unwrap()]);
    added.ok();
    assert!(
        added
            .stdout
            .contains("added FlavorPack's Rust launcher for linux-aarch64"),
        "{}",
        added.stdout
    );
    let arm_listed = listed(&p, "linux-aarch64");
    assert_eq!(arm_listed.len(), 1, "{arm_listed:?}");
    let l = &arm_listed[0];
    assert_eq!(l["kind"], "upstream-rust");
    assert_eq!(l["origin"], "added");
    assert_eq!(l["static"], true);
    assert_eq!(l["default"], true);
    assert_eq!(
        l["codecs"],
        serde_json::json!(["raw", "gzip", "tar", "tar.gz"])
    );
    assert_eq!(l["size"], fs::metadata(&arm.path).unwrap().len());
    let x86 = listed(&p, "linux-x86_64");
    assert_eq!(x86[0]["kind"], "flavor");
    assert_eq!(x86[0]["origin"], "builtin");

    let b = p.build(&["--release"]);
    assert_eq!(
        b.packages(),
        ["ctool (linux-aarch64)", "ctool (linux-x86_64)"]
    );
    // The shared step ran once; the per-target step once per target.
    assert_eq!(b.count("started", "step version"), 1, "{:?}", b.ran());
    assert_eq!(b.count("started", "step compile (linux-x86_64)"), 1);
    assert_eq!(b.count("started", "step compile (linux-aarch64)"), 1);
    let installed = b.summary["packages"].as_array().unwrap();
    let arm_out = installed
        .iter()
        .find(|o| o["target"] == "linux-aarch64")
        .unwrap();
    assert_eq!(arm_out["platform"], "linux-aarch64");
    assert_eq!(arm_out["launcher"]["kind"], "upstream-rust");
    assert_eq!(arm_out["launcher"]["source"], "added");

    let ran = p.run_package("dist/ctool-linux-x86_64.psp", &["hi"]);
    ran.ok();
    assert_eq!(ran.stdout, "hello from ctool 0.1.0 (x86_64) hi\n");
    let ran = p.run_package("dist/ctool-linux-aarch64.psp", &["hi"]);
    ran.ok();
    assert!(
        ran.stdout
            .ends_with("hello from ctool 0.1.0 (aarch64) hi\n"),
        "{}\n{}",
        ran.stdout,
        ran.stderr
    );

    // The aarch64 package: its platform, its launcher and its tool, read from the bytes.
    let doc = json(&p, &["inspect", "dist/ctool-linux-aarch64.psp", "--json"]);
    assert_eq!(doc["platform"], "linux-aarch64");
    assert_eq!(doc["metadata"]["build"]["platform"]["arch"], "aarch64");
    assert_eq!(doc["launcher"]["kind"], "upstream-rust");
    assert_eq!(doc["launcher"]["format"], "ELF");
    assert_eq!(doc["launcher"]["platform"], "linux-aarch64");
    for slot in doc["slots"].as_array().unwrap() {
        assert_eq!(slot["codec"], "tar.gz", "{slot}");
    }
    p.flavor(&[
        "extract",
        "dist/ctool-linux-aarch64.psp",
        "tool",
        "arm-tool",
    ])
    .ok();
    assert_eq!(
        platform_of(&p.path("arm-tool/build/ctool")).unwrap(),
        "linux-aarch64"
    );
    let doc = json(&p, &["inspect", "dist/ctool-linux-x86_64.psp", "--json"]);
    assert_eq!(doc["platform"], "linux-x86_64");
    assert_eq!(doc["launcher"]["kind"], "flavor");

    // Nothing changed: one target by platform, or by package:target, is cached.
    let b = p.build(&["--release", "--target", "linux-aarch64"]);
    assert_eq!(b.packages(), ["ctool (linux-aarch64)"]);
    assert_eq!(b.built(), 0);
    let b = p.build(&["--release", "ctool:linux-x86_64"]);
    assert_eq!(b.packages(), ["ctool (linux-x86_64)"]);
    assert_eq!(b.built(), 0);
}

/// A one-slot package with `target` as its only `[[target]]` table's body.
fn one_target(target: &str, slot_codec: &str) -> Project {
    let manifest = format!(
        "[package]\nname = \"app\"\nversion = \"1.0.0\"\n\n[execution]\ncommand = \
         \"{{workenv}}/bin/app.sh\"\n\n[[slot]]\nid = \"app\"\nsource = \"src\"\ntarget = \
         \"bin\"\n{slot_codec}\n[[target]]\n{target}\n"
    );
    let p = Project::from_files(&[
        ("flavor.toml", &manifest),
        ("src/app.sh", "#!/bin/sh\necho app \"$@\"\n"),
    ]);
    let script = p.path("src/app.sh");
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_darwin_package_made_with_the_upstream_macos_launcher_inspects_as_mach_o() {
    let Some(mac) = upstream::launcher("darwin-arm64", Kind::Rust) else {
        return;
    };
    let p = one_target(
        "name = \"mac\"\nplatform = \"darwin-arm64\"\nlauncher = \"launchers/mac\"",
        "",
    );
    fs::create_dir_all(p.path("launchers")).unwrap();
    fs::copy(&mac.path, p.path("launchers/mac")).unwrap();
    let b = p.build(&["-v"]);
    assert_eq!(b.packages(), ["app (mac)"]);
    let pkg = "dist/app-mac-darwin-arm64.psp";
    assert_eq!(platform_of(&p.path(pkg)).unwrap(), "darwin-arm64");
    p.flavor(&["verify", pkg]).ok();
    let doc = json(&p, &["inspect", pkg, "--json"]);
    assert_eq!(doc["platform"], "darwin-arm64");
    assert_eq!(doc["metadata"]["build"]["platform"]["os"], "darwin");
    assert_eq!(doc["launcher"]["format"], "Mach-O");
    assert_eq!(doc["launcher"]["platform"], "darwin-arm64");
    assert_eq!(doc["launcher"]["kind"], "upstream-rust");
    // The default codec of a directory (tar.zst) became what that launcher decodes.
    assert_eq!(doc["slots"][0]["codec"], "tar.gz");
    let text = p.flavor(&["inspect", pkg]);
    assert!(
        text.stdout.contains("platform  darwin-arm64")
            && text
                .stdout
                .contains("FlavorPack's Rust launcher, Mach-O arm64"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_launcher_of_another_platform_is_a_located_error() {
    // Any x86-64 executable stands for an x86-64 launcher: the header decides.
    let p = one_target(
        "name = \"arm\"\nplatform = \"linux-aarch64\"\nlauncher = \"launchers/x86\"",
        "",
    );
    fs::create_dir_all(p.path("launchers")).unwrap();
    fs::copy("/bin/true", p.path("launchers/x86")).unwrap();
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr).contains("target `arm` of package `app` (linux-aarch64): launcher")
            && unwrapped(&out.stderr).contains("for linux-x86_64, not for linux-aarch64"),
        "{}",
        out.stderr
    );
    assert!(
        unwrapped(&out.stderr).contains("flavor.toml:"),
        "not located: {}",
        out.stderr
    );
    assert!(
        unwrapped(&out.stderr).contains("launcher = \"launchers/x86\""),
        "{}",
        out.stderr
    );
    assert!(!p.path("dist").exists());

    // --launcher is checked the same way, for every target built.
    let p = one_target("name = \"linux-aarch64\"", "");
    let out = p.flavor(&["build", "--launcher", "/bin/true"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr).contains("for linux-x86_64, not for linux-aarch64")
            && unwrapped(&out.stderr).contains("--launcher"),
        "{}",
        out.stderr
    );
    // A target named after one platform but for another is a manifest error.
    let p = one_target("name = \"linux-aarch64\"\nplatform = \"darwin-arm64\"", "");
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr).contains(
            "target `linux-aarch64` is named after platform linux-aarch64 but is for darwin-arm64"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn a_codec_the_upstream_launcher_cannot_decode_is_an_error_with_the_fix() {
    let Some(up) = upstream::launcher("linux-x86_64", Kind::Rust) else {
        return;
    };
    let p = one_target(
        "name = \"up\"\nlauncher = \"launchers/up\"",
        "codec = \"tar.zst\"",
    );
    fs::create_dir_all(p.path("launchers")).unwrap();
    fs::copy(&up.path, p.path("launchers/up")).unwrap();
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    for needle in [
        "slot `app` is stored as tar.zst, which its launcher, FlavorPack's Rust launcher",
        "codec = \"tar.zst\"",
        "codecs = { app = \"tar.gz\" }",
        "decodes raw, gzip, tar, tar.gz",
    ] {
        assert!(
            unwrapped(&out.stderr).contains(needle),
            "no {needle:?} in:\n{}",
            out.stderr
        );
    }
    assert!(!p.path("dist").exists());
    // The fix the error gives works, and the package runs under that launcher.
    p.replace(
        "flavor.toml",
        "launcher = \"launchers/up\"",
        "launcher = \"launchers/up\"\ncodecs = { app = \"tar.gz\" }",
    );
    p.build(&[]);
    let ran = p.run_package("dist/app-up-linux-x86_64.psp", &["x"]);
    ran.ok();
    assert!(ran.stdout.ends_with("app x\n"), "{}", ran.stdout);
}

#[test]
fn launcher_add_refuses_what_is_no_launcher() {
    let p = one_target("name = \"x\"", "");
    let out = p.flavor(&["launcher", "add", "/bin/true"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr)
            .contains("neither flavor's launcher nor a FlavorPack Rust or Go launcher"),
        "{}",
        out.stderr
    );
    let out = p.flavor(&["launcher", "add", "flavor.toml"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr).contains("not an executable"),
        "{}",
        out.stderr
    );
    let home = p.sandbox.home();
    assert!(
        !home
            .join(".local/share/flavor/launchers")
            .join("linux-x86_64")
            .exists()
    );
}

#[test]
fn names_select_packages_targets_and_package_target_and_list_shows_them() {
    let p = Project::example("monorepo");
    let out = p.flavor(&["build", "nosuch"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr).contains(
            "no package or target named `nosuch` (packages: count, greet, stamp; targets: \
             count:linux-x86_64, count:portable)"
        ),
        "{}",
        out.stderr
    );
    let out = p.flavor(&["build", "count:nosuch"]);
    out.expect_code(1);
    assert!(
        unwrapped(&out.stderr).contains("package `count` has no target `nosuch`"),
        "{}",
        out.stderr
    );
    let b = p.build(&["count:portable"]);
    assert_eq!(b.packages(), ["count (portable)"]);
    let b = p.build(&["--target", "portable"]);
    assert_eq!(b.packages(), ["count (portable)"]);

    let doc = json(&p, &["list", "--json"]);
    let names: Vec<&str> = (doc["packages"].as_array().unwrap().iter())
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["count", "greet", "stamp"]);
    let count = &doc["packages"][0];
    assert_eq!(count["targets"][0]["target"], "linux-x86_64");
    assert_eq!(count["targets"][0]["platform"], "linux-x86_64");
    assert_eq!(count["targets"][1]["target"], "portable");
    assert!(
        count["targets"][1]["output"]
            .as_str()
            .unwrap()
            .ends_with("dist/count.psp")
    );
    assert_eq!(count["targets"][1]["launcher"]["kind"], "flavor");
    assert_eq!(doc["packages"][1]["targets"][0]["target"], Value::Null);
    let text = p.flavor(&["list"]);
    text.ok();
    assert!(text.stdout.contains("count:portable"), "{}", text.stdout);
}
