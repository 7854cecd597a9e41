//! `flavor inspect PKG [--json]`: index summary, slot table, metadata and whether the upstream
//! FlavorPack launchers can run the package.

use crate::report::{print_json, thousands};
use anyhow::Context;
use flavor_rules::launcher::{Identity, identify};
use pspf::compat::upstream_compatibility;
use pspf::index::IndexLayout;
use pspf::{Package, Platform};
use serde_json::{Value, json};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The package to inspect.
    package: PathBuf,
    /// Print everything as JSON (metadata included, as stored).
    #[arg(long)]
    json: bool,
}

fn codec_name(pkg: &Package, i: usize) -> String {
    match pkg.slot_codec(i) {
        Ok(c) => c.name().to_string(),
        Err(_) => format!("ops {:#x}", pkg.descriptors()[i].operations.0),
    }
}

/// What the launcher in front of `pkg` is, read from its executable header; `None` when it is
/// no executable flavor knows (a test stub, a truncated file).
fn launcher_identity(pkg: &Package, path: &std::path::Path) -> Option<Identity> {
    let mut bytes = Vec::new();
    pkg.launcher_reader().ok()?.read_to_end(&mut bytes).ok()?;
    identify(path, &bytes).ok()
}

/// `ELF`, `Mach-O` or `PE`: the executable format of a platform.
fn executable_format(p: Platform) -> &'static str {
    match p.os() {
        "darwin" => "Mach-O",
        "windows" => "PE",
        _ => "ELF",
    }
}

/// The launcher line: `FlavorPack's Rust launcher, ELF aarch64, static`.
fn describe_launcher(id: &Identity) -> String {
    let linking = match id.is_static {
        Some(true) => ", static",
        Some(false) => ", dynamically linked",
        None => "",
    };
    format!(
        "{}, {} {}{linking}",
        id.kind.describe(),
        executable_format(id.platform),
        id.platform.arch()
    )
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = &args.package;
    let pkg = Package::open(path).with_context(|| format!("{}", path.display()))?;
    let index = pkg.index();
    let meta = pkg
        .metadata()
        .with_context(|| format!("{}", path.display()))?;
    let json_bytes = pkg.metadata_json()?;
    let compat = upstream_compatibility(&pkg).with_context(|| format!("{}", path.display()))?;
    let launcher = launcher_identity(&pkg, path);
    let platform = meta.platform();
    let layout = match index.layout() {
        IndexLayout::RustPy => "rust/python",
        IndexLayout::Go => "go",
    };

    if args.json {
        let slots: Vec<Value> = pkg
            .descriptors()
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let m = meta.slots.get(i);
                json!({
                    "slot": i,
                    "id": m.map(|m| m.id.clone()),
                    "target": m.map(|m| m.target.clone()),
                    "codec": codec_name(&pkg, i),
                    "operations": format!("{:#x}", d.operations.0),
                    "offset": d.offset,
                    "size": d.size,
                    "original_size": d.original_size,
                    "decoded_size": m.and_then(|m| m.decoded_size),
                    "checksum": format!("{:016x}", d.checksum),
                    "purpose": d.purpose,
                    "lifecycle": d.lifecycle,
                    "lifecycle_name": m.map(|m| m.lifecycle.clone()),
                    "priority": d.priority,
                    "platform": d.platform,
                    "permissions": format!("{:04o}", d.permissions),
                    "name_hash": format!("{:016x}", d.name_hash),
                })
            })
            .collect();
        let metadata: Value = serde_json::from_slice(json_bytes)?;
        let mut index_summary = index.summary_json();
        index_summary["signature"] = json!(hex::encode(index.signature()));
        index_summary["layout"] = json!(layout);
        print_json(&json!({
            "package": path.display().to_string(),
            "file_size": pkg.file_len(),
            "platform": platform,
            "launcher": launcher.as_ref().map(|l| json!({
                "kind": l.kind.name(),
                "platform": l.platform,
                "format": executable_format(l.platform),
                "static": l.is_static,
                "codecs": l.codecs.iter().map(|c| c.name()).collect::<Vec<_>>(),
                "size": l.size,
            })),
            "index": index_summary,
            "slots": slots,
            "metadata": metadata,
            "upstream_compatible": compat.is_empty(),
            "upstream_incompatibilities": compat.iter().map(|c| json!({
                "launchers": c.launchers, "rule": c.rule, "detail": c.detail,
            })).collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }

    println!(
        "{} {}  ({}, {} bytes)",
        meta.package.name,
        meta.package.version,
        path.display(),
        thousands(pkg.file_len())
    );
    if let Some(d) = meta.package.description.as_ref().filter(|d| !d.is_empty()) {
        println!("  {d}");
    }
    println!(
        "format    PSPF/2025 ({:#010x}), index layout {layout}, checksum {:08x}",
        index.format_version(),
        index.index_checksum()
    );
    match &platform {
        Some(p) => println!("platform  {p}"),
        None => println!("platform  (not recorded)"),
    }
    match &launcher {
        Some(l) => println!(
            "launcher  {} bytes: {}",
            thousands(index.launcher_size()),
            describe_launcher(l)
        ),
        None => println!("launcher  {} bytes", thousands(index.launcher_size())),
    }
    if let (Some(p), Some(l)) = (platform, &launcher)
        && p != l.platform
    {
        println!(
            "warning   the metadata says {p}, but the launcher is for {}",
            l.platform
        );
    }
    println!(
        "metadata  {} bytes gzip at offset {} → {} bytes JSON",
        thousands(index.metadata_size()),
        index.metadata_offset(),
        thousands(json_bytes.len() as u64)
    );
    println!("key       {}", hex::encode(index.public_key()));
    if let Some(builder) = meta.build.as_ref().and_then(|b| b.get("tool")) {
        let version = meta
            .build
            .as_ref()
            .and_then(|b| b.get("tool_version"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        println!("built by  {} {version}", builder.as_str().unwrap_or("?"));
    }
    println!("command   {}", meta.execution.command);
    for (k, v) in &meta.execution.env {
        println!("env       {k}={v}");
    }
    println!("slots     {}", pkg.slot_count());
    if pkg.slot_count() > 0 {
        println!(
            "  {:>3}  {:<16} {:<8} {:>12} {:>12}  {:<10} {:<5} target",
            "#", "id", "codec", "stored", "decoded", "lifecycle", "mode"
        );
        for (i, d) in pkg.descriptors().iter().enumerate() {
            let m = meta.slots.get(i);
            println!(
                "  {:>3}  {:<16} {:<8} {:>12} {:>12}  {:<10} {:04o}  {}",
                i,
                m.map(|m| m.id.as_str()).unwrap_or("?"),
                codec_name(&pkg, i),
                thousands(d.size),
                // The signed size when the metadata records one; the descriptor's is unsigned.
                thousands(m.and_then(|m| m.decoded_size).unwrap_or(d.original_size)),
                m.map(|m| m.lifecycle.as_str()).unwrap_or("?"),
                d.permissions,
                m.map(|m| m.target.as_str()).unwrap_or("?"),
            );
        }
    }
    if compat.is_empty() {
        println!("upstream  runs under FlavorPack launchers (Rust 0.3.0, Rust 0.5.4, Go 0.5.4)");
    } else {
        println!("upstream  not runnable by every FlavorPack launcher:");
        for c in &compat {
            println!("  - [{}] {}: {}", c.launchers, c.rule, c.detail);
        }
    }
    Ok(ExitCode::SUCCESS)
}
