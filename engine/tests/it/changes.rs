//! A source file edited while the build uses it: the action key was computed from one
//! version, the action read another. Its result must not be stored (it would be found again
//! under the old version's key), and a later build of the old contents must get their own
//! outputs.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::{Concat, Events, Fixture, assert_store_consistent, write_dated};
use flavor_engine::{
    Action, ActionError, BuildOptions, Event, Graph, Input, RunContext, Status, build,
};

/// Copies its input, but first (while `edit` is set) overwrites it with `then`, as an editor
/// saving the file in the middle of the build would.
struct EditsItsInput {
    input: PathBuf,
    then: &'static str,
    edit: Arc<AtomicBool>,
}

impl Action for EditsItsInput {
    fn kind(&self) -> &'static str {
        "copy"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        "copy msg".into()
    }
    fn params(&self) -> Vec<u8> {
        Vec::new()
    }
    fn inputs(&self) -> Vec<Input> {
        vec![Input::File(self.input.clone())]
    }
    fn output_count(&self) -> usize {
        1
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        if self.edit.load(Ordering::SeqCst) {
            fs::write(&self.input, self.then)?;
        }
        fs::copy(ctx.input(0), ctx.output(0))?;
        Ok(())
    }
}

#[test]
fn a_source_edited_during_its_action_fails_it_and_stores_nothing() {
    let fx = Fixture::new();
    let msg = fx.source("msg.txt", "version 1");
    let edit = Arc::new(AtomicBool::new(true));
    let mut g = Graph::new();
    let copy = g
        .add(Box::new(EditsItsInput {
            input: msg.clone(),
            then: "version 2",
            edit: Arc::clone(&edit),
        }))
        .unwrap();
    let all = g
        .add(Concat::new("all", vec![crate::common::out(copy, 0)]))
        .unwrap();
    let sources = fx.sources();
    let events = Events::default();
    let report = build(
        &g,
        &fx.store,
        &sources,
        &BuildOptions::default(),
        &events.sink(),
    );

    let Status::Failed(error) = &report.get(copy).unwrap().status else {
        panic!("the copy must fail: {:?}", report.get(copy));
    };
    assert!(
        error.message.contains(&msg.display().to_string())
            && error.message.contains("changed during the build"),
        "{}",
        error.message
    );
    assert!(matches!(
        report.get(all).unwrap().status,
        Status::Skipped { .. }
    ));
    assert!(
        events
            .take()
            .iter()
            .any(|e| matches!(e, Event::Failed { .. }))
    );
    assert_eq!(fs::read_dir(fx.store.root().join("ac")).unwrap().count(), 0);
    assert_store_consistent(&fx.store);

    // The file goes back to what the first key was computed from; nobody edits it now. The
    // build gets the outputs of exactly these contents, not the edited ones.
    write_dated(&msg, b"version 1");
    edit.store(false, Ordering::SeqCst);
    let again = build(&g, &fx.store, &sources, &BuildOptions::default(), &|_| {});
    assert!(again.is_ok(), "{:?}", again.failed());
    assert_eq!(again.built(), 2);
    assert_eq!(fx.read_output(&again, all, 0), "version 1");
}

#[test]
fn a_source_replaced_during_the_build_is_noticed_by_its_metadata() {
    // Same size, same modification time, new inode (an editor's write-and-rename): still a
    // change.
    let fx = Fixture::new();
    let msg = fx.source("msg.txt", "aaaa");
    let sources = fx.sources();
    let version = sources.version(&msg).unwrap();
    sources.check_unchanged(&version).unwrap();
    let mtime = fs::metadata(&msg).unwrap().modified().unwrap();
    let replacement = fx.dir.path().join("src/.msg.txt.swp");
    fs::write(&replacement, "bbbb").unwrap();
    fs::File::options()
        .write(true)
        .open(&replacement)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    fs::rename(&replacement, &msg).unwrap();
    let error = sources.check_unchanged(&version).unwrap_err();
    assert!(
        error.to_string().contains("changed during the build"),
        "{error}"
    );
    // Forgotten: the next digest reads the new contents.
    assert_eq!(
        sources.digest(&msg).unwrap(),
        flavor_engine::Digest::of_bytes(b"bbbb")
    );
    // A deleted file changed too.
    let version = sources.version(&msg).unwrap();
    fs::remove_file(&msg).unwrap();
    assert!(sources.check_unchanged(&version).is_err());
}
