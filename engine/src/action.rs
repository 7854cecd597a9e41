//! What an action is: the [`Action`] trait, its [`Input`]s, the [`RunContext`] it runs in,
//! the [`ActionError`] it fails with, and its cache key ([`action_key`]).
//!
//! An action is a pure function from input bytes and parameters to output files: same kind,
//! version, parameters and input digests ⇒ same outputs. The engine relies on that to skip
//! actions whose key it has already built.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::reading::{InputFile, ReadLog};
use crate::writing::{OutputFile, WriteLog};
use crate::{Digest, Event, RemoteCommand, ResolvedTree};

/// Identifies an action within one [`Graph`](crate::Graph): the order it was added in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ActionId(pub usize);

impl fmt::Display for ActionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where an input's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A source file (an absolute path), identified by its content digest.
    File(PathBuf),
    /// Output number `index` of another action of the same graph.
    Output {
        /// The producing action; it must be added to the graph first.
        action: ActionId,
        /// Which of its outputs.
        index: usize,
    },
}

/// One unit of cacheable work. Implemented outside the engine (in `rules/`).
pub trait Action: Send + Sync {
    /// The kind of action (`"archive"`, `"compress"`, …); part of the key.
    fn kind(&self) -> &'static str;

    /// Format version of this kind's outputs; bump it when they change, so cached results of
    /// the old format are not reused. Part of the key.
    fn version(&self) -> u32;

    /// A human name for progress and errors, e.g. `compress slot app (tar.zst)`.
    fn label(&self) -> String;

    /// Canonical bytes of the action's settings: equal settings must give equal bytes. Part
    /// of the key.
    fn params(&self) -> Vec<u8>;

    /// The inputs, in the order [`RunContext::input`] numbers them.
    fn inputs(&self) -> Vec<Input>;

    /// How many outputs [`run`](Action::run) produces.
    fn output_count(&self) -> usize;

    /// How output `i` is called in messages (e.g. a step's declared output path).
    fn describe_output(&self, i: usize) -> String {
        format!("output {i}")
    }

    /// True if input `i` may be a directory tree (the output of an action that produced a
    /// directory); the action then reads it through [`RunContext::input_tree`]. An action
    /// that is handed a tree where it expects a file fails with a clear message instead of
    /// reading the tree's directory blob as if it were the file.
    fn accepts_tree(&self, i: usize) -> bool {
        let _ = i;
        false
    }

    /// True if this action's results may be shared with other machines through a remote
    /// cache. An action whose outputs may depend on more than its inputs (a build step that
    /// runs outside its sandbox) returns false: it is cached locally only.
    fn shareable(&self) -> bool {
        true
    }

    /// How many threads `run` keeps busy; the scheduler reserves that many (at most its
    /// `jobs`) before starting it, so the machine is never oversubscribed. An action that
    /// runs threads of its own should size them by [`RunContext::threads`].
    fn threads(&self) -> usize {
        1
    }

    /// True if [`run`](Action::run) reads every source-file input ([`Input::File`]) to its
    /// end through [`RunContext::open_input`], and reads source files in no other way. The
    /// engine may then run the action before digesting its source files, when a cache hit
    /// is unlikely (an empty store, `--force`), and take its key from the digests of the
    /// bytes the run read: each file is read once instead of twice. If any file was not
    /// read to its end as one version, the outputs are dropped and the action goes the usual
    /// way (digest, look up, run).
    fn digests_while_reading(&self) -> bool {
        false
    }

    /// Does the work: reads [`RunContext::input`]s, writes every [`RunContext::output`].
    fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError>;

    /// The command to run on a remote execution cluster instead of [`run`](Action::run),
    /// given the files holding its inputs (in input order); `None` (the default) keeps the
    /// action local. Its outputs must be exactly what `run` would write.
    fn remote_command(&self, inputs: &[PathBuf]) -> Option<RemoteCommand> {
        let _ = inputs;
        None
    }

    /// Vets outputs that came from a shared (untrusted) remote cache before they are used:
    /// `inputs` are this action's input files, `outputs` the fetched output files, whose
    /// digests already match what the remote entry claims. `Err` says why they are refused;
    /// the action then runs locally. The default accepts them (the digests were checked);
    /// actions whose outputs must be provably their own — a signed package — override it.
    fn vet_remote_outputs(&self, inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<(), String> {
        let _ = (inputs, outputs);
        Ok(())
    }
}

/// Why an action failed, and what it printed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// One line saying what went wrong.
    pub message: String,
    /// Captured output (the action's [`RunContext::log`], a command's stderr, …).
    pub output: String,
}

impl ActionError {
    /// An error with a message and no captured output.
    pub fn new(message: impl Into<String>) -> ActionError {
        ActionError {
            message: message.into(),
            output: String::new(),
        }
    }

    /// The same error with `output` as its captured output.
    pub fn with_output(mut self, output: impl Into<String>) -> ActionError {
        self.output = output.into();
        self
    }
}

impl From<io::Error> for ActionError {
    fn from(e: io::Error) -> ActionError {
        ActionError::new(e.to_string())
    }
}

/// What an action sees while it runs: where its inputs are, where to write its outputs, and
/// how to report what it is doing.
pub struct RunContext<'a> {
    inputs: Vec<PathBuf>,
    trees: Vec<Option<ResolvedTree>>,
    outputs: Vec<PathBuf>,
    scratch: PathBuf,
    threads: usize,
    log: String,
    reporter: Option<Reporter<'a>>,
    /// Where inputs opened with [`open_input`](Self::open_input) are digested, in a run
    /// started before its key was known.
    read_log: Option<Arc<ReadLog>>,
    /// The digests of outputs created with [`create_output`](Self::create_output).
    write_log: Arc<WriteLog>,
}

impl fmt::Debug for RunContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunContext")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("scratch", &self.scratch)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// Where a running action's live reports go.
pub(crate) struct Reporter<'a> {
    pub(crate) id: ActionId,
    pub(crate) label: String,
    pub(crate) events: &'a (dyn Fn(Event) + Sync),
    last_progress: Option<Instant>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(id: ActionId, label: String, events: &'a (dyn Fn(Event) + Sync)) -> Self {
        Reporter {
            id,
            label,
            events,
            last_progress: None,
        }
    }
}

/// Progress reports of one action come at most this often.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

impl<'a> RunContext<'a> {
    pub(crate) fn new(
        inputs: Vec<PathBuf>,
        outputs: Vec<PathBuf>,
        scratch: PathBuf,
        threads: usize,
    ) -> RunContext<'a> {
        let write_log = Arc::new(WriteLog::new(outputs.len()));
        RunContext {
            trees: vec![None; inputs.len()],
            inputs,
            outputs,
            scratch,
            threads,
            log: String::new(),
            reporter: None,
            read_log: None,
            write_log,
        }
    }

    pub(crate) fn with_read_log(mut self, log: Arc<ReadLog>) -> Self {
        self.read_log = Some(log);
        self
    }

    pub(crate) fn with_trees(mut self, trees: Vec<Option<ResolvedTree>>) -> Self {
        self.trees = trees;
        self
    }

    pub(crate) fn with_reporter(mut self, reporter: Reporter<'a>) -> Self {
        self.reporter = Some(reporter);
        self
    }

    /// The file holding input `i`'s bytes: a source file or a blob in the CAS. Read-only:
    /// never write to it. For a tree input (see [`input_tree`](Self::input_tree)), the
    /// tree's root directory blob.
    ///
    /// # Panics
    /// If `i` is not less than the number of [`Action::inputs`] (a bug in the action).
    pub fn input(&self, i: usize) -> &Path {
        &self.inputs[i]
    }

    /// Opens input `i` (a source file or a blob) for reading. An action that
    /// [digests while reading](Action::digests_while_reading) reads its source files only
    /// through this, each to its end.
    ///
    /// # Errors
    /// If the file cannot be opened.
    ///
    /// # Panics
    /// If `i` is not less than the number of [`Action::inputs`] (a bug in the action).
    pub fn open_input(&self, i: usize) -> io::Result<InputFile> {
        let file = std::fs::File::open(&self.inputs[i])?;
        InputFile::new(file, self.read_log.clone().map(|log| (log, i)))
    }

    /// All input paths, in order.
    pub fn inputs(&self) -> &[PathBuf] {
        &self.inputs
    }

    /// Input `i` as a tree, if it is the output of an action that produced a directory
    /// (only for inputs the action [accepts as trees](Action::accepts_tree)).
    pub fn input_tree(&self, i: usize) -> Option<&ResolvedTree> {
        self.trees.get(i)?.as_ref()
    }

    /// Where to write output `i`: a fresh path in the store's temporary directory where the
    /// action creates either a regular file or a directory (which is stored as a tree:
    /// files, directories and symbolic links that stay inside it). The engine moves it into
    /// the CAS afterwards.
    ///
    /// # Panics
    /// If `i` is not less than [`Action::output_count`] (a bug in the action).
    pub fn output(&self, i: usize) -> &Path {
        &self.outputs[i]
    }

    /// Creates output `i` as a regular file to write through the engine, which digests the
    /// bytes as they go by: a large output is then stored without being read again. Every
    /// byte must be written through it, and [`OutputFile::finish`] called at the end.
    ///
    /// # Errors
    /// If the file cannot be created.
    ///
    /// # Panics
    /// If `i` is not less than [`Action::output_count`] (a bug in the action).
    pub fn create_output(&self, i: usize) -> io::Result<OutputFile> {
        OutputFile::create(&self.outputs[i], Arc::clone(&self.write_log), i)
    }

    /// What was written through [`create_output`](Self::create_output).
    pub(crate) fn write_log(&self) -> Arc<WriteLog> {
        Arc::clone(&self.write_log)
    }

    /// An empty private directory for intermediate files, deleted after the run.
    pub fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    /// How many threads the scheduler reserved for this run (`threads()` capped at `jobs`).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Appends captured output; it is shown (in [`ActionError::output`]) if the action fails.
    pub fn log(&mut self, text: &str) {
        self.log.push_str(text);
        if !text.ends_with('\n') {
            self.log.push('\n');
        }
    }

    /// A line the action's work printed, as it happens: appended to the log and reported
    /// live ([`Event::Output`]).
    pub fn output_line(&mut self, line: &str) {
        self.log(line);
        if let Some(r) = &self.reporter {
            (r.events)(Event::Output {
                id: r.id,
                label: r.label.clone(),
                line: line.trim_end_matches(['\n', '\r']).to_string(),
            });
        }
    }

    /// Reports how far the work is: `done` of `total` bytes ([`Event::Progress`], at most a
    /// few times a second; call it as often as convenient).
    pub fn progress(&mut self, done: u64, total: u64) {
        let Some(r) = &mut self.reporter else {
            return;
        };
        let now = Instant::now();
        if r.last_progress
            .is_some_and(|last| now.duration_since(last) < PROGRESS_INTERVAL)
            && done < total
        {
            return;
        }
        r.last_progress = Some(now);
        (r.events)(Event::Progress {
            id: r.id,
            label: r.label.clone(),
            done,
            total,
        });
    }

    /// Everything logged so far.
    pub fn logged(&self) -> &str {
        &self.log
    }

    pub(crate) fn take_log(&mut self) -> String {
        std::mem::take(&mut self.log)
    }
}

/// Domain separation, so an action key is never equal to the digest of some file.
const KEY_DOMAIN: &[u8] = b"flavor-engine action key v1";

/// The cache key of `action` given the digests of its inputs (in input order): blake3 over
/// kind, version, parameters and input digests, each field length-prefixed so that different
/// field splits of the same bytes give different keys.
pub fn action_key(action: &dyn Action, input_digests: &[Digest]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(KEY_DOMAIN);
    field(action.kind().as_bytes());
    field(&action.version().to_le_bytes());
    field(&action.params());
    field(&(input_digests.len() as u64).to_le_bytes());
    for digest in input_digests {
        field(digest.as_bytes());
    }
    Digest(*hasher.finalize().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Toy {
        kind: &'static str,
        version: u32,
        params: Vec<u8>,
    }

    impl Action for Toy {
        fn kind(&self) -> &'static str {
            self.kind
        }
        fn version(&self) -> u32 {
            self.version
        }
        fn label(&self) -> String {
            "toy".into()
        }
        fn params(&self) -> Vec<u8> {
            self.params.clone()
        }
        fn inputs(&self) -> Vec<Input> {
            Vec::new()
        }
        fn output_count(&self) -> usize {
            0
        }
        fn run(&self, _: &mut RunContext<'_>) -> Result<(), ActionError> {
            Ok(())
        }
    }

    fn toy(kind: &'static str, version: u32, params: &[u8]) -> Toy {
        Toy {
            kind,
            version,
            params: params.to_vec(),
        }
    }

    #[test]
    fn key_is_deterministic() {
        let a = [Digest::of_bytes(b"a")];
        assert_eq!(
            action_key(&toy("k", 1, b"p"), &a),
            action_key(&toy("k", 1, b"p"), &a)
        );
    }

    #[test]
    fn key_changes_with_each_field() {
        let a = Digest::of_bytes(b"a");
        let b = Digest::of_bytes(b"b");
        let base = action_key(&toy("k", 1, b"p"), &[a, b]);
        assert_ne!(base, action_key(&toy("j", 1, b"p"), &[a, b]), "kind");
        assert_ne!(base, action_key(&toy("k", 2, b"p"), &[a, b]), "version");
        assert_ne!(base, action_key(&toy("k", 1, b"q"), &[a, b]), "params");
        assert_ne!(base, action_key(&toy("k", 1, b"p"), &[b, a]), "input order");
        assert_ne!(base, action_key(&toy("k", 1, b"p"), &[a]), "input count");
        assert_ne!(
            base,
            action_key(&toy("k", 1, b"p"), &[a, a]),
            "input digest"
        );
    }

    #[test]
    fn fields_are_length_prefixed() {
        // "ab" + "" and "a" + "b" would collide if kind and params were simply concatenated.
        assert_ne!(
            action_key(&toy("ab", 1, b""), &[]),
            action_key(&toy("a", 1, b"b"), &[])
        );
        // Params bytes that look like a digest do not collide with an input digest.
        let d = Digest::of_bytes(b"x");
        assert_ne!(
            action_key(&toy("k", 1, d.as_bytes()), &[]),
            action_key(&toy("k", 1, b""), &[d])
        );
    }

    #[test]
    fn log_keeps_lines() {
        let mut ctx = RunContext::new(vec![], vec![], PathBuf::new(), 1);
        ctx.log("one");
        ctx.log("two\n");
        assert_eq!(ctx.logged(), "one\ntwo\n");
        assert_eq!(ctx.take_log(), "one\ntwo\n");
        assert_eq!(ctx.logged(), "");
    }

    #[test]
    fn action_error_from_io_and_display() {
        let e = ActionError::from(io::Error::other("disk on fire")).with_output("smoke");
        assert_eq!(e.to_string(), "disk on fire");
        assert_eq!(e.output, "smoke");
    }
}
