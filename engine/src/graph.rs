//! The build graph: a DAG of [`Action`]s, edges carrying one action's outputs to another's
//! inputs.
//!
//! An action may only read outputs of actions added before it, so the graph is acyclic by
//! construction and the order of [`ActionId`]s is a topological order.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::json;

use crate::{Action, ActionId, EngineError, Input};

/// A DAG of actions. Node weights are the actions; an edge `a → b` with weight `i` means `b`
/// reads output `i` of `a`.
#[derive(Default)]
pub struct Graph {
    dag: DiGraph<Box<dyn Action>, usize>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Adds an action and an edge from the producer of every [`Input::Output`] it reads.
    ///
    /// Fails, leaving the graph unchanged, if an input names an action not yet added
    /// ([`EngineError::UnknownAction`]) or an output index its producer does not have
    /// ([`EngineError::UnknownOutput`]).
    pub fn add(&mut self, action: Box<dyn Action>) -> Result<ActionId, EngineError> {
        let adding = ActionId(self.dag.node_count());
        let mut edges = Vec::new();
        for input in action.inputs() {
            let Input::Output {
                action: producer,
                index,
            } = input
            else {
                continue;
            };
            let Some(node) = self.dag.node_weight(NodeIndex::new(producer.0)) else {
                return Err(EngineError::UnknownAction {
                    adding,
                    label: action.label(),
                    missing: producer,
                });
            };
            let count = node.output_count();
            if index >= count {
                return Err(EngineError::UnknownOutput {
                    adding,
                    label: action.label(),
                    producer,
                    index,
                    count,
                });
            }
            edges.push((producer, index));
        }
        let node = self.dag.add_node(action);
        for (producer, index) in edges {
            self.dag.add_edge(NodeIndex::new(producer.0), node, index);
        }
        Ok(ActionId(node.index()))
    }

    /// Number of actions.
    pub fn len(&self) -> usize {
        self.dag.node_count()
    }

    /// True if the graph has no actions.
    pub fn is_empty(&self) -> bool {
        self.dag.node_count() == 0
    }

    /// Every action id, in the order they were added (a topological order).
    pub fn ids(&self) -> impl Iterator<Item = ActionId> + '_ {
        self.dag.node_indices().map(|n| ActionId(n.index()))
    }

    /// The action `id`, or `None` if no such action was added.
    pub fn get(&self, id: ActionId) -> Option<&dyn Action> {
        self.dag.node_weight(NodeIndex::new(id.0)).map(|b| &**b)
    }

    /// The action `id`.
    ///
    /// # Panics
    /// If `id` was not returned by [`Graph::add`] on this graph; see [`Graph::get`].
    pub fn action(&self, id: ActionId) -> &dyn Action {
        &*self.dag[NodeIndex::new(id.0)]
    }

    /// The actions `id` reads outputs of, each once, in ascending order.
    pub fn dependencies(&self, id: ActionId) -> Vec<ActionId> {
        self.neighbours(id, Direction::Incoming)
    }

    /// The actions that read outputs of `id`, each once, in ascending order.
    pub fn dependents(&self, id: ActionId) -> Vec<ActionId> {
        self.neighbours(id, Direction::Outgoing)
    }

    fn neighbours(&self, id: ActionId, direction: Direction) -> Vec<ActionId> {
        if id.0 >= self.dag.node_count() {
            return Vec::new();
        }
        let set: BTreeSet<ActionId> = self
            .dag
            .neighbors_directed(NodeIndex::new(id.0), direction)
            .map(|n| ActionId(n.index()))
            .collect();
        set.into_iter().collect()
    }

    /// `targets` and everything they depend on, transitively, in ascending order. Ids not in
    /// the graph are ignored.
    pub fn closure(&self, targets: &[ActionId]) -> Vec<ActionId> {
        let mut seen = vec![false; self.len()];
        let mut stack: Vec<ActionId> = targets
            .iter()
            .copied()
            .filter(|t| t.0 < self.len())
            .collect();
        while let Some(id) = stack.pop() {
            if let Some(flag) = seen.get_mut(id.0) {
                if *flag {
                    continue;
                }
                *flag = true;
                stack.extend(self.dependencies(id));
            }
        }
        seen.iter()
            .enumerate()
            .filter(|(_, s)| **s)
            .map(|(i, _)| ActionId(i))
            .collect()
    }

    /// The graph in Graphviz `dot` syntax: one node per action labelled `kind: label`, one
    /// edge per input read from another action, labelled `output → input`.
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph flavor {\n    rankdir=LR;\n    node [shape=box];\n");
        for id in self.ids() {
            let action = self.action(id);
            let label = format!("{}: {}", action.kind(), action.label());
            let _ = writeln!(out, "    n{} [label=\"{}\"];", id.0, escape_dot(&label));
        }
        for (from, to, output, input) in self.edges() {
            let _ = writeln!(
                out,
                "    n{} -> n{} [label=\"{output}→{input}\"];",
                from.0, to.0
            );
        }
        out.push_str("}\n");
        out
    }

    /// The graph as JSON: `{"nodes": [{"id", "kind", "version", "label", "inputs",
    /// "outputs", "threads"}], "edges": [{"from", "to", "output", "input"}]}`. A file input
    /// is `{"file": path}`, an action output `{"action": id, "output": index}`.
    pub fn to_json(&self) -> serde_json::Value {
        let nodes: Vec<serde_json::Value> = self
            .ids()
            .map(|id| {
                let action = self.action(id);
                let inputs: Vec<serde_json::Value> = action
                    .inputs()
                    .iter()
                    .map(|input| match input {
                        Input::File(path) => json!({ "file": path.to_string_lossy() }),
                        Input::Output { action, index } => {
                            json!({ "action": action.0, "output": index })
                        }
                    })
                    .collect();
                json!({
                    "id": id.0,
                    "kind": action.kind(),
                    "version": action.version(),
                    "label": action.label(),
                    "inputs": inputs,
                    "outputs": action.output_count(),
                    "threads": action.threads(),
                })
            })
            .collect();
        let edges: Vec<serde_json::Value> = self
            .edges()
            .map(|(from, to, output, input)| {
                json!({ "from": from.0, "to": to.0, "output": output, "input": input })
            })
            .collect();
        json!({ "nodes": nodes, "edges": edges })
    }

    /// Every (producer, consumer, output index, input index), consumers in id order.
    fn edges(&self) -> impl Iterator<Item = (ActionId, ActionId, usize, usize)> + '_ {
        self.ids().flat_map(move |to| {
            self.action(to)
                .inputs()
                .into_iter()
                .enumerate()
                .filter_map(move |(input, i)| match i {
                    Input::Output { action, index } => Some((action, to, index, input)),
                    Input::File(_) => None,
                })
        })
    }
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.ids().map(|id| {
                let a = self.action(id);
                format!("{id}: {} {}", a.kind(), a.label())
            }))
            .finish()
    }
}

fn escape_dot(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::{ActionError, RunContext};

    struct Node {
        name: &'static str,
        inputs: Vec<Input>,
        outputs: usize,
    }

    impl Action for Node {
        fn kind(&self) -> &'static str {
            "node"
        }
        fn version(&self) -> u32 {
            1
        }
        fn label(&self) -> String {
            self.name.to_string()
        }
        fn params(&self) -> Vec<u8> {
            Vec::new()
        }
        fn inputs(&self) -> Vec<Input> {
            self.inputs.clone()
        }
        fn output_count(&self) -> usize {
            self.outputs
        }
        fn run(&self, _: &mut RunContext<'_>) -> Result<(), ActionError> {
            Ok(())
        }
    }

    fn node(name: &'static str, inputs: Vec<Input>, outputs: usize) -> Box<dyn Action> {
        Box::new(Node {
            name,
            inputs,
            outputs,
        })
    }

    fn out(action: ActionId, index: usize) -> Input {
        Input::Output { action, index }
    }

    /// a (2 outputs) → b, a → c, b + c → d
    fn diamond() -> (Graph, [ActionId; 4]) {
        let mut g = Graph::new();
        let a = g
            .add(node("a", vec![Input::File(PathBuf::from("/src/x"))], 2))
            .unwrap();
        let b = g.add(node("b", vec![out(a, 0)], 1)).unwrap();
        let c = g.add(node("c", vec![out(a, 1), out(a, 0)], 1)).unwrap();
        let d = g
            .add(node("d \"quoted\"", vec![out(b, 0), out(c, 0)], 1))
            .unwrap();
        (g, [a, b, c, d])
    }

    #[test]
    fn dependencies_and_dependents() {
        let (g, [a, b, c, d]) = diamond();
        assert_eq!(g.len(), 4);
        assert!(!g.is_empty());
        assert_eq!(g.dependencies(a), vec![]);
        assert_eq!(g.dependencies(c), vec![a], "two edges from a, listed once");
        assert_eq!(g.dependencies(d), vec![b, c]);
        assert_eq!(g.dependents(a), vec![b, c]);
        assert_eq!(g.dependents(d), vec![]);
        assert_eq!(g.dependents(ActionId(99)), vec![]);
        assert_eq!(g.action(b).label(), "b");
        assert!(g.get(ActionId(4)).is_none());
    }

    #[test]
    fn closure_of_targets() {
        let (g, [a, b, c, d]) = diamond();
        assert_eq!(g.closure(&[b]), vec![a, b]);
        assert_eq!(g.closure(&[d]), vec![a, b, c, d]);
        assert_eq!(g.closure(&[c, ActionId(42)]), vec![a, c]);
    }

    #[test]
    fn add_rejects_unknown_action_and_output() {
        let (mut g, [a, ..]) = diamond();
        let err = g.add(node("e", vec![out(ActionId(7), 0)], 1)).unwrap_err();
        assert!(matches!(
            err,
            EngineError::UnknownAction {
                missing: ActionId(7),
                ..
            }
        ));
        let err = g.add(node("e", vec![out(a, 2)], 1)).unwrap_err();
        assert!(matches!(
            err,
            EngineError::UnknownOutput {
                index: 2,
                count: 2,
                ..
            }
        ));
        assert!(err.to_string().contains("only 2 output"));
        assert_eq!(g.len(), 4, "failed adds leave the graph unchanged");
        // An action cannot read its own output (it is not in the graph yet).
        assert!(g.add(node("self", vec![out(ActionId(4), 0)], 1)).is_err());
    }

    #[test]
    fn dot_has_nodes_and_edges() {
        let (g, _) = diamond();
        let dot = g.to_dot();
        assert!(dot.starts_with("digraph"));
        for n in 0..4 {
            assert!(dot.contains(&format!("n{n} [label=")), "{dot}");
        }
        assert!(dot.contains("n0 -> n1"));
        assert!(dot.contains("n0 -> n2 [label=\"1→0\"]"));
        assert!(dot.contains("n0 -> n2 [label=\"0→1\"]"));
        assert!(dot.contains("n2 -> n3"));
        assert!(
            dot.contains("d \\\"quoted\\\""),
            "labels are escaped: {dot}"
        );
    }

    #[test]
    fn json_has_nodes_and_edges() {
        let (g, _) = diamond();
        let v = g.to_json();
        let nodes = v["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 4);
        assert_eq!(nodes[0]["kind"], "node");
        assert_eq!(nodes[0]["label"], "a");
        assert_eq!(nodes[0]["inputs"][0]["file"], "/src/x");
        assert_eq!(nodes[2]["inputs"][0], json!({"action": 0, "output": 1}));
        let edges = v["edges"].as_array().unwrap();
        assert_eq!(edges.len(), 5);
        assert!(edges.contains(&json!({"from": 1, "to": 3, "output": 0, "input": 0})));
        assert!(edges.contains(&json!({"from": 0, "to": 2, "output": 1, "input": 0})));
    }
}
