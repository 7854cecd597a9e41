//! `flavor run [PACKAGE|TARGET] [-- ARGS…]`: build, then run the package with ARGS.

use crate::diagnostics::{open_session, report_failures};
use crate::options::{BuildArgs, GlobalArgs};
use crate::progress::Progress;
use anyhow::bail;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Package or target to run (default: the only or current package).
    name: Option<String>,
    #[command(flatten)]
    build: BuildArgs,
    /// Arguments for the package.
    #[arg(last = true)]
    args: Vec<String>,
    #[command(flatten)]
    remote: crate::remote::RemoteArgs,
    #[command(flatten)]
    exec: crate::remote::ExecArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mut session = open_session(&global.start_dir()?, false)?;
    let names: Vec<String> = args.name.iter().cloned().collect();
    let plan = session.plan(&names, args.build.release)?;
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
    let targets = [output.action];
    let progress = Progress::new(
        global.mode(false),
        plan.graph.closure(&targets).len(),
        global.verbose,
    );
    for n in &plan.notices {
        progress.say(&crate::style::note_line(n));
    }
    for w in &plan.warnings {
        progress.warn(w);
    }
    session.connect_remote(&args.exec.apply(args.remote.settings()), &progress)?;
    let report = session.build(&plan, &args.build.settings(), &progress);
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
