//! The REAPI cluster harness (`support::reapi`) checked on its own, with the small REAPI
//! client of test-support against a real BuildGrid and the test worker: capabilities,
//! uploads, `Execute` with outputs coming back with the right digests and modes, the action
//! cache, ByteStream above BuildGrid's 4 MiB message cap, and what the server does when a
//! worker is killed mid-action, when it is restarted (in-memory CAS) or frozen. The figures
//! these tests print (`reapi:` lines, `--nocapture`) are the facts remote execution in flavor
//! is built against. Without BuildGrid each test prints one `skipped:` line (fails under
//! `CI=true`).

use bazel_remote_apis::build::bazel::remote::execution::v2::{ActionResult, Digest, Tree};
use prost::Message;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};
use support::reapi::Code;
use support::reapi::{
    ActionSpec, CasStorage, Client, Cluster, ClusterOptions, InputRoot, digest, digest_string,
    shared,
};
use support::wait_until;

/// A salt no other test (or earlier run against the same server) uses.
fn unique(name: &str) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id()).into_bytes()
}

/// The MISSING subjects in a gRPC error's `google.rpc.Status` details.
fn missing_blobs_of(err: &support::reapi::Status) -> Vec<String> {
    use bazel_remote_apis::google::rpc::Status as RpcStatus;
    let Ok(status) = RpcStatus::decode(err.details()) else {
        return Vec::new();
    };
    status
        .details
        .iter()
        .filter_map(|any| support::reapi::PreconditionFailure::decode(any.value.as_slice()).ok())
        .flat_map(|f| f.violations)
        .map(|v| v.subject)
        .collect()
}

/// `path` → (digest, executable) of an ActionResult's output files.
fn output_files(result: &ActionResult) -> BTreeMap<String, (Digest, bool)> {
    result
        .output_files
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                (f.digest.clone().expect("digest"), f.is_executable),
            )
        })
        .collect()
}

/// Every file of an output directory's `Tree`: relative path → (digest, executable).
fn tree_files(client: &Client, tree_digest: &Digest) -> BTreeMap<String, (Digest, bool)> {
    let tree = Tree::decode(
        client
            .read_blob(tree_digest)
            .expect("read the Tree")
            .as_slice(),
    )
    .expect("a Tree proto");
    let children: BTreeMap<String, _> = tree
        .children
        .iter()
        .map(|d| (digest(&d.encode_to_vec()).hash, d.clone()))
        .collect();
    let mut files = BTreeMap::new();
    let mut stack = vec![(String::new(), tree.root.expect("a root"))];
    while let Some((prefix, dir)) = stack.pop() {
        for f in &dir.files {
            let d = f.digest.clone().expect("digest");
            files.insert(format!("{prefix}{}", f.name), (d, f.is_executable));
        }
        for sub in &dir.directories {
            let hash = &sub.digest.as_ref().expect("digest").hash;
            let child = children
                .get(hash)
                .expect("every subdirectory is in the Tree");
            stack.push((format!("{prefix}{}/", sub.name), child.clone()));
        }
    }
    files
}

#[test]
fn capabilities_execute_outputs_and_cache_hit() {
    let Some(cluster) = shared() else { return };
    eprintln!("reapi: shared cluster up in {}", cluster.startup_report());
    let client = cluster.client();
    let caps = client.capabilities().expect("GetCapabilities");
    let cache = caps.cache_capabilities.clone().expect("cache capabilities");
    assert_eq!(cache.digest_functions, vec![1], "SHA-256 only");
    assert!(cache.max_batch_total_size_bytes > 1 << 20, "{cache:?}");
    assert!(caps.execution_capabilities.expect("execution").exec_enabled);
    let high = caps.high_api_version.expect("high API version");
    eprintln!(
        "reapi: capabilities: API {}.{}, max batch {} bytes",
        high.major, high.minor, cache.max_batch_total_size_bytes
    );
    assert!(
        (high.major, high.minor) >= (2, 1),
        "output_paths supported: {high:?}"
    );

    let tool = b"#!/bin/sh\necho tool ran\n".to_vec();
    let input = InputRoot::new().file("tool.sh", tool.clone(), true).file(
        "data/in.txt",
        "make me loud\n",
        false,
    );
    let script = "mkdir -p out/d/e && echo hi > out/x && ./tool.sh > out/y && cp tool.sh out/tool \
                  && tr a-z A-Z < data/in.txt > out/d/e/up.txt && echo to-stderr >&2";
    let spec = ActionSpec::sh(script)
        .outputs(&["out/x", "out/y", "out/tool", "out/d"])
        .salt(unique("execute"));
    let (root, _) = input.build();
    let (action, _) = spec.build(&root);
    let started = Instant::now();
    let done = client.run(&spec, &input).expect("Execute");
    eprintln!(
        "reapi: one action (upload, Execute, result) in {:?}, stages {:?}",
        started.elapsed(),
        done.stages
    );
    let result = done.result();
    assert_eq!(result.exit_code, 0);
    assert!(!done.response.cached_result);
    let files = output_files(result);
    assert_eq!(files["out/x"], (digest(b"hi\n"), false));
    assert_eq!(files["out/y"], (digest(b"tool ran\n"), false));
    assert_eq!(
        files["out/tool"],
        (digest(&tool), true),
        "the executable bit travels"
    );
    let dir = &result.output_directories[0];
    assert_eq!(dir.path, "out/d");
    let tree = tree_files(&client, dir.tree_digest.as_ref().expect("a Tree"));
    let up = (digest(b"MAKE ME LOUD\n"), false);
    assert_eq!(tree, BTreeMap::from([("e/up.txt".to_string(), up)]));
    let stderr = client
        .read_blob(result.stderr_digest.as_ref().expect("stderr"))
        .expect("read stderr");
    assert_eq!(stderr, b"to-stderr\n");
    assert_eq!(client.read_blob(&files["out/x"].0).expect("read"), b"hi\n");

    // The worker's log: this action ran once, as sent.
    let runs = cluster.executions_of(&digest_string(&action));
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].argv, spec.argv);
    assert_eq!(runs[0].env, spec.env);
    assert_eq!(runs[0].input_root, digest_string(&root));
    let finished = runs[0].done.as_ref().expect("finished");
    assert_eq!((finished.status, finished.exit_code), (0, Some(0)));

    // Again: served by the action cache, no new execution.
    let again = client.execute(&action, false).expect("second Execute");
    assert!(again.response.cached_result, "{:?}", again.response);
    assert_eq!(again.result().output_files, result.output_files);
    assert!(client.get_action_result(&action).expect("AC").is_some());
    assert_eq!(cluster.executions_of(&digest_string(&action)).len(), 1);
}

#[test]
fn generated_server_config_passes_bgd_lint() {
    // The harness starts servers without BuildGrid's per-start schema check
    // (test-support/reapi/server.py), so the check happens here, strict, for both storages.
    let Some(bg) = support::reapi::buildgrid_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    for cas in [CasStorage::Memory, CasStorage::Disk] {
        let opts = ClusterOptions {
            cas,
            ..ClusterOptions::default()
        };
        let url = "postgresql://postgres@127.0.0.1:5432/bgd_0";
        let config = dir.path().join("bgd.yml");
        let yaml = support::reapi::server_config(&opts, 50051, url, dir.path());
        std::fs::write(&config, yaml).expect("write the config");
        let mut lint = std::process::Command::new(bg.bgd());
        let lint = support::run(lint.args(["server", "lint"]).arg(&config));
        lint.ok();
        assert!(
            lint.stdout.contains("passed validation"),
            "{cas:?}: {lint:?}"
        );
    }
}

#[test]
fn failures_env_and_rest_2_0_output_fields() {
    let Some(cluster) = shared() else { return };
    let client = cluster.client();

    // A failing command: exit code and stderr come back; not cached, so it runs again.
    let spec = ActionSpec::sh("echo oops >&2; exit 3").salt(unique("fail"));
    let (action, _) = spec.build(&InputRoot::new().build().0);
    for attempt in 1..=2 {
        let done = client.run(&spec, &InputRoot::new()).expect("Execute");
        assert_eq!(done.result().exit_code, 3);
        assert!(!done.response.cached_result);
        let stderr = done.result().stderr_digest.clone().expect("stderr");
        assert_eq!(client.read_blob(&stderr).expect("stderr"), b"oops\n");
        assert_eq!(
            cluster.executions_of(&digest_string(&action)).len(),
            attempt
        );
    }
    assert!(client.get_action_result(&action).expect("AC").is_none());

    // Action.timeout: the worker kills the command; the status says DEADLINE_EXCEEDED.
    let mut slow = ActionSpec::sh("sleep 30").salt(unique("timeout"));
    slow.timeout = Some(Duration::from_secs(1));
    let started = Instant::now();
    let done = client.run(&slow, &InputRoot::new()).expect("Execute");
    eprintln!(
        "reapi: Action.timeout 1 s on `sleep 30`: after {:?}, operation error {:?}, response \
         status {:?}",
        started.elapsed(),
        done.operation_error,
        done.response.status
    );
    assert_eq!(done.code(), Code::DeadlineExceeded, "{done:?}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "killed, not waited for"
    );

    // A tool the worker lacks: exit 127, like a shell.
    let missing = ActionSpec::sh("no-such-tool-xyz").salt(unique("127"));
    let done = client.run(&missing, &InputRoot::new()).expect("Execute");
    assert_eq!(done.result().exit_code, 127);

    // argv[0] without a slash is looked up in the Command's PATH; env is passed as sent;
    // REAPI 2.0's output_files / output_directories are honoured.
    let mut spec = ActionSpec::sh("");
    spec.argv = vec![
        "sh".into(),
        "-c".into(),
        "printenv GREETING > f; mkdir -p d; cp f d/g".into(),
    ];
    spec.env.insert("GREETING".into(), "hello from env".into());
    spec.output_files = vec!["f".into()];
    spec.output_directories = vec!["d".into()];
    spec.salt = unique("v20");
    let done = client.run(&spec, &InputRoot::new()).expect("Execute");
    let result = done.result();
    let greeting = digest(b"hello from env\n");
    assert_eq!(output_files(result)["f"], (greeting.clone(), false));
    let tree = result.output_directories[0]
        .tree_digest
        .clone()
        .expect("a Tree");
    let files = tree_files(&client, &tree);
    assert_eq!(
        files,
        BTreeMap::from([("g".to_string(), (greeting, false))])
    );
}

#[test]
fn actions_in_flight_spread_over_workers_and_slots() {
    let Some(cluster) = shared() else { return };
    let salt = unique("parallel");
    let started = Instant::now();
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let url = cluster.url();
            let spec = ActionSpec::sh(&format!("sleep 1; echo {i} > o"))
                .outputs(&["o"])
                .salt(salt.clone());
            std::thread::spawn(move || {
                let done = Client::connect(&url)
                    .timeout(Duration::from_secs(120))
                    .run(&spec, &InputRoot::new())
                    .expect("Execute");
                let (action, _) = spec.build(&InputRoot::new().build().0);
                (i, action, done)
            })
        })
        .collect();
    let mut executions = Vec::new();
    for run in runs {
        let (i, action, done) = run.join().expect("client thread");
        let expected = digest(format!("{i}\n").as_bytes());
        assert_eq!(output_files(done.result())["o"].0, expected);
        let ran = cluster.executions_of(&digest_string(&action));
        assert_eq!(ran.len(), 1, "{ran:#?}");
        executions.extend(ran);
    }
    // 8 one-second actions on 2 workers × 2 slots: about 2 s when they overlap, 8 s if not.
    let first = executions
        .iter()
        .map(|e| e.started_at)
        .fold(f64::MAX, f64::min);
    let timeline: Vec<String> = executions
        .iter()
        .map(|e| {
            let end = e.done.as_ref().map_or(0.0, |d| d.finished_at);
            format!(
                "w{} {:.2}-{:.2}",
                e.worker,
                e.started_at - first,
                end - first
            )
        })
        .collect();
    eprintln!(
        "reapi: 8 × `sleep 1` on 2 workers × 2 slots in {:?}: {}",
        started.elapsed(),
        timeline.join(", ")
    );
    let workers: std::collections::BTreeSet<usize> = executions.iter().map(|e| e.worker).collect();
    assert_eq!(workers.len(), 2, "both workers took actions");
}

#[test]
fn bytestream_carries_blobs_above_the_message_cap() {
    let Some(cluster) = shared() else { return };
    let client = cluster.client();
    let big: Vec<u8> = (0..5 * 1024 * 1024 + 123)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .chain(unique("big"))
        .collect();
    let err = client
        .batch_update(&[&big])
        .expect_err("a 5 MiB batch is over the cap");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");
    let d = client.write_stream(&big).expect("ByteStream Write");
    assert_eq!(client.read_stream(&d).expect("ByteStream Read"), big);

    // An input and an output over 4 MiB: the worker reads and writes them by ByteStream.
    let input = InputRoot::new().file("big.bin", big.clone(), false);
    let spec = ActionSpec::sh("mkdir -p out && cp big.bin out/copy && echo tail >> out/copy")
        .outputs(&["out/copy"])
        .salt(unique("big-action"));
    let done = client.run(&spec, &input).expect("Execute");
    let copy = &done.result().output_files[0];
    let mut expected = big.clone();
    expected.extend_from_slice(b"tail\n");
    assert_eq!(copy.digest, Some(digest(&expected)));
    let back = client
        .read_blob(copy.digest.as_ref().expect("digest"))
        .expect("read");
    assert!(back == expected, "the output came back byte-identical");
}

#[test]
fn worker_killed_mid_action_is_requeued_to_another_worker() {
    let opts = ClusterOptions {
        workers: 1,
        capacity: 1,
        bot_keepalive: Duration::from_secs(5),
        ..ClusterOptions::default()
    };
    let Some(mut cluster) = Cluster::start_with(opts) else {
        return;
    };
    eprintln!("reapi: cluster up in {}", cluster.startup_report());
    let marker = "7.4321"; // `sleep 7.4321`: findable in /proc
    let spec = ActionSpec::sh(&format!("sleep {marker}; mkdir -p out; echo done > out/f"))
        .outputs(&["out/f"])
        .salt(unique("killed"));
    let (action, _) = spec.build(&InputRoot::new().build().0);
    let url = cluster.url();
    let running = std::thread::spawn(move || {
        let client = Client::connect(&url).timeout(Duration::from_secs(120));
        client.run(&spec, &InputRoot::new())
    });
    let first = cluster.wait_for_execution(Duration::from_secs(60), |e| {
        e.action == digest_string(&action)
    });
    assert_eq!(first.worker, 0);
    let killed = Instant::now();
    cluster.kill_worker(0);
    wait_until(
        "the killed worker's action is gone",
        Duration::from_secs(5),
        || !sleeping(marker),
    );
    let second = cluster.start_worker(1);
    let done = running.join().expect("client thread").expect("Execute");
    let waited = killed.elapsed();
    eprintln!(
        "reapi: worker SIGKILLed mid-action (keepalive 5 s): result after {waited:?} \
         (action sleeps 7.4 s), stages {:?}",
        done.stages
    );
    assert_eq!(done.result().exit_code, 0);
    assert_eq!(output_files(done.result())["out/f"].0, digest(b"done\n"));
    // Worker 0's run never finished; worker 1 ran the requeued job to the end.
    let runs = cluster.executions_of(&digest_string(&action));
    let (killed, rerun): (Vec<_>, Vec<_>) = runs.iter().partition(|r| r.worker == 0);
    assert!(killed.iter().all(|r| r.done.is_none()), "{runs:#?}");
    assert_eq!(rerun.len(), 1, "{runs:#?}");
    assert_eq!(rerun[0].worker, second);
    assert_eq!(rerun[0].done.as_ref().map(|d| d.exit_code), Some(Some(0)));

    // Dropped while a test panics: nothing of the cluster survives.
    let pids = cluster.pids();
    assert_eq!(pids.len(), 2, "server and the second worker");
    let unwound = catch_unwind(AssertUnwindSafe(move || {
        let _cluster = cluster;
        panic!("a failing test");
    }));
    assert!(unwound.is_err());
    for pid in pids {
        assert!(
            !support::reapi::process_alive(pid),
            "{pid} outlived the cluster"
        );
    }
}

/// Whether a `sleep <marker>` process runs.
fn sleeping(marker: &str) -> bool {
    let wanted = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| cmdline == wanted.as_bytes())
}

#[test]
fn server_killed_restarted_and_frozen() {
    let opts = ClusterOptions {
        cas: CasStorage::Disk,
        ..ClusterOptions::default()
    };
    let Some(mut cluster) = Cluster::start_with(opts) else {
        return;
    };
    eprintln!("reapi: cluster up in {}", cluster.startup_report());
    killed_mid_action_then_wait_execution(&mut cluster);
    restarted_in_memory_between_upload_and_execute(&mut cluster);
    frozen_then_thawed(&mut cluster);
    let pids = cluster.pids();
    drop(cluster);
    for pid in pids {
        assert!(
            !support::reapi::process_alive(pid),
            "{pid} outlived the cluster"
        );
    }
}

/// SIGKILL the server while an action runs, restart it (CAS on disk): `WaitExecution` with
/// the operation's name gets the result.
fn killed_mid_action_then_wait_execution(cluster: &mut Cluster) {
    let spec = ActionSpec::sh("sleep 3; echo survived > s")
        .outputs(&["s"])
        .salt(unique("wait"));
    let client = cluster.client().timeout(Duration::from_secs(60));
    let (root, mut blobs) = InputRoot::new().build();
    let (action, more) = spec.build(&root);
    blobs.extend(more);
    client.upload(&blobs).expect("upload");
    let name = client.start_execute(&action).expect("Execute");
    let (url, waiting) = (cluster.url(), name.clone());
    let stream = std::thread::spawn(move || {
        Client::connect(&url)
            .timeout(Duration::from_secs(60))
            .wait_execution(&waiting)
    });
    cluster.wait_for_execution(Duration::from_secs(60), |e| {
        e.action == digest_string(&action)
    });
    cluster.kill_server();
    let broken = stream
        .join()
        .expect("client thread")
        .expect_err("the stream breaks");
    eprintln!("reapi: server SIGKILLed mid-action: the client's stream ended with {broken:?}");
    // tonic reports the reset connection as UNKNOWN ("h2 protocol error"), grpcio as UNAVAILABLE.
    assert!(
        matches!(broken.code(), Code::Unknown | Code::Unavailable),
        "{broken:?}"
    );
    let restarted = Instant::now();
    cluster.restart_server();
    let up = restarted.elapsed();
    let done = cluster
        .client()
        .timeout(Duration::from_secs(60))
        .wait_execution(&name)
        .expect("WaitExecution after the restart");
    eprintln!(
        "reapi: server restart took {up:?}; then WaitExecution answered {:?} (stages {:?}) after \
         {:?} more; the action ran {} time(s)",
        done.code(),
        done.stages,
        restarted.elapsed() - up,
        cluster.executions_of(&digest_string(&action)).len()
    );
    assert_eq!(done.code(), Code::Ok, "{:?}", done.response);
    assert_eq!(output_files(done.result())["s"].0, digest(b"survived\n"));
}

/// Restart with the CAS in memory between upload and `Execute`: the blobs are gone.
fn restarted_in_memory_between_upload_and_execute(cluster: &mut Cluster) {
    let client = cluster.client();
    let input = InputRoot::new().file("in.txt", unique("restart"), false);
    let spec = ActionSpec::sh("cat in.txt > out.txt").outputs(&["out.txt"]);
    let (root, mut blobs) = input.build();
    let (action, more) = spec.build(&root);
    blobs.extend(more);
    client.upload(&blobs).expect("upload");
    cluster.restart_server_with(CasStorage::Memory);
    let client = cluster.client();
    // The Action itself is gone: the Execute call fails (no ExecuteResponse).
    let err = client
        .execute(&action, false)
        .expect_err("the Action blob is gone");
    eprintln!(
        "reapi: Execute of a lost Action: {:?} {:?}, MISSING details {:?}",
        err.code(),
        err.message(),
        missing_blobs_of(&err)
    );
    assert_eq!(err.code(), Code::FailedPrecondition, "{err}");
    // Action and Command back, the input root still gone: the worker reports it MISSING.
    let action_blobs = &blobs[blobs.len() - 2..];
    client
        .upload(action_blobs)
        .expect("upload the Command and Action");
    let done = client.execute(&action, false).expect("Execute");
    eprintln!(
        "reapi: Execute with lost inputs: {:?} {:?}, MISSING {:?}",
        done.code(),
        done.response.status.as_ref().map(|s| &s.message),
        done.missing_blobs()
    );
    assert_eq!(done.code(), Code::FailedPrecondition, "{:?}", done.response);
    let lost_root = format!("blobs/{}/{}", root.hash, root.size_bytes);
    assert_eq!(done.missing_blobs(), vec![lost_root]);
    client.upload(&blobs).expect("upload again");
    let done = client.execute(&action, false).expect("Execute");
    assert_eq!(
        done.result().exit_code,
        0,
        "the worker reconnected by itself"
    );
}

/// SIGSTOP the server: calls fail on the client's deadline; SIGCONT: all is well again.
fn frozen_then_thawed(cluster: &mut Cluster) {
    cluster.freeze();
    let quick = cluster.client().timeout(Duration::from_secs(2));
    let asked = Instant::now();
    let err = quick
        .capabilities()
        .expect_err("a frozen server answers nothing");
    eprintln!(
        "reapi: frozen server: {:?} after {:?}",
        err.code(),
        asked.elapsed()
    );
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    cluster.thaw();
    let again = ActionSpec::sh("echo thawed > t")
        .outputs(&["t"])
        .salt(unique("thaw"));
    let done = cluster
        .client()
        .run(&again, &InputRoot::new())
        .expect("Execute");
    assert_eq!(output_files(done.result())["t"].0, digest(b"thawed\n"));
}

#[test]
fn watchdog_stops_guarded_processes_when_the_test_process_ends() {
    let marker = "301.2345";
    let (pid, watchdog) =
        support::reapi::orphan_guarded(&format!("sleep {marker} & exec sleep {marker}"));
    wait_until(
        "the watchdog stops the group",
        Duration::from_secs(10),
        || !support::reapi::process_alive(pid) && !sleeping(marker),
    );
    wait_until("the watchdog exits", Duration::from_secs(10), || {
        !support::reapi::process_alive(watchdog)
    });
}
