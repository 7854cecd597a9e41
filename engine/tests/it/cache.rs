//! Caching: what is rebuilt, what is reused, and what happens when the store is damaged.

use std::fs;

use crate::common::{Cases, Concat, Events, Fixture, assert_store_consistent, out, write_dated};
use flavor_engine::{
    ActionId, BuildOptions, Event, Graph, Input, SourceDigests, Status, Store, build,
};

/// a.txt → cases(a); b.txt → cases(b); concat(upper a, lower b)
fn two_branches(fx: &Fixture) -> (Graph, [ActionId; 3]) {
    let a = fx.source("a.txt", "Alpha");
    let b = fx.source("b.txt", "Beta");
    let mut g = Graph::new();
    let ca = g.add(Cases::new("a", Input::File(a))).unwrap();
    let cb = g.add(Cases::new("b", Input::File(b))).unwrap();
    let cat = g
        .add(Concat::new("all", vec![out(ca, 0), out(cb, 1)]))
        .unwrap();
    (g, [ca, cb, cat])
}

#[test]
fn first_build_runs_everything_and_produces_outputs() {
    let fx = Fixture::new();
    let (g, [ca, cb, cat]) = two_branches(&fx);
    let report = fx.build(&g, &fx.sources());
    assert!(report.is_ok(), "{:#?}", report.failed());
    assert_eq!(report.built(), 3);
    assert_eq!(fx.read_output(&report, ca, 0), "ALPHA");
    assert_eq!(fx.read_output(&report, cb, 1), "beta");
    assert_eq!(fx.read_output(&report, cat, 0), "ALPHAbeta");
    let cases = report.get(ca).unwrap();
    assert_eq!(cases.kind, "cases");
    assert_eq!(cases.label, "cases a");
    assert_eq!(cases.log, "read 5 bytes\n");
    assert!(cases.key.is_some());
    assert_eq!(cases.outputs[0].size, 5);
    assert_store_consistent(&fx.store);
}

#[test]
fn second_build_is_all_cached_and_reads_no_file() {
    let fx = Fixture::new();
    let (g, _) = two_branches(&fx);
    let sources = fx.sources();
    let first = fx.build(&g, &sources);
    assert_eq!(first.built(), 3);
    assert_eq!(sources.files_hashed(), 2);
    sources.save().unwrap();

    // Same session: the in-memory digests are reused.
    let events = Events::default();
    let second = build(
        &g,
        &fx.store,
        &sources,
        &BuildOptions::default(),
        &events.sink(),
    );
    assert_eq!((second.built(), second.cached()), (0, 3));
    assert_eq!(sources.files_hashed(), 2, "no file read again");
    let events = events.take();
    assert!(
        events
            .iter()
            .all(|e| matches!(e, Event::Finished { cached: true, .. }))
    );
    assert_eq!(events.len(), 3);

    // A new session, digests loaded from disk: still no file contents read.
    let reloaded = SourceDigests::load(&fx.sources_path());
    let third = fx.build(&g, &reloaded);
    assert_eq!((third.built(), third.cached()), (0, 3));
    assert_eq!(reloaded.files_hashed(), 0);
    for a in &third.actions {
        assert_eq!(a.outputs, first.get(a.id).unwrap().outputs);
        assert_eq!(a.key, first.get(a.id).unwrap().key);
    }
}

#[test]
fn changing_one_source_reruns_only_its_dependents() {
    let fx = Fixture::new();
    let (g, [ca, cb, cat]) = two_branches(&fx);
    let sources = fx.sources();
    fx.build(&g, &sources);

    write_dated(&fx.dir.path().join("src/a.txt"), b"Apple");
    let report = fx.build(&g, &sources);
    assert_eq!((report.built(), report.cached()), (2, 1));
    assert_eq!(report.get(ca).unwrap().status, Status::Built);
    assert_eq!(report.get(cb).unwrap().status, Status::Cached);
    assert_eq!(report.get(cat).unwrap().status, Status::Built);
    assert_eq!(fx.read_output(&report, cat, 0), "APPLEbeta");
    assert_eq!(sources.files_hashed(), 3, "only a.txt was read again");
}

#[test]
fn touching_a_source_without_changing_it_rebuilds_nothing() {
    let fx = Fixture::new();
    let (g, _) = two_branches(&fx);
    let sources = fx.sources();
    fx.build(&g, &sources);
    write_dated(&fx.dir.path().join("src/b.txt"), b"Beta");
    let report = fx.build(&g, &sources);
    assert_eq!((report.built(), report.cached()), (0, 3));
    assert_eq!(
        sources.files_hashed(),
        3,
        "b.txt re-read: its stamp changed"
    );
}

#[test]
fn output_changing_upstream_without_changing_bytes_keeps_downstream_cached() {
    // a.txt changes from "Alpha" to "ALPHA": cases(a) reruns, but its upper-case output is
    // the same bytes, so the concat's key is unchanged.
    let fx = Fixture::new();
    let (g, [ca, _, cat]) = two_branches(&fx);
    let sources = fx.sources();
    fx.build(&g, &sources);
    write_dated(&fx.dir.path().join("src/a.txt"), b"ALPHA");
    let report = fx.build(&g, &sources);
    assert_eq!(report.get(ca).unwrap().status, Status::Built);
    assert_eq!(report.get(cat).unwrap().status, Status::Cached);
}

#[test]
fn params_and_version_are_part_of_the_key() {
    let fx = Fixture::new();
    let a = fx.source("a.txt", "a");
    let b = fx.source("b.txt", "b");
    let sources = fx.sources();
    let graph_with = |separator: &str, version: u32| {
        let mut g = Graph::new();
        let mut concat = Concat::new("ab", vec![Input::File(a.clone()), Input::File(b.clone())]);
        concat.separator = separator.into();
        concat.version = version;
        let id = g.add(concat).unwrap();
        (g, id)
    };

    let (g, id) = graph_with("", 1);
    let plain = fx.build(&g, &sources);
    assert_eq!(plain.built(), 1);
    let (g, id2) = graph_with("+", 1);
    let sep = fx.build(&g, &sources);
    assert_eq!(sep.built(), 1, "new params, new key");
    assert_eq!(fx.read_output(&sep, id2, 0), "a+b");
    let (g, _) = graph_with("+", 2);
    assert_eq!(fx.build(&g, &sources).built(), 1, "new version, new key");
    let (g, _) = graph_with("", 1);
    assert_eq!(
        fx.build(&g, &sources).cached(),
        1,
        "the first key is still cached"
    );

    // Input order is part of the key.
    let mut g = Graph::new();
    g.add(Concat::new("ba", vec![Input::File(b), Input::File(a)]))
        .unwrap();
    let swapped = fx.build(&g, &sources);
    assert_eq!(swapped.built(), 1);
    assert_ne!(
        swapped.get(ActionId(0)).unwrap().key,
        plain.get(id).unwrap().key
    );
}

#[test]
fn the_key_ignores_where_a_source_lives() {
    let fx = Fixture::new();
    let one = fx.source("one.txt", "same");
    let two = fx.source("two.txt", "same");
    let sources = fx.sources();
    let mut g = Graph::new();
    g.add(Cases::new("one", Input::File(one))).unwrap();
    g.add(Cases::new("two", Input::File(two))).unwrap();
    let report = fx.build(&g, &sources);
    assert_eq!(report.actions[0].key, report.actions[1].key);
}

#[test]
fn missing_or_corrupted_blob_makes_the_action_rerun() {
    let fx = Fixture::new();
    let (g, [ca, cb, cat]) = two_branches(&fx);
    let sources = fx.sources();
    let first = fx.build(&g, &sources);

    // Truncate concat's output blob (it is read-only: replace it).
    let blob = fx.store.blob_path(&first.output(cat, 0).unwrap()).unwrap();
    fs::remove_file(&blob).unwrap();
    fs::write(&blob, "ALPHA").unwrap();
    let key = first.get(cat).unwrap().key.unwrap();
    assert!(fx.store.get_action(&key).is_none());
    let report = fx.build(&g, &sources);
    assert_eq!(report.get(cat).unwrap().status, Status::Built);
    assert_eq!((report.built(), report.cached()), (1, 2));
    assert_eq!(fx.read_output(&report, cat, 0), "ALPHAbeta");

    // Delete one output of cases(b): it reruns; concat's inputs are the same bytes, so it
    // stays cached.
    let blob = fx.store.blob_path(&first.output(cb, 1).unwrap()).unwrap();
    fs::remove_file(&blob).unwrap();
    let report = fx.build(&g, &sources);
    assert_eq!(report.get(ca).unwrap().status, Status::Cached);
    assert_eq!(report.get(cb).unwrap().status, Status::Built);
    assert_eq!(report.get(cat).unwrap().status, Status::Cached);
    assert!(fx.store.blob_path(&first.output(cb, 1).unwrap()).is_some());

    // A corrupt action-cache entry is a miss too.
    let key = first.get(ca).unwrap().key.unwrap();
    fs::write(fx.store.root().join("ac").join(key.to_hex()), "garbage").unwrap();
    let report = fx.build(&g, &sources);
    assert_eq!(report.get(ca).unwrap().status, Status::Built);
    assert!(report.is_ok());
    assert_store_consistent(&fx.store);
}

#[test]
fn force_reruns_everything() {
    let fx = Fixture::new();
    let (g, _) = two_branches(&fx);
    let sources = fx.sources();
    fx.build(&g, &sources);
    let options = BuildOptions {
        force: true,
        ..BuildOptions::default()
    };
    let report = fx.build_with(&g, &sources, &options);
    assert_eq!(report.built(), 3);
}

#[test]
fn targets_build_only_what_they_need() {
    let fx = Fixture::new();
    let (g, [ca, cb, cat]) = two_branches(&fx);
    let sources = fx.sources();
    let options = BuildOptions {
        targets: Some(vec![cb]),
        ..BuildOptions::default()
    };
    let report = fx.build_with(&g, &sources, &options);
    assert_eq!(report.actions.len(), 1);
    assert_eq!(report.built(), 1);
    assert!(report.get(ca).is_none());
    assert_eq!(sources.files_hashed(), 1, "a.txt was not even read");

    let options = BuildOptions {
        targets: Some(vec![cat]),
        ..BuildOptions::default()
    };
    let report = fx.build_with(&g, &sources, &options);
    assert_eq!((report.built(), report.cached()), (2, 1));
}

#[test]
fn report_json_lists_every_action() {
    let fx = Fixture::new();
    let (g, _) = two_branches(&fx);
    let report = fx.build(&g, &fx.sources());
    let json = report.to_json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["built"], 3);
    let actions = json["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 3);
    assert_eq!(actions[2]["label"], "concat all");
    assert_eq!(actions[2]["status"], "built");
    assert_eq!(actions[2]["outputs"][0]["size"], 9);
    assert_eq!(actions[0]["key"].as_str().unwrap().len(), 64);
}
