//! `flavor build [PACKAGE|TARGET…]`: plan the workspace, run the engine, install packages,
//! and say what happened (a summary line, or a `summary` event with `--json`).

use crate::diagnostics::{open_session, report_failures};
use crate::messages::{Counts, Event, Installed, RemoteSummary, Summary};
use crate::options::{BuildArgs, GlobalArgs};
use crate::progress::{Mode, Progress};
use crate::remote::RemoteArgs;
use flavor_rules::outputs::Profile;
use flavor_rules::plan::PlannedOutput;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Packages or targets to build (default: the package of the current directory, or every
    /// package of the workspace at its root).
    names: Vec<String>,
    #[command(flatten)]
    build: BuildArgs,
    /// Print one JSON event per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mode = global.mode(args.json);
    let mut session = open_session(&global.start_dir()?, args.json)?;
    let began = Instant::now();
    let plan = session.plan(&args.names, args.build.release)?;
    let profile = Profile::of(args.build.release);
    let targets: Vec<_> = plan.outputs.iter().map(|o| o.action).collect();
    let progress = Progress::new(mode, plan.graph.closure(&targets).len(), global.verbose);
    for n in &plan.notices {
        progress.say(&crate::style::note_line(n));
    }
    session.connect_remote(&args.remote.settings(), &progress)?;
    let report = session.build(&plan, &args.build.settings(), &progress);
    progress.finish();
    let ok = report_failures(&report, &progress);
    // Packages that depend on no failed action were built all the same: install them.
    let installed = session.install(&plan, &report)?;
    session.finish_remote(&progress);
    let summary = Summary {
        ok,
        counts: Counts::of(&report),
        skipped: report.skipped(),
        seconds: began.elapsed().as_secs_f64(),
        packages: installed
            .iter()
            .map(|o| installed_message(o, profile))
            .collect(),
        remote: session.remote.as_deref().map(RemoteSummary::of),
    };
    if mode == Mode::Human {
        print_summary(&summary, &installed, profile, session.remote.as_deref());
    }
    progress.json(&Event::Summary(summary));
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn installed_message(o: &PlannedOutput, profile: Profile) -> Installed {
    Installed {
        package: o.package.clone(),
        target: o.target.clone(),
        profile: profile.name(),
        path: o.path.clone(),
    }
}

/// The human ending: one line per package written (with its profile: debug and release
/// packages are different files), the remote's line, the counts.
fn print_summary(
    summary: &Summary,
    installed: &[PlannedOutput],
    profile: Profile,
    remote: Option<&flavor_remote::Remote>,
) {
    for o in installed {
        let what = match &o.target {
            Some(t) => format!("{} ({t}, {})", o.package, profile.name()),
            None => format!("{} ({})", o.package, profile.name()),
        };
        eprintln!("   package {what} → {}", display_path(&o.path));
    }
    if let Some(remote) = remote {
        eprintln!("{}", crate::remote::summary_line(remote));
    }
    let counts = &summary.counts;
    eprintln!(
        "{} built {}, cached {}{}{} in {:.2}s",
        if summary.ok { "finished:" } else { "FAILED:" },
        counts.built,
        counts.cached,
        match counts.remote_hits {
            0 => String::new(),
            n => format!(" ({n} from the remote cache)"),
        },
        if summary.ok {
            String::new()
        } else {
            format!(", failed {}", counts.failed)
        },
        summary.seconds,
    );
}

fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd).unwrap_or(p).display().to_string()
}
