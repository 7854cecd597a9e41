//! `flavor graph [--format dot|json]`: the planned action graph, without building.

use super::build::{Session, report_manifest_errors};
use std::process::ExitCode;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Dot,
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Packages or targets to plan (default as for `flavor build`).
    pub names: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "dot")]
    pub format: Format,
    /// Plan a release build.
    #[arg(long)]
    pub release: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let session = match Session::open(&std::env::current_dir()?) {
        Ok(s) => s,
        Err(errors) => {
            report_manifest_errors(&errors, matches!(args.format, Format::Json));
            return Ok(ExitCode::from(1));
        }
    };
    let plan = session.plan_only(&args.names, args.release)?;
    match args.format {
        Format::Dot => print!("{}", plan.graph.to_dot()),
        Format::Json => {
            let mut graph = plan.graph.to_json();
            graph["outputs"] = serde_json::json!(plan
                .outputs
                .iter()
                .map(|o| serde_json::json!({
                    "package": o.package, "target": o.target, "action": o.action.0, "path": o.path,
                }))
                .collect::<Vec<_>>());
            crate::report::print_json(&graph);
        }
    }
    Ok(ExitCode::SUCCESS)
}
