//! The upstream-written conformance packages (Rust 0.3.0, Rust 0.5.4, Go 0.5.4 and Python
//! 0.5.4 writers; cases raw, tgz, multi, empty) run under flavor's launcher once
//! `flavor repack` has swapped it in for the kit's stub: each prints exactly what the kit's
//! README says for the argument `probe`, cold and warm, and a warm launch prints nothing on
//! stderr.

use std::fs;
use support::*;

const WRITERS: [&str; 4] = ["rs030", "rs054", "go054", "py054"];

fn expected(case: &str) -> &'static str {
    match case {
        "raw" | "raw-pemkey" => "hello from the raw slot: probe\n",
        "tgz" => "greet from the tgz slot: probe\nThis tree was packed as one tar+gzip slot.\n",
        "multi" => concat!(
            "[util] multi-slot package\n",
            "CONF_MODE=multi CONF_SET=1\n",
            "settings: {\"level\": \"info\", \"retries\": 3}\n",
            "marker: ready\n",
            "args: probe\n",
        ),
        "empty" => "empty-package probe\n",
        other => panic!("unknown case {other}"),
    }
}

/// Repack one kit package with our launcher through the `flavor` command.
fn repack(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let src = kit_dir().join("packages").join(format!("{name}.psp"));
    let out = sb.pkg(&format!("{name}.psp"));
    let mut cmd = std::process::Command::new(flavor_bin());
    cmd.arg("repack")
        .arg(&src)
        .arg("--launcher")
        .arg(launcher())
        .arg("-o")
        .arg(&out);
    run(&mut cmd).ok();
    out
}

#[test]
fn every_writer_and_case_prints_the_expected_output_cold_and_warm() {
    let sb = Sandbox::new();
    let mut ran = 0;
    for writer in WRITERS {
        for case in ["raw", "tgz", "multi", "empty"] {
            let name = format!("{writer}-{case}");
            let pkg = repack(&sb, &name);
            let cold = sb.run(&pkg, &["probe"]);
            cold.ok();
            assert_eq!(
                cold.stdout,
                expected(case),
                "{name} (cold): {}",
                cold.stderr
            );
            assert_eq!(cold.stderr, "", "{name} (cold) wrote to stderr");
            assert_eq!(
                sb.ready_markers(&name).len(),
                1,
                "{name}: one completion marker"
            );

            let warm = sb.run(&pkg, &["probe"]);
            warm.ok();
            assert_eq!(
                warm.stdout,
                expected(case),
                "{name} (warm): {}",
                warm.stderr
            );
            assert_eq!(warm.stderr, "", "{name} (warm) wrote to stderr");
            assert_eq!(sb.workenvs(&name).len(), 1, "{name}: one workenv");
            ran += 1;
        }
    }
    assert_eq!(ran, 16);
}

#[test]
fn pem_key_packages_run_too() {
    let sb = Sandbox::new();
    for name in ["rs030-raw-pemkey", "go054-raw-pemkey"] {
        let pkg = repack(&sb, name);
        sb.run(&pkg, &["probe"]).clean(expected("raw-pemkey"));
        sb.run(&pkg, &["probe"]).clean(expected("raw-pemkey"));
    }
}

#[test]
fn the_multi_case_gets_its_directories_setup_and_bookkeeping() {
    let sb = Sandbox::new();
    for writer in WRITERS {
        let name = format!("{writer}-multi");
        let pkg = repack(&sb, &name);
        sb.run(&pkg, &["probe"]).ok();
        let workenvs = sb.workenvs(&name);
        assert_eq!(workenvs.len(), 1, "{name}");
        let we = &workenvs[0];
        // setup_commands: write_file wrote the marker, chmod made the runner executable.
        assert_eq!(
            fs::read_to_string(we.join("etc/marker.txt")).unwrap(),
            "ready"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(we.join("bin/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "{name}: bin/run.sh must be executable");
        // The Go writer drops `workenv` from the metadata; the others keep the directories.
        if writer != "go054" {
            for (dir, want) in [("tmp", 0o700), ("var", 0o755)] {
                let m = fs::metadata(we.join(dir)).unwrap().permissions().mode() & 0o777;
                assert_eq!(m, want, "{name}: {dir}");
            }
        }
        // The upstream bookkeeping and the upstream workenv path.
        let meta = sb.meta_dir(&name);
        let stored = fs::read(kit_dir().join(format!("packages/{name}.metadata.json"))).unwrap();
        assert_eq!(fs::read(meta.join("package/psp.json")).unwrap(), stored);
        assert!(meta.join("instance/extract/complete").is_file());
        assert!(meta.join("instance/package.checksum").is_file());
        let link = sb.cache().join("workenv").join(&name);
        assert_eq!(
            fs::canonicalize(&link).unwrap(),
            fs::canonicalize(we).unwrap()
        );
    }
    assert!(sb.cache().join("CACHEDIR.TAG").is_file());
}
