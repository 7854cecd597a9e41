//! Remote execution against a real REAPI cluster (BuildGrid 0.9.1 and the test workers of
//! `support::reapi`): build steps run on the workers and give the same packages as a local
//! build, a second clone gets every step from the cluster's cache, a failing step's exit
//! code and stderr come back, blobs over BuildGrid's 4 MiB message cap take ByteStream, and
//! an unreachable, frozen or killed server or a lost worker never fails the build. Without
//! BuildGrid each test prints one `skipped:` line (fails under `CI=true`).

use std::time::{Duration, Instant};
use support::project::{Build, Project};
use support::reapi::{Cluster, ClusterOptions, shared};
use support::remote::{assert_same_packages, build_with_env, warnings};

/// A package of `n` independent steps, each uppercasing its own input (tagged `tag`, so
/// other tests' actions on the shared cluster never match).
fn steps_manifest(tag: &str, n: usize, extra_step: &str) -> String {
    let mut toml = String::from(
        "[package]\nname = \"rx\"\nversion = \"1.0.0\"\n\n[execution]\ncommand = \"/bin/cat {workenv}/out/0.txt\"\n\n",
    );
    for i in 0..n {
        toml.push_str(&format!(
            "[[step]]\nid = \"s{i}\"\ncommand = \"mkdir -p out && tr a-z A-Z < in/{i}.txt > out/{i}.txt # {tag}\"\ninputs = [\"in/{i}.txt\"]\noutputs = [\"out/{i}.txt\"]\n\n[[slot]]\nid = \"s{i}\"\nstep = \"s{i}\"\ntarget = \".\"\n\n"
        ));
    }
    toml.push_str(extra_step);
    toml
}

/// A project with `steps_manifest` and its inputs, at `rel` of `other`'s sandbox (or a new
/// one).
fn steps_project(tag: &str, n: usize, extra: &str, other: Option<&Project>) -> Project {
    let manifest = steps_manifest(tag, n, extra);
    let mut files: Vec<(String, String)> = vec![("flavor.toml".into(), manifest)];
    for i in 0..n {
        files.push((format!("in/{i}.txt"), format!("input {i} of {tag}\n")));
    }
    let project = match other {
        None => Project::from_files(&[]),
        Some(p) => {
            static CLONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = CLONES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Project {
                sandbox: std::rc::Rc::clone(&p.sandbox),
                root: p.sandbox.path(&format!("clone-{n}")),
            }
        }
    };
    for (rel, text) in &files {
        project.write(rel, text);
    }
    project
}

fn build_rx(project: &Project, url: Option<&str>, env: &[(&str, &str)]) -> Build {
    let args: Vec<&str> = match url {
        Some(url) => vec!["--remote-execution", url],
        None => vec!["--no-remote-execution"],
    };
    build_with_env(project, &args, env)
}

/// The step actions of a build report (from `--json` action events is not enough: the
/// summary counts are what the user sees).
fn exec_stats(build: &Build) -> &serde_json::Value {
    &build.summary["remote_execution"]
}

/// Executions on the cluster whose command carries `tag`.
fn executions_tagged(cluster: &Cluster, tag: &str) -> usize {
    cluster
        .executions()
        .iter()
        .filter(|e| e.argv.iter().any(|a| a.contains(tag)))
        .count()
}

fn tag(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

#[test]
fn steps_run_on_the_cluster_and_packages_match_a_local_build() {
    let Some(cluster) = shared() else { return };
    let t = tag("match");
    let local = steps_project(&t, 4, "", None);
    let remote = steps_project(&t, 4, "", Some(&local));
    let third = steps_project(&t, 4, "", Some(&local));

    let l = build_rx(&local, None, &[]);
    l.run.ok();
    assert!(l.summary["remote_execution"].is_null());
    assert_eq!(l.summary["remote_executed"], 0);

    let r = build_rx(&remote, Some(&cluster.url()), &[]);
    r.run.ok();
    assert!(warnings(&r).is_empty(), "{:?}", warnings(&r));
    assert_eq!(r.summary["remote_executed"], 4, "{}", r.summary);
    assert_eq!(r.summary["remote_cached"], 0);
    assert_eq!(exec_stats(&r)["executed"], 4);
    assert_eq!(exec_stats(&r)["fallbacks"], 0);
    assert!(exec_stats(&r)["uploaded_bytes"].as_u64().unwrap() > 0);
    assert_eq!(
        executions_tagged(cluster, &t),
        4,
        "the workers ran every step"
    );
    for e in r.events.iter().filter(|e| e["event"] == "finished") {
        let step = e["label"].as_str().unwrap().starts_with("step ");
        assert_eq!(e["remote_executed"], step, "only steps run remotely: {e}");
        assert_eq!(e["remote_cached"], false);
    }
    assert_same_packages(&local, &remote);
    remote
        .run_package("dist/debug/rx.psp", &[])
        .clean(&format!("INPUT 0 OF {}\n", t.to_uppercase()));

    // A fresh clone: every step from the cluster's action cache, nothing runs anywhere.
    let c = build_rx(&third, Some(&cluster.url()), &[]);
    c.run.ok();
    assert_eq!(c.summary["remote_executed"], 4);
    assert_eq!(c.summary["remote_cached"], 4, "{}", c.summary);
    assert_eq!(exec_stats(&c)["cache_hits"], 4);
    let cached_steps = c
        .events
        .iter()
        .filter(|e| e["event"] == "finished" && e["remote_cached"] == true)
        .count();
    assert_eq!(cached_steps, 4);
    assert_eq!(executions_tagged(cluster, &t), 4, "no new execution");
    assert_same_packages(&local, &third);
}

#[test]
fn a_failing_step_brings_back_its_exit_code_and_stderr_and_is_not_cached() {
    let Some(cluster) = shared() else { return };
    let t = tag("fail");
    let failing = format!(
        "[[step]]\nid = \"bad\"\ncommand = \"echo oops-{t} >&2; exit 3\"\noutputs = [\"never\"]\n\n[[slot]]\nid = \"bad\"\nstep = \"bad\"\ntarget = \".\"\n"
    );
    let p = steps_project(&t, 1, &failing, None);
    for round in 1..=2 {
        let b = build_rx(&p, Some(&cluster.url()), &[]);
        assert_eq!(b.run.code, Some(1), "{}", b.run.stderr);
        let failed: Vec<&serde_json::Value> =
            b.events.iter().filter(|e| e["event"] == "failed").collect();
        assert_eq!(failed.len(), 1, "{:?}", b.events);
        let text = failed[0].to_string();
        assert!(text.contains("exited with code 3"), "{text}");
        assert!(
            text.contains(&format!("oops-{t}")),
            "stderr comes back: {text}"
        );
        let runs = cluster
            .executions()
            .iter()
            .filter(|e| e.argv.iter().any(|a| a.contains(&format!("oops-{t}"))))
            .count();
        assert_eq!(runs, round, "a failure is never served from the cache");
    }
}

#[test]
fn a_tool_missing_on_the_worker_says_so() {
    let Some(cluster) = shared() else { return };
    let t = tag("tool");
    let missing = format!(
        "[[step]]\nid = \"tool\"\ncommand = \"no-such-tool-{t}\"\noutputs = [\"x\"]\n\n[[slot]]\nid = \"tool\"\nstep = \"tool\"\ntarget = \".\"\n"
    );
    let p = steps_project(&t, 1, &missing, None);
    let b = build_rx(&p, Some(&cluster.url()), &[]);
    assert_eq!(b.run.code, Some(1));
    let text = b.run.stdout.clone() + &b.run.stderr;
    assert!(text.contains("exited with code 127"), "{text}");
    assert!(text.contains("worker's image"), "a hint: {text}");
}

#[test]
fn an_input_and_an_output_over_four_mib_take_bytestream() {
    let Some(cluster) = shared() else { return };
    let t = tag("big");
    let big = format!(
        "[[step]]\nid = \"big\"\ncommand = \"cat big.bin big.bin > double.bin # {t}\"\ninputs = [\"big.bin\"]\noutputs = [\"double.bin\"]\n\n[[slot]]\nid = \"big\"\nstep = \"big\"\ntarget = \".\"\n"
    );
    let local = steps_project(&t, 1, &big, None);
    let remote = steps_project(&t, 1, &big, Some(&local));
    // 5 MiB of varied bytes (not all one value, so a mix-up would show).
    let data: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    for p in [&local, &remote] {
        std::fs::write(p.path("big.bin"), &data).unwrap();
    }
    build_rx(&local, None, &[]).run.ok();
    let r = build_rx(&remote, Some(&cluster.url()), &[]);
    r.run.ok();
    assert_eq!(r.summary["remote_executed"], 2);
    assert!(exec_stats(&r)["uploaded_bytes"].as_u64().unwrap() >= data.len() as u64);
    assert!(exec_stats(&r)["downloaded_bytes"].as_u64().unwrap() >= 2 * data.len() as u64);
    assert_same_packages(&local, &remote);
}

#[test]
fn a_server_that_is_down_at_start_means_one_warning_and_a_local_build() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = tag("down");
    let local = steps_project(&t, 3, "", None);
    let remote = steps_project(&t, 3, "", Some(&local));
    build_rx(&local, None, &[]).run.ok();
    let r = build_rx(&remote, Some(&format!("grpc://127.0.0.1:{port}")), &[]);
    r.run.ok();
    let w = warnings(&r);
    assert_eq!(w.len(), 1, "one warning: {w:?}");
    assert!(w[0].contains("remote execution"), "{w:?}");
    assert_eq!(r.summary["remote_executed"], 0);
    assert_eq!(exec_stats(&r)["offline"], true);
    assert_same_packages(&local, &remote);
}

#[test]
fn a_frozen_server_falls_back_locally_within_the_deadline() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let t = tag("frozen");
    let local = steps_project(&t, 2, "", None);
    let remote = steps_project(&t, 2, "", Some(&local));
    build_rx(&local, None, &[]).run.ok();
    cluster.freeze();
    let began = Instant::now();
    let r = build_rx(
        &remote,
        Some(&cluster.url()),
        &[("FLAVOR_REMOTE_EXECUTION_TIMEOUT", "4")],
    );
    let took = began.elapsed();
    cluster.thaw();
    r.run.ok();
    assert!(took < Duration::from_secs(40), "took {took:?}");
    let w = warnings(&r);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(r.summary["remote_executed"], 0);
    assert_same_packages(&local, &remote);
}

#[test]
fn a_worker_killed_mid_action_the_action_completes_on_another() {
    let Some(mut cluster) = Cluster::start_with(ClusterOptions {
        workers: 1,
        capacity: 1,
        bot_keepalive: Duration::from_secs(5),
        ..ClusterOptions::default()
    }) else {
        return;
    };
    let t = tag("lost");
    let slow = format!(
        "[[step]]\nid = \"slow\"\ncommand = \"sleep 3; echo {t} > slow.txt\"\noutputs = [\"slow.txt\"]\n\n[[slot]]\nid = \"slow\"\nstep = \"slow\"\ntarget = \".\"\n"
    );
    let p = steps_project(&t, 0, &slow, None);
    let child = p.start_build("", &["--remote-execution", &cluster.url()]);
    cluster.wait_for_execution(Duration::from_secs(60), |e| {
        e.argv.iter().any(|a| a.contains(&t))
    });
    cluster.kill_worker(0);
    cluster.start_worker(1);
    let b = Build::wait(child);
    b.run.ok();
    assert_eq!(b.summary["remote_executed"], 1, "{}", b.summary);
    assert!(
        executions_tagged(&cluster, &t) >= 2,
        "ran again on the new worker"
    );
    assert_eq!(
        std::fs::read_to_string(p.path("slow.txt")).ok(),
        None,
        "nothing ran locally"
    );
}

#[test]
fn a_server_killed_mid_build_means_a_local_build_with_the_same_packages() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let t = tag("killed");
    let slow = format!(
        "[[step]]\nid = \"slow\"\ncommand = \"sleep 2; echo {t} > slow.txt\"\noutputs = [\"slow.txt\"]\n\n[[slot]]\nid = \"slow\"\nstep = \"slow\"\ntarget = \".\"\n"
    );
    let local = steps_project(&t, 1, &slow, None);
    let remote = steps_project(&t, 1, &slow, Some(&local));
    build_rx(&local, None, &[]).run.ok();
    let mut cmd = remote.command(
        "",
        &["build", "--json", "--remote-execution", &cluster.url()],
    );
    cmd.env("FLAVOR_REMOTE_EXECUTION_TIMEOUT", "6");
    let child = support::start(&mut cmd);
    cluster.wait_for_execution(Duration::from_secs(60), |e| {
        e.argv.iter().any(|a| a.contains(&t))
    });
    cluster.kill_server();
    let b = Build::wait(child);
    b.run.ok();
    assert!(!warnings(&b).is_empty(), "a warning");
    assert_same_packages(&local, &remote);
}

#[test]
fn a_grpc_remote_cache_shares_results_between_clones() {
    let Some(cluster) = shared() else { return };
    let t = tag("grpc-cache");
    let a = steps_project(&t, 2, "", None);
    let b = steps_project(&t, 2, "", Some(&a));
    let url = cluster.url();
    let args = ["--remote-cache", url.as_str(), "--no-remote-execution"];
    let first = build_with_env(&a, &args, &[]);
    first.run.ok();
    let all = first.built();
    assert!(all >= 5, "steps, archives and the package: {all}");
    assert_eq!(first.summary["remote"]["uploads"], all, "{}", first.summary);
    assert!(warnings(&first).is_empty(), "{:?}", warnings(&first));

    let second = build_with_env(&b, &args, &[]);
    second.run.ok();
    assert_eq!(second.built(), 0, "ran: {:?}", second.ran());
    assert_eq!(second.summary["remote_hits"], all);
    assert_eq!(executions_tagged(cluster, &t), 0, "a cache, not execution");
    assert_same_packages(&a, &b);
}

#[test]
fn a_server_restarted_mid_action_without_its_blobs_the_action_resumes_remotely() {
    let Some(mut cluster) = Cluster::start() else {
        return;
    };
    let t = tag("restart");
    let slow = format!(
        "[[step]]\nid = \"slow\"\ncommand = \"sleep 3; cat in/0.txt > slow.txt # {t}\"\ninputs = [\"in/0.txt\"]\noutputs = [\"slow.txt\"]\n\n[[slot]]\nid = \"slow\"\nstep = \"slow\"\ntarget = \".\"\n"
    );
    let local = steps_project(&t, 1, &slow, None);
    let remote = steps_project(&t, 1, &slow, Some(&local));
    build_rx(&local, None, &[]).run.ok();
    let mut cmd = remote.command(
        "",
        &["build", "--json", "--remote-execution", &cluster.url()],
    );
    cmd.env("FLAVOR_REMOTE_EXECUTION_TIMEOUT", "150");
    let child = support::start(&mut cmd);
    cluster.wait_for_execution(Duration::from_secs(60), |e| {
        e.argv
            .iter()
            .any(|a| a.contains(&t) && a.contains("sleep 3"))
    });
    // The CAS is in memory: the restarted server has lost every input.
    cluster.restart_server();
    let b = Build::wait(child);
    b.run.ok();
    let stats = exec_stats(&b);
    eprintln!(
        "reapi: resumed after a restart: {stats}, warnings {:?}",
        warnings(&b)
    );
    assert_eq!(
        b.summary["remote_executed"], 2,
        "both steps on the cluster: {stats}"
    );
    assert_eq!(stats["fallbacks"], 0, "{stats}");
    assert!(
        stats["reuploads"].as_u64().unwrap() <= 2,
        "bounded: {stats}"
    );
    assert!(!remote.path("slow.txt").exists(), "nothing ran locally");
    assert_same_packages(&local, &remote);
}
