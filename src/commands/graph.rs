//! `flavor graph [--format dot|json]`: the planned action graph, without building. A step that
//! runs once per target is one node per target, labelled with the target; a shared one is one
//! node.

use crate::diagnostics::open_session;
use crate::messages::{GraphDocument, GraphOutput, LauncherUsed, print_document};
use crate::session::Wanted;
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

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let json = matches!(args.format, Format::Json);
    let session = open_session(&std::env::current_dir()?, json)?;
    let wanted = Wanted {
        names: args.names,
        targets: args.targets,
        launcher: None,
    };
    let plan = session.plan_only(&wanted, args.release)?;
    match args.format {
        Format::Dot => print!("{}", plan.graph.to_dot()),
        Format::Json => print_document(&GraphDocument {
            graph: plan.graph.to_json(),
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
        }),
    }
    Ok(ExitCode::SUCCESS)
}
