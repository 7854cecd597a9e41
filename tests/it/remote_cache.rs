//! The shared remote cache against a real server (nginx with WebDAV `PUT`, started per test):
//! two clones of `examples/monorepo` with separate local caches share their work through it,
//! what lands on the server is what a Bazel cache expects, and the configuration comes from
//! flags, the environment or the root manifest (with a bearer token from the environment).

use std::fs;
use support::nginx::{Nginx, NginxOptions};
use support::project::Project;
use support::remote::{
    ac_entries, assert_same_packages, build_remote, build_with_env, remote_stats, sha256_hex,
    warnings,
};

/// Every action of `examples/monorepo`.
const MONOREPO_ACTIONS: u64 = 9;

#[test]
fn a_second_clone_runs_nothing_and_installs_identical_packages() {
    let server = Nginx::start();
    let a = Project::example_at("monorepo", "a/monorepo");
    let b = a.another("monorepo", "b/monorepo");

    let first = build_remote(&a, &server.url(), &[]);
    assert_eq!(first.built(), MONOREPO_ACTIONS);
    let stats = remote_stats(&first);
    assert_eq!(stats["misses"], MONOREPO_ACTIONS);
    assert_eq!(
        stats["uploads"], MONOREPO_ACTIONS,
        "every result uploaded before exit"
    );
    assert!(stats["uploaded_bytes"].as_u64().unwrap() > 0);
    assert!(warnings(&first).is_empty(), "{:?}", warnings(&first));

    let second = build_remote(&b, &server.url(), &[]);
    assert_eq!(second.built(), 0, "ran: {:?}", second.ran());
    assert_eq!(second.summary["remote_hits"], MONOREPO_ACTIONS);
    let finished: Vec<_> = second
        .events
        .iter()
        .filter(|e| e["event"] == "finished")
        .collect();
    assert_eq!(finished.len() as u64, MONOREPO_ACTIONS);
    assert!(finished.iter().all(|e| e["remote"] == true));
    let stats = remote_stats(&second);
    assert_eq!(stats["hits"], MONOREPO_ACTIONS);
    assert_eq!(stats["uploads"], 0, "nothing new to upload");
    assert!(stats["downloaded_bytes"].as_u64().unwrap() > 0);
    assert_same_packages(&a, &b);
    b.run_package("apps/greet/dist/greet.psp", &["remote"])
        .clean("greet: hello, remote\n");

    // b's local cache records both digests of what it fetched: blake3 (local name, in the
    // engine's action cache) and SHA-256 (remote name, in the remote cache's index beside it).
    let server_blobs: Vec<String> = server
        .objects("cas")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let local_entries = support::files_under(&b.path(".flavor/cache/ac"));
    assert_eq!(local_entries.len() as u64, MONOREPO_ACTIONS);
    for entry in local_entries {
        let json: serde_json::Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
        let outputs = json["outputs"].as_array().unwrap();
        for output in outputs {
            let blake3 = output["digest"].as_str().unwrap();
            let blob =
                fs::read(b.path(&format!(".flavor/cache/cas/{}/{blake3}", &blake3[..2]))).unwrap();
            let sha = support::remote::recorded_sha256(&b.path(".flavor/cache"), blake3)
                .expect("SHA-256 digest recorded");
            assert_eq!(sha256_hex(&blob), sha);
            assert!(server_blobs.contains(&sha));
        }
    }

    let stats = b.flavor(&["cache", "stats"]);
    stats.ok();
    assert!(
        stats.stdout.contains("9 cached (9 from the remote cache)"),
        "{}",
        stats.stdout
    );

    // What was fetched is in b's local cache now: no server needed any more.
    let third = b.build(&["--no-remote-cache"]);
    assert_eq!((third.built(), third.cached()), (0, MONOREPO_ACTIONS));
    assert!(third.summary["remote"].is_null());
}

#[test]
fn the_server_holds_reapi_action_results_naming_sha256_blobs() {
    let server = Nginx::start();
    let a = Project::example("monorepo");
    build_remote(&a, &server.url(), &[]);

    let entries = ac_entries(&server.data_dir());
    assert_eq!(entries.len() as u64, MONOREPO_ACTIONS);
    for (path, result) in &entries {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert_eq!(name.len(), 64, "ac keys are SHA-256 hex: {name}");
        assert_eq!(result.exit_code, 0);
        assert!(!result.output_files.is_empty());
        for (i, file) in result.output_files.iter().enumerate() {
            assert_eq!(file.path, format!("out-{i}"));
            let digest = file.digest.as_ref().expect("a digest");
            let blob = fs::read(server.data_dir().join("cas").join(&digest.hash))
                .unwrap_or_else(|e| panic!("cas/{} of {name}: {e}", digest.hash));
            assert_eq!(sha256_hex(&blob), digest.hash, "blobs are named by SHA-256");
            assert_eq!(blob.len() as i64, digest.size_bytes);
        }
    }
    // Every installed package is one of the blobs, under its SHA-256.
    for (rel, bytes) in support::remote::packages(&a) {
        let blob = server.data_dir().join("cas").join(sha256_hex(&bytes));
        assert!(blob.is_file(), "{rel} is not on the server");
    }
}

#[test]
fn read_only_from_the_environment_uploads_nothing() {
    let server = Nginx::start();
    let a = Project::example("monorepo");
    let url = server.url();
    let build = build_with_env(
        &a,
        &[],
        &[
            ("FLAVOR_REMOTE_CACHE", &url),
            ("FLAVOR_REMOTE_CACHE_READ_ONLY", "1"),
        ],
    );
    build.run.ok();
    assert_eq!(build.built(), MONOREPO_ACTIONS);
    let stats = remote_stats(&build);
    assert_eq!(stats["read_only"], true);
    assert_eq!(stats["url"], url.as_str());
    assert_eq!(stats["misses"], MONOREPO_ACTIONS);
    assert_eq!(stats["uploads"], 0);
    assert!(server.objects("ac").is_empty() && server.objects("cas").is_empty());
    let log = server.access_log();
    assert!(log.contains("GET /cache/ac/"), "looked up: {log}");
    assert!(!log.contains("PUT "), "no upload: {log}");

    // The flag does the same.
    let b = a.another("monorepo", "b");
    let build = build_remote(&b, &url, &["--remote-cache-read-only"]);
    assert_eq!(remote_stats(&build)["uploads"], 0);
    assert!(server.objects("cas").is_empty());
}

#[test]
fn the_root_manifest_configures_the_remote_with_a_token_from_the_environment() {
    const TOKEN_ENV: &str = "FLAVOR_TEST_CACHE_TOKEN";
    let server = Nginx::start_with(NginxOptions {
        token: Some("s3cret-token".into()),
    });
    let configure = |p: &Project| {
        p.append(
            "flavor.toml",
            &format!(
                "\n[cache]\nremote = \"{}\"\ntoken_env = \"{TOKEN_ENV}\"\n",
                server.url()
            ),
        );
    };
    let a = Project::example_at("monorepo", "a/monorepo");
    let b = a.another("monorepo", "b/monorepo");
    let c = a.another("monorepo", "c/monorepo");
    for p in [&a, &b, &c] {
        configure(p);
    }

    let first = build_with_env(&a, &[], &[(TOKEN_ENV, "s3cret-token")]);
    first.run.ok();
    assert_eq!(remote_stats(&first)["uploads"], MONOREPO_ACTIONS);
    assert_eq!(server.objects("ac").len() as u64, MONOREPO_ACTIONS);

    let second = build_with_env(&b, &[], &[(TOKEN_ENV, "s3cret-token")]);
    second.run.ok();
    assert_eq!(second.built(), 0);
    assert_same_packages(&a, &b);

    // A wrong token: refused by the server, one warning, the build goes on locally.
    let third = build_with_env(&c, &[], &[(TOKEN_ENV, "wrong")]);
    third.run.ok();
    assert_eq!(third.built(), MONOREPO_ACTIONS);
    let warned = warnings(&third);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(warned[0].contains("401"), "{}", warned[0]);
    assert_same_packages(&a, &c);

    // The token's variable unset: said once, no token sent.
    let d = a.another("monorepo", "d/monorepo");
    configure(&d);
    let fourth = build_with_env(&d, &["--remote-cache-read-only"], &[]);
    fourth.run.ok();
    assert!(
        warnings(&fourth)
            .iter()
            .any(|w| w.contains(TOKEN_ENV) && w.contains("not set")),
        "{:?}",
        warnings(&fourth)
    );
}

#[test]
fn bad_remote_configuration_is_an_error_naming_where_it_came_from() {
    let a = Project::example("monorepo");
    let run = a.flavor(&["build", "--remote-cache", "ftp://cache.example/x"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("--remote-cache") && run.stderr.contains("http://"),
        "{}",
        run.stderr
    );

    a.append(
        "flavor.toml",
        "\n[cache]\nremote = \"cache.example:8080\"\ntoken_env = \"Bearer abc\"\n",
    );
    let run = a.flavor(&["build"]);
    run.expect_code(1);
    assert!(run.stderr.contains("cache.remote"), "{}", run.stderr);
    assert!(run.stderr.contains("cache.token_env"), "{}", run.stderr);
    assert!(
        support::remote::packages(&a).is_empty(),
        "nothing was built"
    );
}

#[test]
fn run_finishes_its_uploads_before_it_execs_the_package() {
    let server = Nginx::start();
    // A 48 MiB incompressible slot: uploading it takes long enough that an exec before the
    // uploads are done would cut them off.
    let a = Project::from_files(&[
        (
            "flavor.toml",
            "[package]\nname = \"big\"\nversion = \"1.0.0\"\n\n[execution]\n\
             command = \"/bin/sh {workenv}/bin/run.sh\"\n\n\
             [[slot]]\nid = \"app\"\nsource = \"run.sh\"\ntarget = \"bin/run.sh\"\n\n\
             [[slot]]\nid = \"data\"\nsource = \"data.bin\"\ntarget = \"data.bin\"\n",
        ),
        ("run.sh", "echo \"big: $1\"\n"),
    ]);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let data: Vec<u8> = (0..48 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    fs::write(a.path("data.bin"), &data).unwrap();

    let run = a.flavor(&["run", "--remote-cache", &server.url(), "--", "uploaded"]);
    run.ok();
    assert!(run.stdout.contains("big: uploaded"), "{}", run.stdout);
    let entries = ac_entries(&server.data_dir());
    assert_eq!(
        entries.len(),
        1,
        "raw file slots go straight into the package action"
    );
    let package = support::remote::packages(&a)["dist/big.psp"].clone();
    let cas = server.data_dir().join("cas");
    assert!(
        cas.join(sha256_hex(&package)).is_file(),
        "the package itself was uploaded"
    );
    for result in entries.values() {
        for file in &result.output_files {
            let hash = &file.digest.as_ref().unwrap().hash;
            assert!(
                cas.join(hash).is_file(),
                "an entry names a blob the server lacks: {hash}"
            );
        }
    }
}

#[test]
fn cache_push_seeds_the_remote_from_a_warm_local_cache() {
    let server = Nginx::start();
    let a = Project::example_at("monorepo", "a/monorepo");
    // Built before any remote existed: builds upload only what they run, so nothing is there.
    a.build(&["--no-remote-cache"]);
    let warm = build_remote(&a, &server.url(), &[]);
    assert_eq!(warm.cached(), MONOREPO_ACTIONS);
    assert!(server.objects("ac").is_empty());

    let no_remote = a.flavor(&["cache", "push"]);
    no_remote.expect_code(1);
    assert!(
        no_remote.stderr.contains("--remote-cache URL"),
        "{}",
        no_remote.stderr
    );

    let push = a.flavor(&["cache", "push", "--json", "--remote-cache", &server.url()]);
    push.ok();
    let out: serde_json::Value = serde_json::from_str(&push.stdout).unwrap();
    assert_eq!(out["ok"], true, "{out}");
    assert_eq!(out["results"], MONOREPO_ACTIONS);
    assert_eq!(out["remote"]["uploads"], MONOREPO_ACTIONS);
    assert_eq!(server.objects("ac").len() as u64, MONOREPO_ACTIONS);

    let b = a.another("monorepo", "b/monorepo");
    let second = build_remote(&b, &server.url(), &[]);
    assert_eq!(second.built(), 0, "ran: {:?}", second.ran());
    assert_same_packages(&a, &b);
}
