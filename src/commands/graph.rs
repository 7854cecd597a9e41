//! `flavor graph [--format dot|json]`: the planned action graph, without building.

use crate::diagnostics::open_session;
use crate::messages::{GraphDocument, GraphOutput, print_document};
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Dot,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Packages or targets to plan (default as for `flavor build`).
    names: Vec<String>,
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
    let plan = session.plan_only(&args.names, args.release)?;
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
                    action: o.action.0,
                    path: o.path.clone(),
                })
                .collect(),
        }),
    }
    Ok(ExitCode::SUCCESS)
}
