//! The remote cache never makes a build fail or wrong: a server killed mid-build, a server
//! that is not there, one that never answers, one that answers 500, corrupt and truncated
//! blobs, and poisoned `/ac/` entries (someone else's package, or another package of ours)
//! all end in a successful build with the packages a build without the remote makes, and
//! one warning.

use bazel_remote_apis::build::bazel::remote::execution::v2::ActionResult;
use std::fs;
use std::net::TcpListener;
use std::time::{Duration, Instant};
use support::nginx::Nginx;
use support::project::Project;
use support::remote::{
    ac_entries, ac_entry_for_output, assert_same_packages, build_remote, build_with_env, packages,
    remote_stats, sha256_hex, warnings,
};
use support::{line_channel, start};

const MONOREPO_ACTIONS: u64 = 9;

/// A reference build of `examples/monorepo` without any remote, in `project`'s sandbox.
fn reference(project: &Project) -> Project {
    let r = project.another("monorepo", "reference/monorepo");
    r.build(&["--no-remote-cache"]);
    r
}

#[test]
fn a_server_killed_mid_build_leaves_a_successful_build() {
    let mut server = Nginx::start();
    let a = Project::example_at("monorepo", "a/monorepo");
    // A slow step, so the server dies while the build is under way.
    let slow = |p: &Project| {
        p.replace(
            "apps/stamp/flavor.toml",
            "command = \"mkdir",
            "command = \"sleep 1 && mkdir",
        );
    };
    slow(&a);

    let mut child = start(&mut a.command(
        "",
        &[
            "build",
            "--json",
            "--jobs",
            "1",
            "--remote-cache",
            &server.url(),
        ],
    ));
    let lines = line_channel(child.stdout.take().expect("stdout"));
    let errors = line_channel(child.stderr.take().expect("stderr"));
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a finished event before the build ends");
        let finished = line.contains("\"event\":\"finished\"");
        seen.push(line);
        if finished {
            break;
        }
    }
    server.kill();
    let rest: Vec<String> = lines.iter().collect();
    let status = child.wait().expect("wait for the build");
    let stderr: Vec<String> = errors.iter().collect();
    assert!(status.success(), "{status}: {stderr:?}");
    let events: Vec<serde_json::Value> = seen
        .iter()
        .chain(&rest)
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let summary = events.last().expect("a summary");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["built"], MONOREPO_ACTIONS);
    assert_eq!(summary["remote"]["offline"], true, "{summary}");
    let warned: Vec<_> = events.iter().filter(|e| e["event"] == "warning").collect();
    assert_eq!(warned.len(), 1, "one warning: {warned:?}");
    assert!(
        warned[0]["message"]
            .as_str()
            .unwrap()
            .contains("unreachable"),
        "{}",
        warned[0]
    );

    let r = a.another("monorepo", "reference/monorepo");
    slow(&r);
    r.build(&["--no-remote-cache"]);
    assert_same_packages(&a, &r);
}

#[test]
fn no_server_at_all_is_one_warning_and_a_local_build() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let a = Project::example("monorepo");
    let build = build_remote(&a, &format!("http://127.0.0.1:{port}/cache"), &[]);
    assert_eq!(build.built(), MONOREPO_ACTIONS);
    assert_eq!(remote_stats(&build)["offline"], true);
    assert_eq!(remote_stats(&build)["hits"], 0);
    let warned = warnings(&build);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("unreachable") && warned[0].contains(&port.to_string()));
    assert_same_packages(&a, &reference(&a));
}

#[test]
fn a_server_that_never_answers_times_out_once() {
    // Accepts connections (the kernel does, into the backlog) and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let a = Project::example("monorepo");
    let build = build_with_env(
        &a,
        &[
            "--jobs",
            "1",
            "--remote-cache",
            &format!("http://127.0.0.1:{port}/cache"),
        ],
        &[("FLAVOR_REMOTE_CACHE_TIMEOUT", "0.5")],
    );
    build.run.ok();
    assert_eq!(build.built(), MONOREPO_ACTIONS);
    // One timeout turns the remote off: no request after it (not one wait per action).
    assert_eq!(remote_stats(&build)["errors"], 1);
    assert_eq!(remote_stats(&build)["offline"], true);
    let warned = warnings(&build);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].to_lowercase().contains("timeout") || warned[0].contains("timed out"));
    drop(listener);
}

#[test]
fn server_errors_are_one_warning_and_a_local_build() {
    let server = Nginx::start();
    let a = Project::example("monorepo");
    let build = build_remote(&a, &server.broken_url(), &[]);
    assert_eq!(build.built(), MONOREPO_ACTIONS);
    let stats = remote_stats(&build);
    assert!(
        stats["errors"].as_u64().unwrap() >= MONOREPO_ACTIONS,
        "{stats}"
    );
    assert_eq!(stats["hits"], 0);
    let warned = warnings(&build);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("500"), "{}", warned[0]);
    assert_same_packages(&a, &reference(&a));
}

#[test]
fn corrupt_and_truncated_blobs_are_detected_and_rebuilt() {
    let server = Nginx::start();
    let a = Project::example_at("monorepo", "a/monorepo");
    build_remote(&a, &server.url(), &[]);

    // Damage the two largest blobs: one flipped byte, one cut short.
    let mut blobs = server.objects("cas");
    blobs.sort_by_key(|p| std::cmp::Reverse(fs::metadata(p).unwrap().len()));
    let mut flipped = fs::read(&blobs[0]).unwrap();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    fs::write(&blobs[0], &flipped).unwrap();
    let cut = fs::read(&blobs[1]).unwrap();
    fs::write(&blobs[1], &cut[..cut.len() / 2]).unwrap();

    let b = a.another("monorepo", "b/monorepo");
    let build = build_remote(&b, &server.url(), &["--remote-cache-read-only"]);
    let stats = remote_stats(&build);
    assert!(stats["rejected"].as_u64().unwrap() >= 2, "{stats}");
    assert!(build.built() >= 2, "the damaged results were rebuilt");
    assert!(
        build.built() < MONOREPO_ACTIONS,
        "the rest still came from the remote"
    );
    let warned = warnings(&build);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("does not match its digest"),
        "{}",
        warned[0]
    );
    assert_same_packages(&a, &b);
    // Nothing damaged reached b's local cache: a forced local rebuild agrees with it.
    let again = b.build(&["--no-remote-cache", "--force"]);
    assert_eq!(again.built(), MONOREPO_ACTIONS);
    assert_same_packages(&a, &b);

    // A writable build that meets the damage uploads good bytes over it.
    let c = a.another("monorepo", "c/monorepo");
    let healing = build_remote(&c, &server.url(), &[]);
    assert!(healing.built() >= 2);
    assert!(remote_stats(&healing)["uploaded_bytes"].as_u64().unwrap() > 0);
    let d = a.another("monorepo", "d/monorepo");
    let healed = build_remote(&d, &server.url(), &[]);
    assert_eq!(healed.built(), 0, "ran: {:?}", healed.ran());
    assert!(warnings(&healed).is_empty(), "{:?}", warnings(&healed));
    assert_same_packages(&a, &d);
}

#[test]
fn a_poisoned_package_entry_is_refused() {
    let server = Nginx::start();
    let a = Project::example_at("monorepo", "a/monorepo");
    build_remote(&a, &server.url(), &[]);
    // Someone else (another HOME, so another signing key) shares the server.
    let other = Project::example_at("monorepo", "other/monorepo");
    build_remote(&other, &server.url(), &[]);

    let ours = packages(&a);
    let theirs = packages(&other);
    let greet = "apps/greet/dist/debug/greet.psp";
    assert_ne!(ours[greet], theirs[greet], "two keys, two packages");
    let our_greet = ac_entry_for_output(&server.data_dir(), &sha256_hex(&ours[greet]));
    let their_greet = ac_entry_for_output(&server.data_dir(), &sha256_hex(&theirs[greet]));
    let our_stamp = ac_entry_for_output(
        &server.data_dir(),
        &sha256_hex(&ours["apps/stamp/dist/debug/stamp.psp"]),
    );

    // 1. Their package (valid, signed by their key) under our key.
    fs::copy(&their_greet, &our_greet).unwrap();
    let b = a.another("monorepo", "b/monorepo");
    let build = build_remote(&b, &server.url(), &["--remote-cache-read-only"]);
    assert_eq!(build.ran(), vec!["package greet".to_string()]);
    assert_eq!(remote_stats(&build)["rejected"], 1);
    let warned = warnings(&build);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("package greet"), "{}", warned[0]);
    assert!(warned[0].contains("this build's key"), "{}", warned[0]);
    assert_same_packages(&a, &b);

    // 2. Another package of ours (our signature, our key) replayed under greet's key.
    fs::copy(&our_stamp, &our_greet).unwrap();
    let c = a.another("monorepo", "c/monorepo");
    let build = build_remote(&c, &server.url(), &["--remote-cache-read-only"]);
    assert_eq!(build.ran(), vec!["package greet".to_string()]);
    let warned = warnings(&build);
    assert!(warned[0].contains("not this build's"), "{}", warned[0]);
    assert_same_packages(&a, &c);

    // 3. A writable build heals the entry: the next clone gets everything again.
    let d = a.another("monorepo", "d/monorepo");
    build_remote(&d, &server.url(), &[]);
    let e = a.another("monorepo", "e/monorepo");
    let build = build_remote(&e, &server.url(), &[]);
    assert_eq!(build.built(), 0, "ran: {:?}", build.ran());
    assert_same_packages(&a, &e);
}

#[test]
fn an_archive_whose_summary_lies_about_its_sha256_is_refused() {
    use prost::Message;
    let server = Nginx::start();
    let a = Project::example_at("monorepo", "a/monorepo");
    build_remote(&a, &server.url(), &[]);

    // A compressing archive action's second output is `DECODED_SIZE SHA256`; the package
    // action records that SHA-256 as the slot checksum. Point one entry at a valid blob (its
    // name is its SHA-256) whose summary names other bytes.
    let summary_of = |r: &ActionResult| {
        let digest = r.output_files.get(1)?.digest.as_ref()?;
        let text = fs::read_to_string(server.data_dir().join("cas").join(&digest.hash)).ok()?;
        let (size, sha) = text.trim().split_once(' ')?;
        (size.parse::<u64>().is_ok() && sha.len() == 64).then(|| size.to_string())
    };
    let (entry, mut result, size) = ac_entries(&server.data_dir())
        .into_iter()
        .find_map(|(p, r)| summary_of(&r).map(|size| (p, r, size)))
        .expect("a compressing archive entry");
    let lie = format!("{size} {}\n", "ab".repeat(32));
    let lie_sha = sha256_hex(lie.as_bytes());
    fs::write(server.data_dir().join("cas").join(&lie_sha), &lie).unwrap();
    let digest = result.output_files[1].digest.as_mut().unwrap();
    digest.hash = lie_sha;
    digest.size_bytes = lie.len() as i64;
    fs::write(&entry, result.encode_to_vec()).unwrap();

    let b = a.another("monorepo", "b/monorepo");
    let build = build_remote(&b, &server.url(), &["--remote-cache-read-only"]);
    assert_eq!(remote_stats(&build)["rejected"], 1);
    let ran = build.ran();
    assert!(ran.iter().any(|r| r.starts_with("archive slot")), "{ran:?}");
    let warned = warnings(&build);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("its summary says abab"), "{}", warned[0]);
    assert_same_packages(&a, &b);
}
