//! Every manifest error flavor reports, rendered as the user sees it (insta snapshots):
//! file, line, column, the offending span and a help line; several errors in one run.

use flavor_rules::Manifest;
use std::fs;
use std::path::Path;

/// Write `text` as flavor.toml in a temp dir with a few real files, load it, and render the
/// diagnostics with the temp path replaced by `<dir>`.
fn errors(text: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("src")).unwrap();
    fs::write(dir.path().join("src/app.sh"), "#!/bin/sh\necho hi\n").unwrap();
    let path = dir.path().join("flavor.toml");
    fs::write(&path, text).unwrap();
    let err = Manifest::load(&path).expect_err("manifest should be rejected");
    let rendered = err.render_plain();
    rendered.replace(&dir.path().display().to_string(), "<dir>")
}

const GOOD_HEAD: &str = r#"[package]
name = "hello"
version = "0.1.0"

[execution]
command = "{workenv}/bin/app.sh"
"#;

#[test]
fn a_good_manifest_loads() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("src")).unwrap();
    let path = dir.path().join("flavor.toml");
    let text = format!("{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"src\"\ntarget = \"bin\"\n");
    fs::write(&path, text).unwrap();
    let m = Manifest::load(&path).unwrap();
    let pkg = m.package.unwrap();
    assert_eq!(pkg.name.value, "hello");
    assert_eq!(pkg.slots.len(), 1);
    assert_eq!(m.dir, Path::new(dir.path()));
}

#[test]
fn unknown_key_suggests_the_closest() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"src\"\ncodex = \"tar.zst\"\n"
    )));
}

#[test]
fn missing_required_fields() {
    insta::assert_snapshot!(errors(
        "[package]\nname = \"hello\"\n\n[execution]\nenv = { A = \"b\" }\n"
    ));
}

#[test]
fn bad_codec_and_lifecycle() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"src\"\ncodec = \"tar.zstd\"\nlifecycle = \"cached\"\n"
    )));
}

#[test]
fn unknown_step_id() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[step]]\nid = \"compile\"\ncommand = \"make\"\noutputs = [\"out/app\"]\n\n[[slot]]\nid = \"tool\"\nstep = \"compiel\"\n"
    )));
}

#[test]
fn step_cycle_prints_its_path() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[step]]\nid = \"a\"\ncommand = \"true\"\noutputs = [\"a.out\"]\nneeds = [\"b\"]\n\n[[step]]\nid = \"b\"\ncommand = \"true\"\noutputs = [\"b.out\"]\nneeds = [\"c\"]\n\n[[step]]\nid = \"c\"\ncommand = \"true\"\noutputs = [\"c.out\"]\nneeds = [\"a\"]\n"
    )));
}

#[test]
fn source_path_that_does_not_exist() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"scr/app.sh\"\n"
    )));
}

#[test]
fn two_slots_with_one_id() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"src\"\n\n[[slot]]\nid = \"app\"\nsource = \"src/app.sh\"\n"
    )));
}

#[test]
fn bad_octal_mode() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"src/app.sh\"\npermissions = \"0789\"\n"
    )));
}

#[test]
fn several_errors_are_reported_in_one_run() {
    let out = errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"nope\"\ncodec = \"zip\"\npermissions = \"rwx\"\nlifecycle = \"forever\"\n"
    ));
    assert_eq!(out.matches("flavor::manifest").count(), 4, "{out}");
}

#[test]
fn toml_syntax_error() {
    insta::assert_snapshot!(errors("[package\nname = \"x\"\n"));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"app\"\nsource = \"src\"\ninclude = \"*.sh\"\n"
    )));
}

#[test]
fn source_outside_the_manifest_directory_needs_a_target() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nid = \"lib\"\nsource = \"src/../src\"\n"
    )));
}

#[test]
fn setup_commands_take_the_fields_of_their_type() {
    insta::assert_snapshot!(errors(&format!(
        "{GOOD_HEAD}\n[[setup]]\ntype = \"chmod\"\npath = \"{{workenv}}/x\"\ncontent = \"x\"\n\n[[setup]]\ntype = \"write_file\"\nmode = \"rw\"\n\n[[setup]]\ntype = \"shell\"\ncommand = \"true\"\n"
    )));
}

#[test]
fn every_missing_key_and_wrong_type_is_reported_in_one_run() {
    let out = errors(&format!(
        "{GOOD_HEAD}\n[[slot]]\nsource = \"src\"\nlevel = \"high\"\n\n[[step]]\noutputs = [\"x\"]\nenv = {{ A = 1 }}\n\n[[target]]\noutput = 3\n"
    ));
    for expected in [
        "a [[slot]] is missing the required key `id`",
        "slot.level must be an integer, found string",
        "a [[step]] is missing the required key `id`",
        "a [[step]] is missing the required key `command`",
        "step.env.A must be a string, found integer",
        "a [[target]] is missing the required key `name`",
        "target.output must be a string, found integer",
    ] {
        assert!(out.contains(expected), "no {expected:?} in\n{out}");
    }
    assert_eq!(out.matches("flavor::manifest").count(), 7, "{out}");
}

#[test]
fn workenv_directories_stay_inside_the_workenv() {
    let out = errors(&format!(
        "{GOOD_HEAD}\n[workenv]\ndirectories = [{{ path = \"{{workenv}}/../../x\" }}, {{ path = \"/etc/x\" }}, {{ path = \"{{workenv}}/var\" }}, {{ path = \"var/../..\" }}]\n"
    ));
    for bad in ["{workenv}/../../x", "/etc/x", "var/../.."] {
        assert!(
            out.contains(&format!(
                "workenv directory `{bad}` leaves the work environment"
            )),
            "{bad}: {out}"
        );
    }
    assert_eq!(out.matches("flavor::manifest").count(), 3, "{out}");
}
