//! Parallelism: actions overlap, the thread budget holds, and concurrent builds share a store.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::{
    Cases, Concat, Fixture, Heavy, Meet, Rendezvous, assert_store_consistent, out, write_dated,
};
use flavor_engine::{ActionId, BuildOptions, Graph, Input, LocalStore, SourceDigests, build};

#[test]
fn ready_actions_run_at_the_same_time() {
    for jobs in [2, 3] {
        let fx = Fixture::new();
        let rendezvous = Rendezvous::new(jobs);
        let mut g = Graph::new();
        for i in 0..jobs {
            g.add(Box::new(Meet {
                name: format!("{jobs}-{i}"),
                rendezvous: rendezvous.clone(),
            }))
            .unwrap();
        }
        let options = BuildOptions {
            jobs,
            ..BuildOptions::default()
        };
        let report = fx.build_with(&g, &fx.sources(), &options);
        assert!(report.is_ok(), "{:#?}", report.failed());
    }
}

#[test]
fn thread_budget_is_never_exceeded() {
    let fx = Fixture::new();
    let running = Arc::new(AtomicUsize::new(0));
    let max_running = Arc::new(AtomicUsize::new(0));
    let granted = Arc::new(Mutex::new(Vec::new()));
    let jobs = 4;
    let weights = [1, 3, 2, 4, 1, 1, 2, 9, 1, 3, 1, 2];
    let mut g = Graph::new();
    for (i, weight) in weights.into_iter().enumerate() {
        g.add(Box::new(Heavy {
            name: format!("h{i}"),
            weight,
            running: running.clone(),
            max_running: max_running.clone(),
            granted: granted.clone(),
        }))
        .unwrap();
    }
    let options = BuildOptions {
        jobs,
        ..BuildOptions::default()
    };
    let report = fx.build_with(&g, &fx.sources(), &options);
    assert!(report.is_ok());
    assert_eq!(report.built(), weights.len());
    let max = max_running.load(Ordering::SeqCst);
    assert!(max <= jobs, "{max} threads busy with a budget of {jobs}");
    let mut granted = granted.lock().unwrap().clone();
    granted.sort_unstable();
    let mut expected: Vec<usize> = weights.iter().map(|w| (*w).min(jobs)).collect();
    expected.sort_unstable();
    assert_eq!(granted, expected, "threads() is granted, capped at jobs");
}

#[test]
fn single_job_builds_a_deep_graph() {
    let fx = Fixture::new();
    let src = fx.source("s.txt", "x");
    let mut g = Graph::new();
    let mut last = g.add(Cases::new("0", Input::File(src.clone()))).unwrap();
    for i in 1..20 {
        let mut step = Concat::new(&i.to_string(), vec![out(last, 0), Input::File(src.clone())]);
        step.separator = i.to_string();
        last = g.add(step).unwrap();
    }
    let options = BuildOptions {
        jobs: 1,
        ..BuildOptions::default()
    };
    let report = fx.build_with(&g, &fx.sources(), &options);
    assert!(report.is_ok());
    assert_eq!(report.built(), 20);
    assert_eq!(
        fx.read_output(&report, last, 0),
        "X1x2x3x4x5x6x7x8x9x10x11x12x13x14x15x16x17x18x19x"
    );
}

/// A graph with many independent branches whose outputs several builds will race to store.
fn wide_graph(src: &std::path::Path, branches: usize) -> (Graph, ActionId) {
    let mut g = Graph::new();
    let mut tops = Vec::new();
    for i in 0..branches {
        let file = src.join(format!("f{i}.txt"));
        let cases = g
            .add(Cases::new(&i.to_string(), Input::File(file)))
            .unwrap();
        // Two branches share each output, so the same blob is stored twice per build.
        tops.push(out(cases, 0));
        tops.push(out(cases, 0));
    }
    let all = g.add(Concat::new("all", tops)).unwrap();
    (g, all)
}

fn write_wide_sources(src: &std::path::Path, branches: usize) {
    for i in 0..branches {
        let text = format!("file {i} ").repeat(20_000);
        write_dated(&src.join(format!("f{i}.txt")), text.as_bytes());
    }
}

#[test]
fn concurrent_builds_in_threads_share_one_store() {
    let fx = Fixture::new();
    let src = fx.dir.path().join("src");
    let root = fx.store.root().to_path_buf();
    write_wide_sources(&src, 8);
    std::thread::scope(|s| {
        let builds: Vec<_> = (0..2)
            .map(|t| {
                let (src, root) = (&src, &root);
                let db = fx.dir.path().join(format!("sources-{t}.json"));
                s.spawn(move || {
                    let (g, _) = wide_graph(src, 8);
                    let store = LocalStore::open(root).unwrap();
                    let options = BuildOptions {
                        jobs: 2,
                        ..BuildOptions::default()
                    };
                    build(&g, &store, &SourceDigests::load(&db), &options, &|_| {})
                })
            })
            .collect();
        for b in builds {
            let report = b.join().unwrap();
            assert!(report.is_ok(), "{:#?}", report.failed());
        }
    });
    assert_store_consistent(&fx.store);
    let (g, all) = wide_graph(&src, 8);
    let report = fx.build(&g, &fx.sources());
    assert_eq!(report.cached(), 9);
    assert!(fx.read_output(&report, all, 0).starts_with("FILE 0 FILE 0"));
}

const CHILD_ROOT: &str = "FLAVOR_ENGINE_TEST_CHILD_ROOT";

/// Not a test on its own: the body of the child processes of the test below.
#[test]
fn child_process_build() {
    let Some(root) = std::env::var_os(CHILD_ROOT).map(PathBuf::from) else {
        return;
    };
    let (g, _) = wide_graph(&root.join("src"), 8);
    let store = LocalStore::open(&root.join("cache")).unwrap();
    let sources = SourceDigests::load(&root.join(format!("sources-{}.json", std::process::id())));
    let options = BuildOptions {
        jobs: 2,
        ..BuildOptions::default()
    };
    let report = build(&g, &store, &sources, &options, &|_| {});
    assert!(report.is_ok(), "{:#?}", report.failed());
}

#[test]
fn concurrent_builds_in_processes_share_one_store() {
    let fx = Fixture::new();
    let src = fx.dir.path().join("src");
    write_wide_sources(&src, 8);
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "parallel::child_process_build",
                    "--test-threads=1",
                ])
                .env(CHILD_ROOT, fx.dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "child build failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_store_consistent(&fx.store);
    let (g, _) = wide_graph(&src, 8);
    let report = fx.build(&g, &fx.sources());
    assert_eq!(report.cached(), 9, "both processes left a complete cache");
}
