//! `flavor init`, `flavor import` and `flavor completions`: a fresh project builds and runs at
//! once; every upstream FlavorPack manifest of the reference data imports to a flavor.toml
//! that the manifest loader accepts; the conformance kit's own input projects, imported, build
//! and run; and the completion scripts come out for every shell.

use std::fs;
use std::path::Path;
use std::process::Command;
use support::project::copy_tree;
use support::tools::{flavor, flavor_cmd, flavor_in, json_of, s};
use support::{Sandbox, kit_dir};

#[test]
fn init_then_build_then_run() {
    let sb = Sandbox::new();
    let dir = sb.path("My App");
    fs::create_dir(&dir).unwrap();
    let out = flavor_in(&sb, &dir, &["init"]);
    out.ok();
    assert!(out.stdout.contains("created flavor.toml"), "{}", out.stdout);
    let manifest = fs::read_to_string(dir.join("flavor.toml")).unwrap();
    assert!(manifest.contains("name = \"My-App\""), "{manifest}");
    assert!(manifest.starts_with("# "), "a commented manifest");
    flavor_in(&sb, &dir, &["build", "-q"]).ok();
    sb.run(&dir.join("dist/debug/My-App.psp"), &["world"])
        .clean("Hello, world!\n");
    let ran = flavor_in(&sb, &dir, &["run", "--", "there"]);
    ran.ok();
    assert_eq!(ran.stdout, "Hello, there!\n");
    assert_eq!(
        fs::read_to_string(dir.join(".gitignore")).unwrap(),
        "/dist/\n/.flavor/\n"
    );
}

#[test]
fn init_never_overwrites() {
    let sb = Sandbox::new();
    let dir = sb.path("taken");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/hello.sh"), "mine").unwrap();
    fs::write(dir.join(".gitignore"), "target/\n").unwrap();
    let out = flavor_in(&sb, &dir, &["init"]);
    out.expect_code(1);
    assert!(out.stderr.contains("hello.sh"), "{}", out.stderr);
    assert!(!dir.join("flavor.toml").exists(), "nothing written");
    fs::remove_file(dir.join("src/hello.sh")).unwrap();
    flavor_in(&sb, &dir, &["init"]).ok();
    assert_eq!(
        fs::read_to_string(dir.join(".gitignore")).unwrap(),
        "target/\n"
    );
    let before = fs::read_to_string(dir.join("flavor.toml")).unwrap();
    flavor_in(&sb, &dir, &["init", "--template", "python"]).expect_code(1);
    assert_eq!(fs::read_to_string(dir.join("flavor.toml")).unwrap(), before);
    flavor_in(&sb, &dir, &["init", "--template", "ruby"]).expect_code(2);
}

/// Create a stand-in for every slot source a flavor.toml names (a directory for tar codecs,
/// a file otherwise), so that the manifest loader's existence checks pass.
fn stand_in_sources(manifest: &Path) -> usize {
    let text = fs::read_to_string(manifest).unwrap();
    let doc = toml_edit::Document::parse(text).expect("valid TOML");
    let dir = manifest.parent().unwrap();
    let mut n = 0;
    if let Some(slots) = doc.get("slot").and_then(|i| i.as_array_of_tables()) {
        for slot in slots {
            let source = dir.join(slot["source"].as_str().expect("source"));
            let codec = slot.get("codec").and_then(|c| c.as_str()).unwrap_or("");
            if codec.starts_with("tar") {
                fs::create_dir_all(&source).unwrap();
                fs::write(source.join("file.txt"), "stand-in").unwrap();
            } else {
                fs::create_dir_all(source.parent().unwrap()).unwrap();
                fs::write(&source, "#!/bin/sh\necho stand-in\n").unwrap();
            }
            n += 1;
        }
    }
    n
}

#[test]
fn every_upstream_manifest_imports_to_a_loadable_flavor_toml() {
    let sb = Sandbox::new();
    let data = kit_dir().join("upstream-data/pretaster-configs");
    let mut seen = 0;
    for entry in fs::read_dir(&data).unwrap().flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = file.strip_suffix(".json") else {
            continue;
        };
        // Deep enough that `{workenv}/../../x` sources stay inside the sandbox.
        let dir = sb.path(&format!("import/{stem}/a/b"));
        fs::create_dir_all(&dir).unwrap();
        fs::copy(entry.path(), dir.join(&file)).unwrap();
        let out = flavor_in(&sb, &dir, &["import", &file, "-o", "flavor.toml", "--json"]);
        let report = json_of(&out);
        let manifest = dir.join("flavor.toml");
        assert_eq!(
            fs::read_to_string(&manifest).unwrap(),
            report["toml"].as_str().unwrap()
        );
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(entry.path()).unwrap()).unwrap();
        let slots = stand_in_sources(&manifest);
        assert_eq!(
            slots,
            json["slots"].as_array().map_or(0, Vec::len),
            "{file}"
        );
        let loaded = flavor_rules::Manifest::load(&manifest)
            .unwrap_or_else(|e| panic!("{file}: {:?}\n{}", e.messages(), report["toml"]));
        let pkg = loaded.package.expect("a package");
        let name = json["package"]["name"].as_str().or(json["name"].as_str());
        assert_eq!(Some(pkg.name.value.as_str()), name, "{file}");
        let warnings = report["warnings"].to_string();
        match stem {
            "test-bad-slot-fields" => {
                assert!(warnings.contains("`name` instead of `id`"), "{warnings}");
            }
            "test-bad-slot" => assert!(warnings.contains("declares \\\"slot\\\": 1"), "{warnings}"),
            "test-volatile" => assert!(warnings.contains("type `shell`"), "{warnings}"),
            "test-orchestrate" => assert!(warnings.contains("orchestrate.tar.gz"), "{warnings}"),
            "test-pyvider" => assert!(warnings.contains("`dependencies`"), "{warnings}"),
            _ => {}
        }
        seen += 1;
    }
    assert!(seen >= 17, "only {seen} manifests");
}

#[test]
fn the_kits_input_projects_import_build_and_run() {
    let sb = Sandbox::new();
    let inputs = kit_dir().join("inputs");
    for (case, args, expected) in [
        ("raw", vec!["a b"], "hello from the raw slot: a b\n"),
        ("tgz", vec!["x"], "greet from the tgz slot: x\n"),
        ("multi", vec!["p", "q"], "CONF_MODE=multi CONF_SET=1\n"),
    ] {
        let dir = sb.path(case);
        copy_tree(&inputs.join(case), &dir);
        let out = flavor_in(&sb, &dir, &["import", "manifest.json", "-o", "flavor.toml"]);
        out.ok();
        if case == "multi" {
            // The ready-made lib.tgz becomes a directory source, as the warning says.
            assert!(
                out.stderr
                    .contains("mkdir -p lib && tar -xzf lib.tgz -C lib"),
                "{}",
                out.stderr
            );
            fs::create_dir(dir.join("lib")).unwrap();
            support::run(
                Command::new("tar")
                    .args(["-xzf", "lib.tgz", "-C", "lib"])
                    .current_dir(&dir),
            )
            .ok();
        }
        flavor_in(&sb, &dir, &["build", "-q"]).ok();
        let psp = dir.join(format!("dist/debug/conf-{case}.psp"));
        let run = sb.run(&psp, &args);
        run.ok();
        assert!(run.stdout.contains(expected), "{case}:\n{}", run.stdout);
        if case == "multi" {
            assert!(
                run.stdout.contains("marker: ready\nargs: p q\n"),
                "{}",
                run.stdout
            );
        }
    }
}

#[test]
fn import_reports_what_it_cannot_use() {
    let sb = Sandbox::new();
    fs::write(sb.path("bad.json"), "{ not json").unwrap();
    flavor(&sb, &["import", "bad.json"]).expect_code(1);
    fs::write(sb.path("anon.json"), r#"{"execution": {"command": "x"}}"#).unwrap();
    let out = flavor(&sb, &["import", "anon.json"]);
    out.expect_code(1);
    assert!(out.stderr.contains("no package name"), "{}", out.stderr);
    fs::write(sb.path("ok.json"), r#"{"name": "n", "command": "echo hi"}"#).unwrap();
    let printed = flavor(&sb, &["import", "ok.json"]);
    printed.ok();
    assert!(
        printed.stdout.contains("name = \"n\""),
        "{}",
        printed.stdout
    );
    assert!(printed.stderr.contains("no version"), "{}", printed.stderr);
    fs::write(sb.path("flavor.toml"), "# mine\n").unwrap();
    flavor(&sb, &["import", "ok.json", "-o", "flavor.toml"]).expect_code(1);
    assert_eq!(
        fs::read_to_string(sb.path("flavor.toml")).unwrap(),
        "# mine\n"
    );
    flavor(&sb, &["import", "ok.json", "-o", "flavor.toml", "--force"]).ok();
    flavor(&sb, &["import"]).expect_code(2);
}

#[test]
fn completions_come_out_for_every_shell() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = flavor(&sb, &["completions", shell]);
        out.ok();
        // The script registers `flavor` and asks it for candidates (COMPLETE=<shell>).
        assert!(out.stdout.contains("flavor"), "{shell}: {}", out.stdout);
        assert!(out.stdout.contains("COMPLETE"), "{shell}: {}", out.stdout);
    }
    // What the shell gets when it asks: subcommands, then the workspace's names.
    let ask = |dir: &Path, words: &[&str]| {
        let mut args = vec!["--", "flavor"];
        args.extend_from_slice(words);
        let out = support::run(flavor_cmd(&sb, dir, &args).env("COMPLETE", "fish"));
        out.ok();
        let firsts: Vec<String> = (out.stdout.lines())
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect();
        firsts
    };
    let subcommands = ask(sb.root(), &[""]);
    for word in [
        "build",
        "extract-all",
        "workenv",
        "keygen",
        "list",
        "launcher",
    ] {
        assert!(
            subcommands.iter().any(|c| c == word),
            "no {word}: {subcommands:?}"
        );
    }
    let ws = sb.path("ws");
    copy_tree(&support::project::example("monorepo"), &ws);
    let names = ask(&ws, &["build", ""]);
    for word in [
        "count",
        "greet",
        "stamp",
        "portable",
        "count:portable",
        "count:linux-x86_64",
    ] {
        assert!(names.iter().any(|c| c == word), "no {word}: {names:?}");
    }
    let targets = ask(&ws, &["build", "--target", ""]);
    assert!(targets.iter().any(|c| c == "portable"), "{targets:?}");
    assert!(!targets.iter().any(|c| c == "greet"), "{targets:?}");
    flavor(&sb, &["completions", "tcsh"]).expect_code(2);
    // bash can load what it printed.
    if Command::new("bash").arg("--version").output().is_ok() {
        let script = sb.path("flavor.bash");
        fs::write(
            &script,
            flavor(&sb, &["completions", "bash"]).stdout.as_bytes(),
        )
        .unwrap();
        support::run(Command::new("bash").args([
            "-c",
            &format!("source {} && complete -p flavor", s(&script)),
        ]))
        .ok();
    }
}
