//! `flavor run [PACKAGE|TARGET] [-- ARGS…]`: build, then run the package with ARGS.

use crate::diagnostics::{open_session, report_failures};
use crate::progress::{Mode, Progress};
use crate::session::BuildSettings;
use anyhow::bail;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Package or target to run (default: the only or current package).
    name: Option<String>,
    /// Release build.
    #[arg(long)]
    release: bool,
    /// Arguments for the package.
    #[arg(last = true)]
    args: Vec<String>,
    #[command(flatten)]
    remote: crate::remote::RemoteArgs,
    #[command(flatten)]
    exec: crate::remote::ExecArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut session = open_session(&std::env::current_dir()?, false)?;
    let names: Vec<String> = args.name.iter().cloned().collect();
    let plan = session.plan(&names, args.release)?;
    let output = match plan.outputs.as_slice() {
        [] => bail!("nothing to run: the selection has no package"),
        [one] => one.clone(),
        several => {
            let list: Vec<String> = several
                .iter()
                .map(|o| o.target.clone().unwrap_or_else(|| o.package.clone()))
                .collect();
            bail!(
                "several packages or targets match; name one of: {}",
                list.join(", ")
            );
        }
    };
    let progress = Progress::new(Mode::Human, plan.graph.len(), false);
    for n in &plan.notices {
        progress.say(&format!("note: {n}"));
    }
    session.connect_remote(&args.exec.apply(args.remote.settings()), &progress)?;
    let report = session.build(&plan, &BuildSettings::default(), &progress);
    progress.finish();
    if !report_failures(&report, &progress) {
        session.finish_remote(&progress);
        return Ok(ExitCode::from(1));
    }
    session.install(&plan, &report)?;
    // exec ends every thread: the uploads must be done first.
    session.finish_remote(&progress);
    let err = std::process::Command::new(&output.path)
        .args(&args.args)
        .exec();
    bail!("cannot run {}: {err}", output.path.display())
}
