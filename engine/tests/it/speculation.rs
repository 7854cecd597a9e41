//! Runs started before their key is known: in a cold store, an action that digests its
//! source files as it reads them ([`Action::digests_while_reading`]) runs first and takes its
//! key from what it read, so each file is read once. Its key must be the one the usual way
//! computes, and a run that did not read every file to its end as one version must never be
//! stored under a key. Its output, written through the engine
//! ([`RunContext::create_output`]), is stored under the digest of its bytes.

use std::fs;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::common::{Fixture, assert_store_consistent, write_dated};
use flavor_engine::{Action, ActionError, Graph, Input, RunContext, SourceDigests, Store};

/// Concatenates its source files, read through `open_input`; counts its runs.
struct Cat {
    inputs: Vec<PathBuf>,
    runs: Arc<AtomicUsize>,
    /// Once: after reading its first input, appends this to it (an editor saving the file).
    edit_after_reading: Option<(&'static str, AtomicBool)>,
    /// Reads only the first byte of its last input (a bug the engine must survive).
    leaves_last_unread: bool,
    /// Appends to its output after finishing it (another bug the engine must survive).
    appends_after_finishing: bool,
}

impl Cat {
    fn new(inputs: Vec<PathBuf>) -> Cat {
        Cat {
            inputs,
            runs: Arc::default(),
            edit_after_reading: None,
            leaves_last_unread: false,
            appends_after_finishing: false,
        }
    }
}

impl Action for Cat {
    fn kind(&self) -> &'static str {
        "cat"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        "cat".into()
    }
    fn params(&self) -> Vec<u8> {
        Vec::new()
    }
    fn inputs(&self) -> Vec<Input> {
        self.inputs.iter().cloned().map(Input::File).collect()
    }
    fn output_count(&self) -> usize {
        1
    }
    fn digests_while_reading(&self) -> bool {
        true
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let mut all = Vec::new();
        for i in 0..self.inputs.len() {
            let mut file = ctx.open_input(i)?;
            if self.leaves_last_unread && i + 1 == self.inputs.len() {
                let mut first = [0u8; 1];
                file.read_exact(&mut first)?;
                all.extend_from_slice(&first);
                continue;
            }
            file.read_to_end(&mut all)?;
            if i == 0
                && let Some((text, pending)) = &self.edit_after_reading
                && pending.swap(false, Ordering::SeqCst)
            {
                let mut edited = fs::read(&self.inputs[0])?;
                edited.extend_from_slice(text.as_bytes());
                write_dated(&self.inputs[0], &edited);
            }
        }
        let mut output = ctx.create_output(0)?;
        output.write_all(&all)?;
        output.finish()?;
        if self.appends_after_finishing {
            fs::OpenOptions::new()
                .append(true)
                .open(ctx.output(0))?
                .write_all(b"!")?;
        }
        Ok(())
    }
}

/// Three sources, one larger than a read buffer.
fn sources(fx: &Fixture) -> Vec<PathBuf> {
    let big: String = (0..40_000).map(|i| format!("{i:07}\n")).collect();
    vec![
        fx.source("a.txt", "alpha\n"),
        fx.source("big.txt", &big),
        fx.source("c.txt", "gamma\n"),
    ]
}

fn expected(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| fs::read_to_string(f).unwrap())
        .collect()
}

#[test]
fn a_cold_build_reads_each_file_once_and_keys_it_as_the_usual_way() {
    let fx = Fixture::new();
    let files = sources(&fx);
    let cat = Cat::new(files.clone());
    let runs = Arc::clone(&cat.runs);
    let mut g = Graph::new();
    let id = g.add(Box::new(cat)).unwrap();

    let digests = fx.sources();
    let report = fx.build(&g, &digests);
    assert!(report.is_ok(), "{:?}", report.failed());
    assert_eq!((report.built(), runs.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(fx.read_output(&report, id, 0), expected(&files));
    assert_eq!(
        digests.files_hashed(),
        3,
        "each file digested once, as it was read"
    );
    for file in &files {
        let digest = digests.digest(file).unwrap();
        assert_eq!(digest, flavor_engine::Digest::of_file(file).unwrap());
    }
    assert_eq!(
        digests.files_hashed(),
        3,
        "the digests taken while reading are kept"
    );
    assert_store_consistent(&fx.store);

    // A fresh clone with this store (no source digests): the store is not empty, so the
    // files are digested first, and the key the usual way computes is the one stored.
    let fresh = SourceDigests::load(&fx.dir.path().join("other-sources.json"));
    let again = fx.build(&g, &fresh);
    assert_eq!((again.cached(), runs.load(Ordering::SeqCst)), (1, 1));
    assert_eq!(again.output(id, 0), report.output(id, 0));
    assert_eq!(fresh.files_hashed(), 3);
}

#[test]
fn a_file_edited_after_it_was_read_is_digested_again_and_run_again() {
    let fx = Fixture::new();
    let files = sources(&fx);
    let mut cat = Cat::new(files.clone());
    cat.edit_after_reading = Some(("edited\n", AtomicBool::new(true)));
    let runs = Arc::clone(&cat.runs);
    let mut g = Graph::new();
    let id = g.add(Box::new(cat)).unwrap();

    let digests = fx.sources();
    let report = fx.build(&g, &digests);
    assert!(report.is_ok(), "{:?}", report.failed());
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the first run's outputs were dropped"
    );
    assert_eq!(fs::read_to_string(&files[0]).unwrap(), "alpha\nedited\n");
    assert_eq!(fx.read_output(&report, id, 0), expected(&files));
    assert_store_consistent(&fx.store);

    // Stored under the edited contents' key: found again from fresh digests.
    let fresh = SourceDigests::load(&fx.dir.path().join("other-sources.json"));
    let again = fx.build(&g, &fresh);
    assert_eq!((again.cached(), runs.load(Ordering::SeqCst)), (1, 2));
}

#[test]
fn a_file_left_unread_sends_the_action_the_usual_way() {
    let fx = Fixture::new();
    let files = sources(&fx);
    let mut cat = Cat::new(files.clone());
    cat.leaves_last_unread = true;
    let runs = Arc::clone(&cat.runs);
    let mut g = Graph::new();
    let id = g.add(Box::new(cat)).unwrap();

    let report = fx.build(&g, &fx.sources());
    assert!(report.is_ok(), "{:?}", report.failed());
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "run again after its key was known"
    );
    let mut want = expected(&files[..2]);
    want.push('g');
    assert_eq!(fx.read_output(&report, id, 0), want);

    let fresh = SourceDigests::load(&fx.dir.path().join("other-sources.json"));
    let again = fx.build(&g, &fresh);
    assert_eq!((again.cached(), runs.load(Ordering::SeqCst)), (1, 2));
    assert_store_consistent(&fx.store);
}

#[test]
fn an_output_changed_after_it_was_finished_is_stored_under_its_own_digest() {
    let fx = Fixture::new();
    let files = sources(&fx);
    let mut cat = Cat::new(files.clone());
    cat.appends_after_finishing = true;
    let mut g = Graph::new();
    let id = g.add(Box::new(cat)).unwrap();

    let report = fx.build(&g, &fx.sources());
    assert!(report.is_ok(), "{:?}", report.failed());
    let digest = report.output(id, 0).unwrap();
    let stored = fs::read(fx.store.blob_path(&digest).unwrap()).unwrap();
    assert_eq!(stored, format!("{}!", expected(&files)).into_bytes());
    assert_eq!(digest, flavor_engine::Digest::of_bytes(&stored));
    assert_store_consistent(&fx.store);
}
