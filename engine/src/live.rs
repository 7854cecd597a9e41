//! [`LiveSet`]: what building some targets of a graph would reuse from a store — the action
//! keys, output blobs and source files a build of them would read right now.
//!
//! Keys are computed by the same function the build's workers use, so garbage collection
//! ([`Collector`](crate::Collector)) keeps exactly what the next build looks up, whatever the
//! key's definition.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::inputs::{Keyed, key_of, sources_of};
use crate::{ActionId, Digest, Graph, Input, Output, SourceDigests, Store};

/// Action keys, blobs and source files in use.
#[derive(Clone, Debug, Default)]
pub struct LiveSet {
    keys: HashSet<Digest>,
    blobs: HashSet<Digest>,
    files: BTreeSet<PathBuf>,
}

impl LiveSet {
    /// An empty set.
    pub fn new() -> LiveSet {
        LiveSet::default()
    }

    /// Adds what a build of `targets` (and their dependencies) in `graph` would reuse from
    /// `store`: walks the actions in dependency order, computes each key from the current
    /// source files (through `sources`) and the outputs the store holds for its
    /// dependencies, and records every result found. An action whose key cannot be computed
    /// (an unreadable source, a dependency without a cached result) is not in the set, nor
    /// is anything depending on it. Every source file the actions read is recorded, found or
    /// not.
    pub fn mark(
        &mut self,
        graph: &Graph,
        targets: &[ActionId],
        store: &dyn Store,
        sources: &SourceDigests,
    ) {
        let mut resolved: HashMap<ActionId, Vec<Output>> = HashMap::new();
        // `closure` is in ascending id order, a topological order of the graph.
        for id in graph.closure(targets) {
            let action = graph.action(id);
            self.files
                .extend(action.inputs().into_iter().filter_map(|input| match input {
                    Input::File(path) => Some(path),
                    Input::Output { .. } => None,
                }));
            let output = |a: ActionId, i: usize| resolved.get(&a)?.get(i).copied();
            let Some(inputs) = sources_of(action, output) else {
                continue;
            };
            let Ok(Keyed { key, .. }) = key_of(action, &inputs, sources) else {
                continue;
            };
            let Some(result) = store.get_action(&key) else {
                continue;
            };
            if result.outputs.len() != action.output_count() {
                continue;
            }
            let Some(blobs) = (result.outputs.iter())
                .map(|o| o.blobs(store))
                .collect::<Option<Vec<Vec<Digest>>>>()
            else {
                continue;
            };
            self.keys.insert(key);
            self.blobs.extend(blobs.into_iter().flatten());
            resolved.insert(id, result.outputs);
        }
    }

    /// The action keys in use.
    pub fn keys(&self) -> &HashSet<Digest> {
        &self.keys
    }

    /// The blobs the results in use consist of (a tree's directory blobs and files too).
    pub fn blobs(&self) -> &HashSet<Digest> {
        &self.blobs
    }

    /// Every source file the marked actions read.
    pub fn files(&self) -> &BTreeSet<PathBuf> {
        &self.files
    }

    /// True if the marked actions read `path`.
    pub fn reads(&self, path: &Path) -> bool {
        self.files.contains(path)
    }
}
