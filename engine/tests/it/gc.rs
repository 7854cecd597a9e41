//! Garbage collection: the live set is exactly what the next build looks up (same keys as the
//! build computes), the sweep keeps it and the newest other results within a size, and
//! nothing written after the collector started is deleted.

use std::fs;

use crate::common::{Cases, Concat, Fixture, assert_store_consistent, out, write_dated};
use flavor_engine::{ActionId, GcOptions, Graph, Input, LiveSet};

/// a.txt → cases; concat(upper, lower)
fn graph(fx: &Fixture) -> (Graph, Vec<ActionId>) {
    let a = fx.dir.path().join("src/a.txt");
    let mut g = Graph::new();
    let cases = g.add(Cases::new("a", Input::File(a))).unwrap();
    let cat = g
        .add(Concat::new("both", vec![out(cases, 0), out(cases, 1)]))
        .unwrap();
    (g, vec![cat])
}

fn entries(fx: &Fixture) -> usize {
    fs::read_dir(fx.store.root().join("ac")).unwrap().count()
}

#[test]
fn the_live_set_has_the_keys_the_build_computed() {
    let fx = Fixture::new();
    fx.source("a.txt", "Alpha");
    let (g, targets) = graph(&fx);
    let sources = fx.sources();
    let report = fx.build(&g, &sources);
    let mut live = LiveSet::new();
    live.mark(&g, &targets, &fx.store, &sources);
    let built: std::collections::HashSet<_> = report.actions.iter().filter_map(|a| a.key).collect();
    assert_eq!(live.keys(), &built);
    let blobs: std::collections::HashSet<_> = report
        .actions
        .iter()
        .flat_map(|a| a.outputs.iter().map(|o| o.digest))
        .collect();
    assert_eq!(live.blobs(), &blobs);
    assert!(live.reads(&fx.dir.path().join("src/a.txt")));

    // After a change, the old results are no longer live and the new ones are not built yet.
    write_dated(&fx.dir.path().join("src/a.txt"), b"Apple");
    let mut live = LiveSet::new();
    live.mark(&g, &targets, &fx.store, &sources);
    assert!(live.keys().is_empty());
}

#[test]
fn sweep_keeps_what_is_live_and_the_newest_within_max_size() {
    let fx = Fixture::new();
    let (g, targets) = graph(&fx);
    let sources = fx.sources();
    for text in ["one", "two", "three"] {
        fx.source("a.txt", text);
        assert!(fx.build(&g, &sources).is_ok());
        // Entries are ordered by modification time: keep the builds' apart on a coarse clock.
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(entries(&fx), 6);
    let total = fx.store.stats().unwrap().bytes;

    let collect = |options: GcOptions| {
        let mut gc = fx.store.collector().unwrap();
        gc.mark(&g, &targets, &sources);
        gc.sweep(&options).unwrap()
    };
    // A dry run deletes nothing; a large limit keeps everything.
    let dry = collect(GcOptions {
        max_size: 0,
        dry_run: true,
    });
    assert_eq!((dry.live_entries, dry.removed_entries), (2, 4));
    assert_eq!(entries(&fx), 6);
    let all = collect(GcOptions {
        max_size: u64::MAX,
        dry_run: false,
    });
    assert_eq!((all.removed_entries, all.kept_bytes), (0, total));

    // One byte short of everything: "two" (the newest unused) stays, "one" goes (its
    // oldest result at least: entries go oldest first).
    let some = collect(GcOptions {
        max_size: total - 1,
        dry_run: false,
    });
    assert!(some.removed_entries > 0, "{some:?}");
    assert!(some.freed_bytes > 0 && some.kept_bytes < total);
    assert_store_consistent(&fx.store);
    fx.source("a.txt", "two");
    assert_eq!(fx.build(&g, &sources).built(), 0, "two was kept");
    fx.source("a.txt", "one");
    assert!(fx.build(&g, &sources).built() > 0, "one was dropped");

    // Only what is live: everything else goes, and the live results still build from cache.
    let only = collect(GcOptions::default());
    assert_eq!(only.kept_entries, 2);
    assert_eq!(entries(&fx), 2);
    assert_eq!(fx.build(&g, &sources).cached(), 2);
    assert_store_consistent(&fx.store);
}

#[test]
fn results_written_after_the_collector_started_survive() {
    let fx = Fixture::new();
    fx.source("a.txt", "old");
    let (g, targets) = graph(&fx);
    let sources = fx.sources();
    fx.build(&g, &sources);
    let mut gc = fx.store.collector().unwrap();
    // A build running at the same time writes new results after the mark.
    std::thread::sleep(std::time::Duration::from_millis(20));
    fx.source("a.txt", "new");
    gc.mark(&g, &targets, &sources);
    fx.build(&g, &sources);
    let report = gc.sweep(&GcOptions::default()).unwrap();
    assert_eq!(report.removed_entries, 2, "the old results go: {report:?}");
    assert_eq!(fx.build(&g, &sources).cached(), 2, "the new ones stay");
}
