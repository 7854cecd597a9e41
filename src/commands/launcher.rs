//! `flavor launcher add|list|remove`: the launchers packages of each platform get. `add`
//! identifies a binary from its header and keeps it in the per-user registry; `list` shows,
//! per platform, every launcher found (builtin and added), its origin, size, whether it is
//! static, the codecs it decodes, and which one a build uses.

use crate::messages::{LauncherInfo, LauncherList, PlatformLaunchers, print_document};
use anyhow::Context;
use flavor_rules::launcher::{Asked, Identity, Kind, Launchers, Registry};
use pspf::Platform;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Identify a launcher binary (flavor's, or FlavorPack's Rust or Go launcher) and keep it
    /// for building packages of its platform.
    ///
    /// Example: flavor launcher add ./flavor-rs-launcher-0.5.4-linux_arm64
    Add {
        /// The launcher binary.
        path: PathBuf,
    },
    /// Per platform: every launcher found, and the one a build uses.
    List {
        /// Print a JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget an added launcher.
    ///
    /// Example: flavor launcher remove linux-aarch64 upstream-rust
    Remove {
        /// Its platform (linux-aarch64, darwin-arm64, …).
        platform: Platform,
        /// Which one: flavor, upstream-rust or upstream-go.
        #[arg(value_parser = ["flavor", "upstream-rust", "upstream-go"])]
        kind: String,
    },
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let registry = Registry::user()
        .context("no data directory for the launcher registry: set XDG_DATA_HOME or HOME");
    match args.command {
        Sub::Add { path } => {
            let entry = registry?.add(&path)?;
            let id = &entry.identity;
            println!(
                "added {} for {} ({}) → {}",
                id.kind.describe(),
                id.platform,
                describe(id),
                entry.path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Sub::Remove { platform, kind } => {
            let kind = match kind.as_str() {
                "flavor" => Kind::Flavor,
                "upstream-rust" => Kind::UpstreamRust,
                _ => Kind::UpstreamGo,
            };
            if registry?.remove(platform, kind)? {
                println!("removed {} for {platform}", kind.describe());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("no added {} for {platform}", kind.describe());
                Ok(ExitCode::from(1))
            }
        }
        Sub::List { json } => list(registry.ok(), json),
    }
}

/// `static, 1.2 MiB, decodes raw gzip …`.
fn describe(id: &Identity) -> String {
    let linking = match id.is_static {
        Some(true) => "static, ",
        Some(false) => "dynamic, ",
        None => "",
    };
    let codecs: Vec<&str> = id.codecs.iter().map(|c| c.name()).collect();
    format!(
        "{linking}{:.1} MiB, decodes {}",
        id.size as f64 / (1024.0 * 1024.0),
        codecs.join(" ")
    )
}

fn info(id: &Identity, origin: &'static str, path: PathBuf) -> LauncherInfo {
    LauncherInfo {
        kind: id.kind.name(),
        origin,
        path,
        size: id.size,
        is_static: id.is_static,
        codecs: id.codecs.iter().map(|c| c.name()).collect(),
        default: false,
    }
}

fn list(registry: Option<Registry>, json: bool) -> anyhow::Result<ExitCode> {
    // The builtin launcher is written where this workspace's builds keep it, else to a
    // temporary directory.
    let tmp = tempfile::tempdir()?;
    let dir = match flavor_rules::workspace::load(&std::env::current_dir()?) {
        Ok(ws) => crate::build_cache::BuildCache::for_workspace(&ws.root).launchers_dir(),
        Err(_) => tmp.path().to_path_buf(),
    };
    let builtin = crate::builtin_launcher::materialise(&dir)?;
    let launchers = Launchers::new(builtin.clone(), registry.clone(), None);
    let builtin_id = launchers.builtin_identity()?;
    let mut platforms = Vec::new();
    let mut problems = Vec::new();
    for &platform in Platform::ALL {
        let mut found = Vec::new();
        if builtin_id.platform == platform {
            found.push(info(&builtin_id, "builtin", builtin.clone()));
        }
        for kind in [Kind::Flavor, Kind::UpstreamRust, Kind::UpstreamGo] {
            match registry.as_ref().map(|r| r.get(platform, kind)) {
                Some(Ok(Some(e))) => found.push(info(&e.identity, "added", e.path)),
                Some(Err(e)) => problems.push(e.to_string()),
                _ => {}
            }
        }
        let default = launchers.choose(platform, Asked::Nothing).ok();
        let default = default.map(|c| c.path.display().to_string());
        for l in &mut found {
            l.default = default.as_deref() == Some(&*l.path.to_string_lossy());
        }
        platforms.push(PlatformLaunchers {
            platform,
            launchers: found,
            default,
        });
    }
    let doc = LauncherList {
        registry: registry.map(|r| r.dir().display().to_string()),
        platforms,
    };
    if json {
        print_document(&doc);
    } else {
        print_text(&doc);
    }
    for p in &problems {
        eprintln!("warning: {p}");
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(doc: &LauncherList) {
    for p in &doc.platforms {
        if p.launchers.is_empty() {
            println!(
                "{}: none (`flavor launcher add PATH` to build for it)",
                p.platform
            );
            continue;
        }
        println!("{}:", p.platform);
        for l in &p.launchers {
            let mark = if l.default { "*" } else { " " };
            let linking = match l.is_static {
                Some(true) => "static",
                Some(false) => "dynamic",
                None => "-",
            };
            println!(
                "  {mark} {:<14} {:<8} {:>6.1} MiB  {linking:<7}  decodes {}  {}",
                l.kind,
                l.origin,
                l.size as f64 / (1024.0 * 1024.0),
                l.codecs.join(" "),
                l.path.display()
            );
        }
    }
    match &doc.registry {
        Some(dir) => println!("(* = used by builds; added launchers are kept in {dir})"),
        None => {
            println!("(* = used by builds; no registry: neither XDG_DATA_HOME nor HOME is set)");
        }
    }
}
