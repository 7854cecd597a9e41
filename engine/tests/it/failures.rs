//! Failures: what is reported, what is skipped, what still builds.

use crate::common::{
    Cases, Concat, Events, Fail, Fixture, Forgetful, assert_store_consistent, out,
};
use flavor_engine::{ActionId, BuildOptions, Event, Graph, Input, Status, build};

#[test]
fn failure_skips_dependents_and_lets_independent_work_finish() {
    let fx = Fixture::new();
    let a = fx.source("a.txt", "a");
    let b = fx.source("b.txt", "b");
    let mut g = Graph::new();
    let bad = g.add(Fail::new("compile", vec![Input::File(a)])).unwrap();
    let good = g.add(Cases::new("b", Input::File(b))).unwrap();
    let after_bad = g.add(Concat::new("x", vec![out(bad, 0)])).unwrap();
    let mixed = g
        .add(Concat::new("y", vec![out(good, 0), out(after_bad, 0)]))
        .unwrap();
    let after_good = g.add(Concat::new("z", vec![out(good, 1)])).unwrap();

    let events = Events::default();
    let sources = fx.sources();
    let report = build(
        &g,
        &fx.store,
        &sources,
        &BuildOptions::default(),
        &events.sink(),
    );
    assert!(!report.is_ok());
    assert_eq!(report.built(), 2, "the independent branch finished");
    assert_eq!(report.get(good).unwrap().status, Status::Built);
    assert_eq!(report.get(after_good).unwrap().status, Status::Built);

    let failed = report.failed();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, bad);
    assert_eq!(failed[0].label, "fail compile");
    let Status::Failed(error) = &failed[0].status else {
        unreachable!()
    };
    assert_eq!(error.message, "compile went wrong");
    assert_eq!(error.output, "compiling the thing\nerror: line 3\n");
    assert!(failed[0].key.is_some());

    for id in [after_bad, mixed] {
        assert_eq!(
            report.get(id).unwrap().status,
            Status::Skipped { because: bad }
        );
    }
    assert_eq!(report.skipped(), 2);

    let events = events.take();
    let skipped: Vec<ActionId> = events
        .iter()
        .filter_map(|e| match e {
            Event::Skipped { id, because, .. } if *because == bad => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Failed { id, error, .. } if *id == bad && error.message == "compile went wrong"
    )));

    let json = report.to_json();
    assert_eq!(json["actions"][0]["error"]["message"], "compile went wrong");
    assert_eq!(json["actions"][2]["because"], 0);

    // Failures are not cached: the next build tries again.
    let again = fx.build(&g, &sources);
    assert_eq!(again.failed().len(), 1);
    assert_eq!(again.cached(), 2);
}

#[test]
fn every_failure_is_reported() {
    let fx = Fixture::new();
    let mut g = Graph::new();
    let one = g.add(Fail::new("one", vec![])).unwrap();
    let two = g.add(Fail::new("two", vec![])).unwrap();
    g.add(Concat::new("both", vec![out(one, 0), out(two, 0)]))
        .unwrap();
    let report = fx.build(&g, &fx.sources());
    let failed: Vec<&str> = report.failed().iter().map(|a| a.label.as_str()).collect();
    assert_eq!(failed, ["fail one", "fail two"]);
    assert_eq!(report.skipped(), 1);
}

#[test]
fn missing_output_is_an_error() {
    let fx = Fixture::new();
    let mut g = Graph::new();
    let id = g
        .add(Box::new(Forgetful {
            outputs: 3,
            writes: 1,
        }))
        .unwrap();
    let dependent = g.add(Concat::new("after", vec![out(id, 0)])).unwrap();
    let report = fx.build(&g, &fx.sources());
    let Status::Failed(error) = &report.get(id).unwrap().status else {
        panic!("expected a failure: {report:#?}");
    };
    assert_eq!(error.message, "did not produce output 1");
    assert_eq!(
        report.get(dependent).unwrap().status,
        Status::Skipped { because: id }
    );
    assert_store_consistent(&fx.store);
}

#[test]
fn panicking_action_is_a_failure() {
    let fx = Fixture::new();
    let mut g = Graph::new();
    let mut fail = Fail::new("hard", vec![]);
    fail.panic = true;
    let id = g.add(fail).unwrap();
    let report = fx.build(&g, &fx.sources());
    let Status::Failed(error) = &report.get(id).unwrap().status else {
        panic!("expected a failure");
    };
    assert_eq!(error.message, "panicked: boom in hard");
    assert_eq!(error.output, "compiling the thing\n");
}

#[test]
fn missing_source_file_fails_its_action() {
    let fx = Fixture::new();
    let mut g = Graph::new();
    let missing = fx.dir.path().join("src").join("nope.txt");
    let id = g.add(Cases::new("nope", Input::File(missing))).unwrap();
    let report = fx.build(&g, &fx.sources());
    let Status::Failed(error) = &report.get(id).unwrap().status else {
        panic!("expected a failure");
    };
    assert!(
        error.message.starts_with("cannot read source file"),
        "{error}"
    );
    assert!(error.message.contains("nope.txt"));
    assert!(report.get(id).unwrap().key.is_none());
}
