//! # flavor-engine — a generic, cached, parallel build engine
//!
//! Knows nothing about packages: it runs a DAG of [`Action`]s, each a pure function from
//! input files and parameters to output files, and skips any action whose result it already
//! has.
//!
//! - [`Graph`] holds the actions; an action reads source files ([`Input::File`]) and outputs
//!   of actions added before it ([`Input::Output`]);
//! - an action's key ([`action_key`]) is blake3 over its kind, version, parameters and input
//!   digests; the [`Store`] maps keys to output digests (action cache) and digests to bytes
//!   (CAS). [`LocalStore`] keeps both in a directory that several processes may share;
//! - [`SourceDigests`] remembers source digests by (size, mtime, ctime, inode), so a no-op
//!   build reads no file contents; after an action ran, the source files it read are checked
//!   to be the versions its key was computed from, so a file edited during a build never
//!   poisons the cache;
//! - in a cold store (or with `--force`), an action that [digests while
//!   reading](Action::digests_while_reading) runs before its key is known and takes the key
//!   from the bytes it read ([`InputFile`]), so each source file is read once; an output
//!   written through [`RunContext::create_output`] ([`OutputFile`]) is digested as it is
//!   written, not read again to be stored;
//! - a [`RemoteCache`] (a trait; optional, [`BuildOptions::remote`]) sits behind the local
//!   store: a local miss is looked up there, and what is built locally is offered for
//!   upload. The implementation (the `flavor-remote` crate) lives outside the engine, which
//!   needs no network stack;
//! - an output is a file or a directory: a directory is stored as a [`Tree`] (a Merkle tree of
//!   directory blobs and file blobs, see [`tree`]) and read by the actions that consume it
//!   through [`RunContext::input_tree`];
//! - a [`RemoteExecutor`] (optional, [`BuildOptions::executor`]) runs actions that can
//!   describe themselves as a [`RemoteCommand`] on a remote execution cluster instead of
//!   here, with its own in-flight limit; anything wrong with the cluster runs the action
//!   locally;
//! - [`build`] runs what is needed on a pool of `jobs` threads, never reserving more than
//!   that (an action declares how many threads it keeps busy), emits [`Event`]s, and returns
//!   a [`Report`]. A failure skips its dependents and lets independent actions finish;
//! - a [`LiveSet`] is what a build of some targets would reuse, computed with the key
//!   function the build uses; a [`Collector`] marks live sets and sweeps the rest of a
//!   [`LocalStore`] (garbage collection).
//!
//! ```
//! use flavor_engine::*;
//!
//! /// Writes its input, uppercased.
//! struct Upper(Input);
//!
//! impl Action for Upper {
//!     fn kind(&self) -> &'static str { "upper" }
//!     fn version(&self) -> u32 { 1 }
//!     fn label(&self) -> String { "uppercase".into() }
//!     fn params(&self) -> Vec<u8> { Vec::new() }
//!     fn inputs(&self) -> Vec<Input> { vec![self.0.clone()] }
//!     fn output_count(&self) -> usize { 1 }
//!     fn run(&self, ctx: &mut RunContext<'_>) -> Result<(), ActionError> {
//!         let text = std::fs::read_to_string(ctx.input(0))?;
//!         std::fs::write(ctx.output(0), text.to_uppercase())?;
//!         Ok(())
//!     }
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let source = dir.path().join("hello.txt");
//! std::fs::write(&source, "hello")?;
//!
//! let mut graph = Graph::new();
//! let first = graph.add(Box::new(Upper(Input::File(source))))?;
//! let second = graph.add(Box::new(Upper(Input::Output { action: first, index: 0 })))?;
//!
//! let store = LocalStore::open(&dir.path().join("cache"))?;
//! let sources = SourceDigests::load(&dir.path().join("sources.json"));
//! let options = BuildOptions::default();
//!
//! let report = build(&graph, &store, &sources, &options, &|event| eprintln!("{event:?}"));
//! assert!(report.is_ok());
//! assert_eq!(report.built(), 2);
//! let digest = report.output(second, 0).unwrap();
//! assert_eq!(std::fs::read(store.blob_path(&digest).unwrap())?, b"HELLO");
//!
//! // Nothing changed: both results come from the cache.
//! let again = build(&graph, &store, &sources, &options, &|_| {});
//! assert_eq!(again.cached(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod action;
mod digest;
mod error;
mod event;
mod exec;
mod gc;
mod graph;
mod inputs;
mod live;
mod reading;
mod remote;
mod report;
mod schedule;
mod sources;
mod store;
pub mod tree;
mod worker;
mod writing;

pub use action::{Action, ActionError, ActionId, Input, RunContext, action_key};
pub use digest::Digest;
pub use error::EngineError;
pub use event::Event;
pub use exec::{RemoteCommand, RemoteExecutor, RemoteFacts, RemoteInput, RemoteRun};
pub use gc::{Collector, GcOptions, GcReport};
pub use graph::Graph;
pub use live::LiveSet;
pub use reading::InputFile;
pub use remote::RemoteCache;
pub use report::{ActionReport, Report, Status};
pub use schedule::{BuildOptions, build};
pub use sources::{SourceDigests, SourceVersion};
pub use store::{ActionResult, LocalStore, Output, OutputKind, Store, StoreStats};
pub use tree::{ResolvedEntry, ResolvedTree, Tree, TreeEntry, TreeError, TreeFile, store_tree};
pub use writing::OutputFile;
