//! `flavor build [PACKAGE|TARGET|PACKAGE:TARGET…] [--target NAME|PLATFORM…] [--launcher PATH]`:
//! plan the workspace, run the engine, install packages, and say what happened (a summary
//! line, or a `summary` event with `--json`; `-v` also says which launcher each package got).

use crate::diagnostics::{open_session, report_failures};
use crate::messages::{
    Counts, Event, ExecSummary, Installed, LauncherUsed, RemoteSummary, Summary,
};
use crate::options::{BuildArgs, GlobalArgs};
use crate::progress::{Mode, Progress};
use crate::remote::{ExecArgs, RemoteArgs};
use crate::session::Wanted;
use flavor_rules::outputs::Profile;
use flavor_rules::plan::PlannedOutput;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Packages, targets, platforms or PACKAGE:TARGET to build (default: the package of the
    /// current directory, or every package of the workspace at its root).
    #[arg(add = crate::completion::names())]
    names: Vec<String>,
    /// Only the targets with this name or platform (e.g. linux-aarch64); repeatable.
    #[arg(long = "target", value_name = "NAME|PLATFORM", add = crate::completion::targets())]
    targets: Vec<String>,
    /// Put this launcher in front of every package built (its platform must be the target's).
    #[arg(long, value_name = "PATH")]
    launcher: Option<PathBuf>,
    #[command(flatten)]
    build: BuildArgs,
    /// Print one JSON event per line.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(flatten)]
    exec: ExecArgs,
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let mode = global.mode(args.json);
    let mut session = open_session(&global.start_dir()?, args.json)?;
    let began = Instant::now();
    let wanted = Wanted {
        names: args.names.clone(),
        targets: args.targets.clone(),
        launcher: args.launcher.clone(),
    };
    let plan = session.plan_wanted(&wanted, args.build.release)?;
    let profile = Profile::of(args.build.release);
    let targets: Vec<_> = plan.outputs.iter().map(|o| o.action).collect();
    let progress = Progress::new(mode, plan.graph.closure(&targets).len(), global.verbose);
    for n in &plan.notices {
        progress.say(&crate::style::note_line(n));
    }
    for w in &plan.warnings {
        progress.warn(w);
    }
    if global.verbose {
        for o in &plan.outputs {
            say_launcher(&progress, o);
        }
    }
    session.connect_remote(&args.exec.apply(args.remote.settings()), &progress)?;
    if let Some(exec) = session.executor.clone() {
        // Ctrl-C: the cluster's operations are cancelled, not left running for nobody.
        let _ = ctrlc::set_handler(move || {
            exec.cancel_all();
            std::process::exit(130);
        });
    }
    // Packages that depend on no failed action were built all the same: they are installed.
    let (report, installed) = session.build_and_install(&plan, &args.build.settings(), &progress);
    progress.finish();
    let ok = report_failures(&report, &progress);
    let installed = installed?;
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
        remote_execution: session.executor.as_deref().map(ExecSummary::of),
    };
    if mode == Mode::Human {
        print_summary(&summary, &installed, profile, session.remote.as_deref());
        if let Some(exec) = session.executor.as_deref() {
            eprintln!("{}", crate::remote::execution_line(exec));
        }
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
        platform: o.platform,
        launcher: LauncherUsed::of(&o.launcher),
        path: o.path.clone(),
    }
}

/// `package (target)`, with the platform when the target is not named after it.
fn output_name(o: &PlannedOutput) -> String {
    match &o.target {
        Some(t) if *t == o.platform.name() => format!("{} ({t})", o.package),
        Some(t) => format!("{} ({t}, {})", o.package, o.platform),
        None => o.package.clone(),
    }
}

/// `-v`: which launcher an output gets, and what was passed over before it.
fn say_launcher(progress: &Progress, o: &PlannedOutput) {
    let l = &o.launcher;
    progress.say(&format!(
        "   launcher for {}: {}",
        output_name(o),
        l.describe()
    ));
    for passed in &l.passed_over {
        progress.say(&format!("     passed over: {passed}"));
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
        let what = output_name(o);
        let what = match what.strip_suffix(')') {
            Some(open) => format!("{open}, {})", profile.name()),
            None => format!("{what} ({})", profile.name()),
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
