//! `flavor inspect PKG [--json]`: index summary, slot table, metadata and whether the upstream
//! FlavorPack launchers can run the package.

use crate::messages::{
    IndexSummary, InspectReport, InspectedLauncher, InspectedSlot, KeyNames, print_document,
};
use crate::report::thousands;
use crate::stdout::outln;
use anyhow::Context;
use flavor_rules::launcher::{Identity, identify};
use pspf::compat::upstream_compatibility;
use pspf::index::IndexLayout;
use pspf::keys::Fingerprint;
use pspf::{Package, Platform};
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

/// The `--json` document of a package.
fn report(
    path: &std::path::Path,
    pkg: &Package,
    meta: &pspf::metadata::Metadata,
    compat: &[pspf::compat::Incompatibility],
) -> anyhow::Result<InspectReport> {
    let index = pkg.index();
    let slots = pkg
        .descriptors()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let m = meta.slots.get(i);
            InspectedSlot {
                slot: i,
                id: m.map(|m| m.id.clone()),
                target: m.map(|m| m.target.clone()),
                codec: codec_name(pkg, i),
                operations: format!("{:#x}", d.operations.0),
                offset: d.offset,
                size: d.size,
                original_size: d.original_size,
                decoded_size: m.and_then(|m| m.decoded_size),
                checksum: format!("{:016x}", d.checksum),
                purpose: d.purpose,
                lifecycle: d.lifecycle,
                lifecycle_name: m.map(|m| m.lifecycle.as_str().to_string()),
                priority: d.priority,
                platform: d.platform,
                permissions: format!("{:04o}", d.permissions),
                name_hash: format!("{:016x}", d.name_hash),
            }
        })
        .collect();
    Ok(InspectReport {
        package: path.to_path_buf(),
        file_size: pkg.file_len(),
        platform: meta.platform(),
        launcher: launcher_identity(pkg, path).map(|l| InspectedLauncher {
            kind: l.kind.name(),
            platform: l.platform,
            format: executable_format(l.platform),
            is_static: l.is_static,
            codecs: l.codecs.iter().map(|c| c.name()).collect(),
            size: l.size,
        }),
        index: IndexSummary {
            fields: index.summary_json(),
            signature: hex::encode(index.signature()),
            layout: layout_name(index),
        },
        key: KeyNames::of(&index.public_key()),
        slots,
        metadata: serde_json::from_slice(pkg.metadata_json()?)?,
        upstream_compatible: compat.is_empty(),
        upstream_incompatibilities: compat.iter().map(Into::into).collect(),
    })
}

fn layout_name(index: &pspf::Index) -> &'static str {
    match index.layout() {
        IndexLayout::RustPy => "rust/python",
        IndexLayout::Go => "go",
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let path = &args.package;
    let pkg = Package::open(path).with_context(|| format!("{}", path.display()))?;
    let meta = pkg
        .metadata()
        .with_context(|| format!("{}", path.display()))?;
    let compat = upstream_compatibility(&pkg).with_context(|| format!("{}", path.display()))?;
    if args.json {
        print_document(&report(path, &pkg, meta, &compat)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    print_human(path, &pkg, meta, &compat)?;
    Ok(ExitCode::SUCCESS)
}

/// The report for humans: header, slot table, upstream compatibility.
fn print_human(
    path: &std::path::Path,
    pkg: &Package,
    meta: &pspf::metadata::Metadata,
    compat: &[pspf::compat::Incompatibility],
) -> anyhow::Result<()> {
    let index = pkg.index();
    let json_len = pkg.metadata_json()?.len();
    outln!(
        "{} {}  ({}, {} bytes)",
        meta.package.name,
        meta.package.version,
        path.display(),
        thousands(pkg.file_len())
    )?;
    if let Some(d) = meta.package.description.as_ref().filter(|d| !d.is_empty()) {
        outln!("  {d}")?;
    }
    outln!(
        "format    PSPF/2025 ({:#010x}), index layout {}, checksum {:08x}",
        index.format_version(),
        layout_name(index),
        index.index_checksum()
    )?;
    let launcher = launcher_identity(pkg, path);
    let platform = meta.platform();
    match &platform {
        Some(p) => outln!("platform  {p}")?,
        None => outln!("platform  (not recorded)")?,
    }
    match &launcher {
        Some(l) => outln!(
            "launcher  {} bytes: {}",
            thousands(index.launcher_size()),
            describe_launcher(l)
        )?,
        None => outln!("launcher  {} bytes", thousands(index.launcher_size()))?,
    }
    if let (Some(p), Some(l)) = (platform, &launcher)
        && p != l.platform
    {
        outln!(
            "warning   the metadata says {p}, but the launcher is for {}",
            l.platform
        )?;
    }
    outln!(
        "metadata  {} bytes gzip at offset {} → {} bytes JSON",
        thousands(index.metadata_size()),
        index.metadata_offset(),
        thousands(json_len as u64)
    )?;
    outln!(
        "key       {} (fingerprint)",
        Fingerprint::of(&index.public_key())
    )?;
    if let Some(builder) = meta.build.as_ref().and_then(|b| b.get("tool")) {
        let version = meta
            .build
            .as_ref()
            .and_then(|b| b.get("tool_version"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?");
        outln!("built by  {} {version}", builder.as_str().unwrap_or("?"))?;
    }
    outln!("command   {}", meta.execution.command)?;
    for (k, v) in &meta.execution.env {
        outln!("env       {k}={v}")?;
    }
    print_slots(pkg, meta)?;
    if compat.is_empty() {
        outln!("upstream  runs under FlavorPack launchers (Rust 0.3.0, Rust 0.5.4, Go 0.5.4)")?;
    } else {
        outln!("upstream  not runnable by every FlavorPack launcher:")?;
        for c in compat {
            outln!("  - [{}] {}: {}", c.launchers, c.rule, c.detail)?;
        }
    }
    Ok(())
}

fn print_slots(pkg: &Package, meta: &pspf::metadata::Metadata) -> anyhow::Result<()> {
    outln!("slots     {}", pkg.slot_count())?;
    if pkg.slot_count() == 0 {
        return Ok(());
    }
    outln!(
        "  {:>3}  {:<16} {:<8} {:>12} {:>12}  {:<10} {:<5} target",
        "#",
        "id",
        "codec",
        "stored",
        "decoded",
        "lifecycle",
        "mode"
    )?;
    for (i, d) in pkg.descriptors().iter().enumerate() {
        let m = meta.slots.get(i);
        outln!(
            "  {:>3}  {:<16} {:<8} {:>12} {:>12}  {:<10} {:04o}  {}",
            i,
            m.map(|m| m.id.as_str()).unwrap_or("?"),
            codec_name(pkg, i),
            thousands(d.size),
            // The signed size when the metadata records one; the descriptor's is unsigned.
            thousands(m.and_then(|m| m.decoded_size).unwrap_or(d.original_size)),
            m.map(|m| m.lifecycle.as_str()).unwrap_or("?"),
            d.permissions,
            m.map(|m| m.target.as_str()).unwrap_or("?"),
        )?;
    }
    Ok(())
}
