//! A hostile or broken manifest cannot make `flavor build` write or read outside the project:
//! a package name, slot id or target name that is a path, a target output outside the
//! project, and slot sources outside it (absolute, `../..`, or a symbolic link leading out)
//! are refused with a located diagnostic, and nothing is written anywhere. Sources outside the
//! project build only when `[package] allow_sources_outside` names their directory. A NUL in
//! a path and a manifest that is not UTF-8 get a located, complete message.
//!
//! Each case runs the real `flavor build` as a process on a crafted project in a sandbox
//! (`<sandbox>/project`, with `<sandbox>/outside/secret.txt` beside it).

use std::fs;
use support::files_under;
use support::project::Project;

const HEAD: &str = "[package]\nname = \"app\"\nversion = \"1.0.0\"\n\n\
                    [execution]\ncommand = \"{workenv}/bin/app.sh\"\n";

const APP_SLOT: &str =
    "\n[[slot]]\nid = \"app\"\nsource = \"src/app.sh\"\ntarget = \"bin/app.sh\"\n";

/// A project with `flavor.toml` = `manifest`, its app script, and a secret beside it.
fn project(manifest: &str) -> Project {
    let p = Project::from_files(&[
        ("flavor.toml", manifest),
        ("src/app.sh", "#!/bin/sh\necho app\n"),
    ]);
    fs::set_permissions(
        p.path("src/app.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let secret = p.sandbox.path("outside/secret.txt");
    fs::create_dir_all(secret.parent().unwrap()).unwrap();
    fs::write(&secret, "the secret\n").unwrap();
    p
}

/// Every package file anywhere in the sandbox.
fn packages_written(p: &Project) -> Vec<String> {
    files_under(&p.sandbox.path(""))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "psp"))
        .map(|f| f.display().to_string())
        .collect()
}

/// The complete messages of the manifest errors `flavor build --json` reports
/// (`LINE:COLUMN: message`).
fn json_messages(p: &Project) -> Vec<String> {
    let out = p.flavor(&["build", "--json"]);
    out.expect_code(1);
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "manifest_error")
        .flat_map(|e| e["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect()
}

/// `flavor build` must fail with a diagnostic at `location` (`flavor.toml:LINE:COLUMN`) with
/// a help line, whose complete message holds each of `expected`, and write no package
/// anywhere. Returns the human output and the messages.
fn refused(p: &Project, location: &str, expected: &[&str]) -> (String, String) {
    let out = p.flavor(&["build"]);
    out.expect_code(1);
    let err = out.stderr.clone();
    assert!(
        err.contains(&format!("{location}]")),
        "no {location} in:\n{err}"
    );
    assert!(err.contains("help:"), "{err}");
    let messages = json_messages(p).join("\n");
    for e in expected {
        assert!(messages.contains(e), "no {e:?} in:\n{messages}\n{err}");
    }
    assert_eq!(packages_written(p), Vec::<String>::new(), "{err}");
    (err, messages)
}

#[test]
fn a_package_name_that_is_a_path_writes_nothing_outside_dist() {
    let p = project(&format!(
        "{}{APP_SLOT}",
        HEAD.replace("name = \"app\"", "name = \"../../evil\"")
    ));
    refused(
        &p,
        "flavor.toml:2:8",
        &["package name `../../evil` contains a path separator"],
    );
    assert!(!p.sandbox.path("evil.psp").exists());
    assert!(!p.path("dist").exists());
}

#[test]
fn slot_ids_and_target_names_that_are_not_names_are_refused() {
    for (id, why) in [
        ("", "is empty"),
        ("lib/app", "contains a path separator"),
        ("..", "is a directory reference"),
    ] {
        let p = project(&format!(
            "{HEAD}{APP_SLOT}\n[[slot]]\nid = \"{id}\"\nsource = \"src\"\ntarget = \"lib\"\n"
        ));
        refused(&p, "flavor.toml:14:6", &[&format!("slot id `{id}` {why}")]);
    }
    let p = project(&format!(
        "{HEAD}{APP_SLOT}\n[[target]]\nname = \"../../x\"\n"
    ));
    refused(
        &p,
        "flavor.toml:14:8",
        &["target name `../../x` contains a path separator"],
    );
}

#[test]
fn a_target_output_outside_the_project_is_refused() {
    for output in ["../outside.psp", "dist/../../outside.psp"] {
        let p = project(&format!(
            "{HEAD}{APP_SLOT}\n[[target]]\nname = \"x\"\noutput = \"{output}\"\n"
        ));
        refused(
            &p,
            "flavor.toml:15:10",
            &[&format!(
                "target `x`: output `{output}` is outside the project"
            )],
        );
        assert!(!p.sandbox.path("outside.psp").exists());
    }
    let p = project(HEAD);
    let abs = p.sandbox.path("abs.psp");
    p.write(
        "flavor.toml",
        &format!(
            "{HEAD}{APP_SLOT}\n[[target]]\nname = \"x\"\noutput = {:?}\n",
            abs.display().to_string()
        ),
    );
    refused(&p, "flavor.toml:15:10", &["is outside the project"]);
    assert!(!abs.exists());
}

#[test]
fn sources_outside_the_project_are_refused_however_they_are_named() {
    // A symbolic link in the project that leads out of it.
    let p = project(&format!(
        "{HEAD}{APP_SLOT}\n[[slot]]\nid = \"data\"\nsource = \"link.txt\"\n"
    ));
    std::os::unix::fs::symlink("../outside/secret.txt", p.path("link.txt")).unwrap();
    let (err, messages) = refused(
        &p,
        "flavor.toml:15:10",
        &[
            "slot `data`: source `link.txt` is outside the project",
            "(it resolves to ",
        ],
    );
    assert!(messages.contains("outside/secret.txt)"), "{messages}");
    assert!(err.contains("allow_sources_outside"), "{err}");
    // `../..`-style and absolute paths.
    for source in ["../outside/secret.txt", "src/../../outside", "ABSOLUTE"] {
        let p = project(HEAD);
        let abs = p.sandbox.path("outside/secret.txt").display().to_string();
        let source = source.replace("ABSOLUTE", &abs);
        p.write(
            "flavor.toml",
            &format!(
                "{HEAD}{APP_SLOT}\n[[slot]]\nid = \"data\"\nsource = {source:?}\ntarget = \"data\"\n"
            ),
        );
        refused(
            &p,
            "flavor.toml:15:10",
            &[&format!(
                "slot `data`: source `{source}` is outside the project"
            )],
        );
    }
    // A step cannot run outside either.
    let p = project(&format!(
        "{HEAD}{APP_SLOT}\n[[step]]\nid = \"s\"\ncommand = \"cp secret.txt out\"\n\
         cwd = \"../outside\"\noutputs = [\"out\"]\n"
    ));
    refused(
        &p,
        "flavor.toml:16:7",
        &["step `s`: cwd `../outside` is outside the project"],
    );
}

#[test]
fn allow_sources_outside_lets_a_named_directory_in_and_nothing_else() {
    let manifest = format!(
        "{}allow_sources_outside = [\"../outside\"]\n{}{APP_SLOT}\n[[slot]]\nid = \"data\"\n\
         source = \"../outside/secret.txt\"\ntarget = \"etc/secret.txt\"\n",
        &HEAD[..HEAD.find("\n[execution]").unwrap()],
        &HEAD[HEAD.find("\n[execution]").unwrap()..],
    );
    let manifest = manifest.replace(
        "command = \"{workenv}/bin/app.sh\"",
        "command = \"/bin/cat {workenv}/etc/secret.txt\"",
    );
    let p = project(&manifest);
    p.flavor(&["build", "-q"]).ok();
    p.run_package("dist/debug/app.psp", &[])
        .clean("the secret\n");
    // Another directory outside stays refused.
    fs::create_dir_all(p.sandbox.path("elsewhere")).unwrap();
    fs::write(p.sandbox.path("elsewhere/x"), "x").unwrap();
    p.append(
        "flavor.toml",
        "\n[[slot]]\nid = \"x\"\nsource = \"../elsewhere/x\"\ntarget = \"x\"\n",
    );
    fs::remove_dir_all(p.path("dist")).unwrap();
    refused(
        &p,
        "flavor.toml:21:10",
        &["source `../elsewhere/x` is outside"],
    );
}

#[test]
fn a_nul_in_a_target_gets_a_located_complete_message() {
    let p = project(&format!(
        "{HEAD}\n[[slot]]\nid = \"app\"\nsource = \"src/app.sh\"\ntarget = \"bin/a\\u0000b\"\n"
    ));
    let (err, _) = refused(
        &p,
        "flavor.toml:11:10",
        &["11:10: slot target `bin/a\\0b` contains a NUL character (at character 6)"],
    );
    assert!(!err.contains('\0'), "{err:?}");
}

#[test]
fn a_manifest_that_is_not_utf8_gets_a_located_complete_message() {
    let p = project(HEAD);
    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(b"# caf\xe9\n");
    fs::write(p.path("flavor.toml"), bytes).unwrap();
    let (err, _) = refused(
        &p,
        "flavor.toml:7:6",
        &["7:6: the manifest is not UTF-8: byte 0xe9 at line 7, column 6 is not valid UTF-8"],
    );
    assert!(err.contains("re-save it as UTF-8"), "{err}");
}
