//! Shared helpers for the engine's integration tests: toy actions that work on real files,
//! and a fixture with a temporary source tree, store and source-digest cache.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use flavor_engine::{
    Action, ActionError, ActionId, BuildOptions, Digest, Event, Graph, Input, LocalStore, Report,
    RunContext, SourceDigests, Store, build,
};

/// A temporary directory with `src/` (sources) and `cache/` (the store).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: LocalStore,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        let store = LocalStore::open(&dir.path().join("cache")).unwrap();
        Fixture { dir, store }
    }

    /// Writes a source file (dated in the past, so its cached digest is settled) and returns
    /// its absolute path.
    pub fn source(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join("src").join(name);
        write_dated(&path, text.as_bytes());
        path
    }

    pub fn sources_path(&self) -> PathBuf {
        self.dir.path().join("sources.json")
    }

    pub fn sources(&self) -> SourceDigests {
        SourceDigests::load(&self.sources_path())
    }

    pub fn build(&self, graph: &Graph, sources: &SourceDigests) -> Report {
        self.build_with(graph, sources, &BuildOptions::default())
    }

    pub fn build_with(
        &self,
        graph: &Graph,
        sources: &SourceDigests,
        options: &BuildOptions,
    ) -> Report {
        build(graph, &self.store, sources, options, &|_| {})
    }

    /// The bytes of output `i` of `id` in `report`.
    pub fn read_output(&self, report: &Report, id: ActionId, i: usize) -> String {
        let digest = report.output(id, i).expect("output in report");
        let path = self.store.blob_path(&digest).expect("blob in store");
        fs::read_to_string(path).unwrap()
    }
}

/// A distinct, past modification time for every write, so rewrites are always noticed
/// whatever the filesystem's timestamp granularity.
pub fn write_dated(path: &Path, bytes: &[u8]) {
    static TICK: AtomicUsize = AtomicUsize::new(0);
    let tick = TICK.fetch_add(1, Ordering::Relaxed) as u64;
    fs::write(path, bytes).unwrap();
    let when = SystemTime::now() - Duration::from_secs(100_000) + Duration::from_secs(tick);
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

pub fn out(action: ActionId, index: usize) -> Input {
    Input::Output { action, index }
}

/// Asserts every action-cache entry resolves and every blob's contents hash to its name.
pub fn assert_store_consistent(store: &LocalStore) {
    for entry in fs::read_dir(store.root().join("ac")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let key = Digest::from_hex(&name).unwrap();
        assert!(store.get_action(&key).is_some(), "entry {name} resolves");
    }
    for shard in fs::read_dir(store.root().join("cas")).unwrap() {
        for blob in fs::read_dir(shard.unwrap().path()).unwrap() {
            let blob = blob.unwrap();
            let name = blob.file_name().into_string().unwrap();
            assert_eq!(Digest::of_file(&blob.path()).unwrap().to_hex(), name);
        }
    }
    let leftovers = fs::read_dir(store.tmp_dir()).unwrap().count();
    assert_eq!(leftovers, 0, "temporary files are cleaned up");
}

/// Concatenates its inputs, with `separator` (its parameter) between them.
pub struct Concat {
    pub name: String,
    pub inputs: Vec<Input>,
    pub separator: String,
    pub version: u32,
}

impl Concat {
    pub fn new(name: &str, inputs: Vec<Input>) -> Box<Concat> {
        Box::new(Concat {
            name: name.into(),
            inputs,
            separator: String::new(),
            version: 1,
        })
    }
}

impl Action for Concat {
    fn kind(&self) -> &'static str {
        "concat"
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn label(&self) -> String {
        format!("concat {}", self.name)
    }
    fn params(&self) -> Vec<u8> {
        self.separator.as_bytes().to_vec()
    }
    fn inputs(&self) -> Vec<Input> {
        self.inputs.clone()
    }
    fn output_count(&self) -> usize {
        1
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let mut parts = Vec::new();
        for path in ctx.inputs() {
            parts.push(fs::read_to_string(path)?);
        }
        fs::write(ctx.output(0), parts.join(&self.separator))?;
        Ok(())
    }
}

/// Writes its input uppercased (output 0) and lowercased (output 1).
pub struct Cases {
    pub name: String,
    pub input: Input,
}

impl Cases {
    pub fn new(name: &str, input: Input) -> Box<Cases> {
        Box::new(Cases {
            name: name.into(),
            input,
        })
    }
}

impl Action for Cases {
    fn kind(&self) -> &'static str {
        "cases"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("cases {}", self.name)
    }
    fn params(&self) -> Vec<u8> {
        Vec::new()
    }
    fn inputs(&self) -> Vec<Input> {
        vec![self.input.clone()]
    }
    fn output_count(&self) -> usize {
        2
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let text = fs::read_to_string(ctx.input(0))?;
        ctx.log(&format!("read {} bytes", text.len()));
        fs::write(ctx.output(0), text.to_uppercase())?;
        fs::write(ctx.output(1), text.to_lowercase())?;
        Ok(())
    }
}

/// Logs a line, then fails (or panics).
pub struct Fail {
    pub name: String,
    pub inputs: Vec<Input>,
    pub panic: bool,
}

impl Fail {
    pub fn new(name: &str, inputs: Vec<Input>) -> Box<Fail> {
        Box::new(Fail {
            name: name.into(),
            inputs,
            panic: false,
        })
    }
}

impl Action for Fail {
    fn kind(&self) -> &'static str {
        "fail"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("fail {}", self.name)
    }
    fn params(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }
    fn inputs(&self) -> Vec<Input> {
        self.inputs.clone()
    }
    fn output_count(&self) -> usize {
        1
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        ctx.log("compiling the thing");
        if self.panic {
            panic!("boom in {}", self.name);
        }
        Err(ActionError::new(format!("{} went wrong", self.name)).with_output("error: line 3\n"))
    }
}

/// Declares `outputs` outputs but writes only the first `writes` of them.
pub struct Forgetful {
    pub outputs: usize,
    pub writes: usize,
}

impl Action for Forgetful {
    fn kind(&self) -> &'static str {
        "forgetful"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        "forgetful".into()
    }
    fn params(&self) -> Vec<u8> {
        vec![self.outputs as u8, self.writes as u8]
    }
    fn inputs(&self) -> Vec<Input> {
        Vec::new()
    }
    fn output_count(&self) -> usize {
        self.outputs
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        for i in 0..self.writes {
            fs::write(ctx.output(i), format!("output {i}"))?;
        }
        Ok(())
    }
}

/// A barrier with a timeout, so a scheduler that fails to overlap actions fails the test
/// instead of hanging it.
pub struct Rendezvous {
    arrived: Mutex<usize>,
    all_here: Condvar,
    parties: usize,
}

impl Rendezvous {
    pub fn new(parties: usize) -> Arc<Rendezvous> {
        Arc::new(Rendezvous {
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            parties,
        })
    }

    /// True once every party has arrived; false after a (generous) timeout.
    pub fn wait(&self) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let (arrived, timeout) = self
            .all_here
            .wait_timeout_while(arrived, Duration::from_secs(60), |n| *n < self.parties)
            .unwrap();
        !timeout.timed_out() || *arrived >= self.parties
    }
}

/// Waits at a rendezvous before writing its output: only succeeds if all parties run at once.
pub struct Meet {
    pub name: String,
    pub rendezvous: Arc<Rendezvous>,
}

impl Action for Meet {
    fn kind(&self) -> &'static str {
        "meet"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("meet {}", self.name)
    }
    fn params(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }
    fn inputs(&self) -> Vec<Input> {
        Vec::new()
    }
    fn output_count(&self) -> usize {
        1
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        if !self.rendezvous.wait() {
            return Err(ActionError::new("the other actions never ran alongside"));
        }
        fs::write(ctx.output(0), &self.name)?;
        Ok(())
    }
}

/// Claims `weight` threads; records how many claimed threads run at once.
pub struct Heavy {
    pub name: String,
    pub weight: usize,
    pub running: Arc<AtomicUsize>,
    pub max_running: Arc<AtomicUsize>,
    pub granted: Arc<Mutex<Vec<usize>>>,
}

impl Action for Heavy {
    fn kind(&self) -> &'static str {
        "heavy"
    }
    fn version(&self) -> u32 {
        1
    }
    fn label(&self) -> String {
        format!("heavy {} (×{})", self.name, self.weight)
    }
    fn params(&self) -> Vec<u8> {
        self.name.as_bytes().to_vec()
    }
    fn inputs(&self) -> Vec<Input> {
        Vec::new()
    }
    fn output_count(&self) -> usize {
        1
    }
    fn threads(&self) -> usize {
        self.weight
    }
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
        let granted = ctx.threads();
        self.granted.lock().unwrap().push(granted);
        let now = self.running.fetch_add(granted, Ordering::SeqCst) + granted;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        // Give the others a chance to start alongside (not asserted on).
        std::thread::sleep(Duration::from_millis(15));
        self.running.fetch_sub(granted, Ordering::SeqCst);
        fs::write(ctx.output(0), &self.name)?;
        Ok(())
    }
}

/// Records every event, for tests that look at them.
#[derive(Default)]
pub struct Events(pub Mutex<Vec<Event>>);

impl Events {
    pub fn sink(&self) -> impl Fn(Event) + Sync + '_ {
        |event| self.0.lock().unwrap().push(event)
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}
