//! `flavor graph [NAME…] [--format dot|json]`: the actions a build of NAME would run (all of
//! them, cached or not), without building.
//!
//! Actions are shared: a slot used by two packages, or a package action that two targets with
//! the same launcher write, is one action. So the dot output labels each node with what it is
//! (`kind: label`) and, on a second line, every package and target of the selection it is
//! built for; a package node names the targets and files it writes. An edge means "reads the
//! outputs of", drawn once per pair of actions. The JSON document is the engine's graph
//! (`nodes`, `edges` with output and input indices) restricted to the same actions, and the
//! `outputs`. A step that runs once per target is one node per target, labelled with the
//! target.

use crate::diagnostics::open_session;
use crate::messages::{GraphDocument, GraphOutput, LauncherUsed, print_document};
use crate::options::GlobalArgs;
use crate::session::Wanted;
use crate::stdout::out;
use flavor_engine::ActionId;
use flavor_rules::plan::{BuildPlan, PlannedOutput};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Dot,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Packages, targets, platforms or PACKAGE:TARGET to plan (default as for `flavor build`).
    #[arg(add = crate::completion::names())]
    names: Vec<String>,
    /// Only the targets with this name or platform; repeatable.
    #[arg(long = "target", value_name = "NAME|PLATFORM", add = crate::completion::targets())]
    targets: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "dot")]
    format: Format,
    /// Plan a release build.
    #[arg(long)]
    release: bool,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let json = matches!(args.format, Format::Json);
    let session = open_session(&global.start_dir()?, json)?;
    let wanted = Wanted {
        names: args.names,
        targets: args.targets,
        launcher: None,
    };
    let plan = session.plan_only(&wanted, args.release)?;
    let shown = plan
        .graph
        .closure(&plan.outputs.iter().map(|o| o.action).collect::<Vec<_>>());
    match args.format {
        Format::Dot => out!("{}", dot(&plan, &shown, &session.workspace.root))?,
        Format::Json => print_document(&GraphDocument {
            graph: restrict(plan.graph.to_json(), &shown),
            outputs: plan
                .outputs
                .iter()
                .map(|o| GraphOutput {
                    package: o.package.clone(),
                    target: o.target.clone(),
                    platform: o.platform,
                    launcher: LauncherUsed::of(&o.launcher),
                    action: o.action.0,
                    path: o.path.clone(),
                })
                .collect(),
        })?,
    }
    Ok(ExitCode::SUCCESS)
}

/// For each action, the packages of the plan it is built for, each with the targets (none
/// for a package without targets).
type Users = BTreeMap<ActionId, BTreeMap<String, BTreeSet<String>>>;

/// Who each action is built for.
fn users(plan: &BuildPlan) -> Users {
    let mut users = Users::new();
    for o in &plan.outputs {
        for id in plan.graph.closure(&[o.action]) {
            let targets = users
                .entry(id)
                .or_default()
                .entry(o.package.clone())
                .or_default();
            targets.extend(o.target.iter().cloned());
        }
    }
    users
}

/// `count (linux-x86_64, portable), greet, stamp and 2 more`.
fn list(packages: &BTreeMap<String, BTreeSet<String>>) -> String {
    const SHOWN: usize = 4;
    let mut text: Vec<String> = (packages.iter().take(SHOWN))
        .map(|(name, targets)| match targets.is_empty() {
            true => name.clone(),
            false => format!(
                "{name} ({})",
                Vec::from_iter(targets.iter().cloned()).join(", ")
            ),
        })
        .collect();
    let more = packages.len().saturating_sub(SHOWN);
    if more > 0 {
        text.push(format!("{more} more"));
    }
    text.join(", ")
}

/// The node label of action `id`: what it is, and what it is built for (paths relative to
/// the workspace `root`).
fn node_label(plan: &BuildPlan, id: ActionId, users: &Users, root: &Path) -> String {
    let action = plan.graph.action(id);
    let writes: Vec<&PlannedOutput> = plan.outputs.iter().filter(|o| o.action == id).collect();
    if let Some(first) = writes.first() {
        let targets: Vec<String> = writes
            .iter()
            .map(|o| {
                let path = o.path.strip_prefix(root).unwrap_or(&o.path).display();
                match &o.target {
                    Some(t) => format!("{t} → {path}"),
                    None => format!("→ {path}"),
                }
            })
            .collect();
        return format!(
            "{}: {}\n{}",
            action.kind(),
            first.package,
            targets.join("\n")
        );
    }
    let empty = BTreeMap::new();
    let for_whom = users.get(&id).unwrap_or(&empty);
    format!(
        "{}: {}\nfor {}",
        action.kind(),
        action.label(),
        list(for_whom)
    )
}

/// Graphviz dot of the actions `shown`: one node per action, one edge per pair of actions
/// where one reads the other's outputs.
fn dot(plan: &BuildPlan, shown: &[ActionId], root: &Path) -> String {
    let users = users(plan);
    let mut out = String::from("digraph flavor {\n    rankdir=LR;\n    node [shape=box];\n");
    for &id in shown {
        let label = escape(&node_label(plan, id, &users, root));
        let _ = writeln!(out, "    n{} [label=\"{label}\"];", id.0);
    }
    for &id in shown {
        for from in plan.graph.dependencies(id) {
            let _ = writeln!(out, "    n{} -> n{};", from.0, id.0);
        }
    }
    out.push_str("}\n");
    out
}

fn escape(text: &str) -> String {
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

/// The engine's graph JSON with only the actions `shown` and the edges between them.
fn restrict(mut graph: serde_json::Value, shown: &[ActionId]) -> serde_json::Value {
    let keep = |v: &serde_json::Value, field: &str| {
        v[field]
            .as_u64()
            .is_some_and(|id| shown.contains(&ActionId(id as usize)))
    };
    if let Some(nodes) = graph["nodes"].as_array_mut() {
        nodes.retain(|n| keep(n, "id"));
    }
    if let Some(edges) = graph["edges"].as_array_mut() {
        edges.retain(|e| keep(e, "from") && keep(e, "to"));
    }
    graph
}
