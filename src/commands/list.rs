//! `flavor list [--json]`: the workspace's packages, their targets (name, platform, output)
//! and the launcher a build would give each, and which steps run once per target. The names it
//! shows are what `flavor build`, `run` and `graph` accept.

use crate::diagnostics::open_session;
use crate::messages::{LauncherUsed, ListDocument, ListedPackage, ListedTarget, print_document};
use crate::session::start_dir;
use flavor_rules::plan::{outputs_of, per_target_steps};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Print a JSON document instead of text.
    #[arg(long)]
    json: bool,
    /// The flavor.toml (or its directory) to start from instead of the current directory.
    #[arg(long, value_name = "PATH")]
    manifest_path: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let session = open_session(&start_dir(args.manifest_path.as_deref())?, args.json)?;
    let launchers = session.launchers(None)?;
    let ws = &session.workspace;
    let mut packages = Vec::new();
    for m in &ws.packages {
        let Some(pkg) = &m.package else { continue };
        let targets = outputs_of(m, &launchers)?
            .into_iter()
            .map(|o| ListedTarget {
                target: o.target,
                platform: o.platform,
                output: o.path,
                launcher: o.launcher.as_ref().ok().map(LauncherUsed::of),
                launcher_problem: o.launcher.err().map(|p| match p.help {
                    Some(help) => format!("{} ({help})", p.message),
                    None => p.message,
                }),
            })
            .collect();
        packages.push(ListedPackage {
            name: pkg.name.value.clone(),
            version: pkg.version.clone(),
            manifest: m.path.clone(),
            targets,
            per_target_steps: per_target_steps(pkg).into_iter().collect(),
        });
    }
    let doc = ListDocument {
        root: ws.root.clone(),
        packages,
    };
    if args.json {
        print_document(&doc);
    } else {
        print_text(&doc);
    }
    Ok(ExitCode::SUCCESS)
}

/// `path` relative to the workspace root when it is under it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn print_text(doc: &ListDocument) {
    if doc.packages.is_empty() {
        println!("no packages in the workspace at {}", doc.root.display());
    }
    for p in &doc.packages {
        println!(
            "{} {} ({})",
            p.name,
            p.version,
            shown(&doc.root, &p.manifest)
        );
        for t in &p.targets {
            let name = match &t.target {
                Some(n) => format!("{}:{n}", p.name),
                None => p.name.clone(),
            };
            let launcher = match (&t.launcher, &t.launcher_problem) {
                (Some(l), _) => format!("{} launcher ({})", l.kind, l.source),
                (None, Some(problem)) => format!("no launcher: {problem}"),
                (None, None) => "no launcher".into(),
            };
            println!(
                "  {name:<28} {:<15} {}  [{launcher}]",
                t.platform.name(),
                shown(&doc.root, &t.output)
            );
        }
        if !p.per_target_steps.is_empty() {
            println!("  steps run per target: {}", p.per_target_steps.join(", "));
        }
    }
}
