//! `flavor workenv list|info NAME|clean [--older-than DAYS]|remove NAME`: the work
//! environments that launchers unpacked into the cache root.
//!
//! The cache root is found as the launcher finds it (`$FLAVOR_CACHE`, else the grandparent of
//! `$FLAVOR_WORKENV`, else `$XDG_CACHE_HOME/flavor`, else `~/.cache/flavor`, else
//! `<temp dir>/flavor`). Two layouts live under `<root>/workenv/`:
//!
//! - flavor's: `<name>` is a symbolic link to `.<name>.pspf/versions/<hash>/`, one directory per
//!   package build, each complete once `versions/<hash>.ready` (the exec plan) exists;
//! - upstream FlavorPack's: `<name>/` is the workenv itself, complete once
//!   `.<name>.pspf/instance/extract/complete` exists.
//!
//! Both keep `.<name>.pspf/package/psp.json` (the metadata of the package in use). "Last use"
//! is the newest access or change time of the markers a launch reads, so it is exact to the
//! day on filesystems mounted `relatime`; flavor reads those files with `O_NOATIME` so that
//! looking does not count as using. Nothing a launcher is unpacking right now is removed:
//! flavor's build lock (`flock` on `versions/<hash>.lock`) and upstream's lock file
//! (`instance/extract/lock` naming a live process) are respected.

use crate::report::{ago, human_bytes, print_json, rfc3339, unix_seconds};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

#[derive(clap::Args)]
pub struct Args {
    /// The launcher cache root (default: found as the launcher finds it).
    #[arg(long, value_name = "DIR", global = true)]
    cache: Option<PathBuf>,
    #[command(subcommand)]
    command: WorkenvCommand,
}

#[derive(clap::Subcommand)]
enum WorkenvCommand {
    /// Every workenv: name, package version, size on disk, last use, valid or stale.
    ///
    /// Example: flavor workenv list --json
    List(ListArgs),
    /// One workenv in detail, with every package build it holds.
    ///
    /// Example: flavor workenv info hello
    Info(NameArgs),
    /// Remove what is broken (interrupted first runs, damaged builds, leftovers) and, with
    /// --older-than, whatever was not used for that many days.
    ///
    /// Example: flavor workenv clean --older-than 30
    Clean(CleanArgs),
    /// Remove one workenv entirely; its package unpacks again on its next run.
    ///
    /// Example: flavor workenv remove hello
    Remove(NameArgs),
}

#[derive(clap::Args)]
struct ListArgs {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct NameArgs {
    /// The workenv: a package's file name without `.psp` (a package path works too).
    name: String,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct CleanArgs {
    /// Also remove workenvs and package builds not used for this many days.
    #[arg(long, value_name = "DAYS")]
    older_than: Option<u64>,
    /// Only say what would be removed.
    #[arg(long, short = 'n')]
    dry_run: bool,
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

/// The cache root, found exactly as the launcher finds it (PSPF.md §7).
pub(crate) fn cache_root() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(root) = var("FLAVOR_CACHE") {
        return PathBuf::from(root);
    }
    if let Some(workenv) = var("FLAVOR_WORKENV")
        && let Some(root) = Path::new(&workenv).parent().and_then(Path::parent)
        && !root.as_os_str().is_empty()
    {
        return root.to_path_buf();
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return PathBuf::from(xdg).join("flavor");
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home).join(".cache").join("flavor");
    }
    std::env::temp_dir().join("flavor")
}

/// Bytes a tree takes on disk (allocated blocks), not following symbolic links and counting
/// hard-linked files once.
pub(crate) fn disk_usage(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            continue;
        }
        total = total.saturating_add(m.blocks().saturating_mul(512));
        if m.is_dir()
            && let Ok(rd) = fs::read_dir(&p)
        {
            todo.extend(rd.flatten().map(|e| e.path()));
        }
    }
    total
}

/// Read a small file without updating its access time where the kernel allows it, so that
/// looking at a workenv does not count as using it.
fn read_quietly(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    #[cfg(target_os = "linux")]
    const O_NOATIME: i32 = 0o1_000_000;
    #[cfg(not(target_os = "linux"))]
    const O_NOATIME: i32 = 0;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NOATIME)
        .open(path)
        .or_else(|_| File::open(path))
        .ok()?;
    let mut bytes = Vec::new();
    file.take(16 * 1024 * 1024).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Newest of access and change time of a file (change time only for directories, whose
/// access time any listing updates).
fn touched(path: &Path) -> Option<u64> {
    let m = fs::symlink_metadata(path).ok()?;
    let mtime = m.modified().ok().map(unix_seconds);
    let atime = if m.is_dir() {
        None
    } else {
        m.accessed().ok().map(unix_seconds)
    };
    mtime.max(atime)
}

#[derive(Debug, Clone, PartialEq)]
enum VersionState {
    /// Complete, and the build `<name>` points at.
    Current,
    /// Complete, but another build of a package with this file name is linked.
    Inactive,
    /// No completion marker: a first run crashed, was interrupted, or is running now.
    Incomplete,
    /// Marked complete, but files are missing.
    Damaged(String),
}

impl VersionState {
    fn label(&self) -> String {
        match self {
            VersionState::Current => "current".into(),
            VersionState::Inactive => "inactive".into(),
            VersionState::Incomplete => "incomplete".into(),
            VersionState::Damaged(why) => format!("damaged: {why}"),
        }
    }
    fn complete(&self) -> bool {
        matches!(self, VersionState::Current | VersionState::Inactive)
    }
}

/// One package build in flavor's layout (`versions/<hash>/`).
struct Version {
    hash: String,
    dir: PathBuf,
    package: Option<String>,
    version: Option<String>,
    state: VersionState,
    size: u64,
    last_use: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Flavor,
    Upstream,
    /// flavor's versions beside a real directory an upstream launcher wrote at `<name>`.
    Mixed,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::Flavor => "flavor",
            Layout::Upstream => "upstream",
            Layout::Mixed => "flavor+upstream",
        }
    }
}

enum Link {
    Symlink(PathBuf),
    Dir,
    Missing,
    Other,
}

/// Everything known about one workenv name.
struct Workenv {
    name: String,
    link: PathBuf,
    meta: PathBuf,
    link_kind: Link,
    layout: Layout,
    package: Option<String>,
    version: Option<String>,
    versions: Vec<Version>,
    /// The upstream workenv at `<name>/` is complete.
    upstream_complete: bool,
    size: u64,
    last_use: Option<u64>,
    /// Why the workenv cannot serve a launch as it stands; `None` = valid.
    stale: Option<String>,
}

fn package_of(json: &Value) -> (Option<String>, Option<String>) {
    let s = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    (
        s(&json["package"]["name"]).or_else(|| s(&json["package"])),
        s(&json["package"]["version"]).or_else(|| s(&json["version"])),
    )
}

fn inspect_version(versions: &Path, hash: &str, current: Option<&str>) -> Version {
    let dir = versions.join(hash);
    let ready = versions.join(format!("{hash}.ready"));
    let plan: Option<Value> = read_quietly(&ready).and_then(|b| serde_json::from_slice(&b).ok());
    let state = if fs::symlink_metadata(&ready).is_err() {
        VersionState::Incomplete
    } else if plan.is_none() {
        VersionState::Damaged("unreadable completion marker".into())
    } else if !dir.is_dir() {
        VersionState::Damaged("workenv directory missing".into())
    } else if let Some(check) = plan
        .as_ref()
        .and_then(|p| p["check"].as_str())
        .filter(|c| fs::symlink_metadata(c).is_err())
    {
        VersionState::Damaged(format!("{check} missing"))
    } else if current.is_some_and(|c| c != hash) {
        VersionState::Inactive
    } else {
        VersionState::Current
    };
    let (package, version) = plan.as_ref().map(package_of).unwrap_or_default();
    let lock = versions.join(format!("{hash}.lock"));
    Version {
        hash: hash.to_string(),
        size: disk_usage(&dir) + disk_usage(&ready) + disk_usage(&lock),
        last_use: touched(&ready).max(touched(&dir)),
        dir,
        package,
        version,
        state,
    }
}

fn inspect(workenvs: &Path, name: &str) -> Workenv {
    let link = workenvs.join(name);
    let meta = workenvs.join(format!(".{name}.pspf"));
    let link_kind = match fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {
            Link::Symlink(fs::read_link(&link).unwrap_or_default())
        }
        Ok(m) if m.is_dir() => Link::Dir,
        Ok(_) => Link::Other,
        Err(_) => Link::Missing,
    };
    let current = match &link_kind {
        Link::Symlink(target)
            if target.parent().and_then(Path::file_name) == Some("versions".as_ref()) =>
        {
            target.file_name().map(|f| f.to_string_lossy().into_owned())
        }
        _ => None,
    };
    let versions_dir = meta.join("versions");
    let mut hashes = BTreeSet::new();
    if let Ok(rd) = fs::read_dir(&versions_dir) {
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            match f.split_once('.') {
                None if e.path().is_dir() => {
                    hashes.insert(f);
                }
                Some((h, "ready")) if !h.is_empty() => {
                    hashes.insert(h.to_string());
                }
                _ => {}
            }
        }
    }
    let versions: Vec<Version> = hashes
        .iter()
        .map(|h| inspect_version(&versions_dir, h, current.as_deref()))
        .collect();
    let instance = meta.join("instance");
    let upstream_complete = matches!(link_kind, Link::Dir)
        && fs::symlink_metadata(instance.join("extract/complete")).is_ok();
    let layout = match (versions.is_empty(), &link_kind) {
        (true, _) => Layout::Upstream,
        (false, Link::Dir) => Layout::Mixed,
        (false, _) => Layout::Flavor,
    };
    let psp: Option<Value> =
        read_quietly(&meta.join("package/psp.json")).and_then(|b| serde_json::from_slice(&b).ok());
    let shown = versions
        .iter()
        .find(|v| v.state == VersionState::Current)
        .or_else(|| {
            versions
                .iter()
                .filter(|v| v.state.complete())
                .max_by_key(|v| v.last_use)
        });
    let (package, version) = match (shown, &psp) {
        (Some(v), _) if v.package.is_some() => (v.package.clone(), v.version.clone()),
        (_, Some(p)) => package_of(p),
        _ => (None, None),
    };
    let stale = match (&link_kind, layout) {
        (Link::Other, _) => Some(format!("{} is not a directory or link", link.display())),
        (_, Layout::Upstream) => match link_kind {
            Link::Dir if upstream_complete => None,
            Link::Dir => Some("no completion marker (an interrupted first run)".into()),
            Link::Symlink(_) => Some("link to a missing version".into()),
            _ => Some("bookkeeping without a workenv".into()),
        },
        (_, Layout::Mixed) if upstream_complete => None,
        (Link::Symlink(_), _) => {
            match versions.iter().find(|v| Some(&v.hash) == current.as_ref()) {
                Some(v) if v.state == VersionState::Current => None,
                Some(v) => Some(format!("the linked build is {}", v.state.label())),
                None => Some("link to a missing version".into()),
            }
        }
        _ if versions.iter().any(|v| v.state.complete()) => None,
        _ => Some("no complete package build".into()),
    };
    let mut last_use = versions.iter().filter_map(|v| v.last_use).max();
    for marker in [
        instance.join("package.checksum"),
        instance.join("extract/complete"),
        meta.join("package/psp.json"),
    ] {
        last_use = last_use.max(touched(&marker));
    }
    if matches!(link_kind, Link::Dir) {
        last_use = last_use.max(touched(&link));
    }
    let size = disk_usage(&meta)
        + match link_kind {
            Link::Dir => disk_usage(&link),
            _ => 0,
        };
    Workenv {
        name: name.to_string(),
        link,
        meta,
        link_kind,
        layout,
        package,
        version,
        versions,
        upstream_complete,
        size,
        last_use,
        stale,
    }
}

/// Every workenv under `root`, sorted by name.
fn scan(root: &Path) -> anyhow::Result<Vec<Workenv>> {
    let workenvs = root.join("workenv");
    let rd = match fs::read_dir(&workenvs) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", workenvs.display())),
    };
    let mut names = BTreeSet::new();
    for e in rd.flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = f.strip_prefix('.').and_then(|r| r.strip_suffix(".pspf")) {
            if !n.is_empty() && e.path().is_dir() {
                names.insert(n.to_string());
            }
        } else if !f.starts_with('.') && e.file_type().is_ok_and(|t| t.is_dir() || t.is_symlink()) {
            names.insert(f);
        }
    }
    Ok(names.iter().map(|n| inspect(&workenvs, n)).collect())
}

/// A workenv name from what the user typed: a name, or a package path (`dist/hello.psp` →
/// `hello`, as the launcher names it).
fn workenv_name(arg: &str) -> anyhow::Result<String> {
    let file = Path::new(arg)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = [".pspf", ".psp"]
        .iter()
        .find_map(|ext| file.strip_suffix(ext).filter(|s| !s.is_empty()))
        .unwrap_or(&file)
        .to_string();
    if name.is_empty() || name.starts_with('.') || (arg.contains('/') && file.is_empty()) {
        bail!("{arg:?} is not a workenv name");
    }
    Ok(name)
}

fn find(root: &Path, arg: &str) -> anyhow::Result<Workenv> {
    let name = workenv_name(arg)?;
    let all = scan(root)?;
    let known: Vec<String> = all.iter().map(|w| w.name.clone()).collect();
    all.into_iter().find(|w| w.name == name).with_context(|| {
        format!(
            "no workenv named {name:?} in {} ({})",
            root.display(),
            if known.is_empty() {
                "it holds none".to_string()
            } else {
                format!("there are: {}", known.join(", "))
            }
        )
    })
}

fn status(w: &Workenv) -> String {
    match &w.stale {
        None => "valid".into(),
        Some(why) => format!("stale: {why}"),
    }
}

fn what(w: &Workenv) -> String {
    match (&w.package, &w.version) {
        (Some(p), Some(v)) => format!("{p} {v}"),
        (Some(p), None) => p.clone(),
        _ => "?".into(),
    }
}

fn when(t: Option<u64>, now: u64) -> String {
    t.map(|t| ago(t, now)).unwrap_or_else(|| "never".into())
}

fn workenv_json(w: &Workenv) -> Value {
    json!({
        "name": w.name,
        "layout": w.layout.name(),
        "package": w.package,
        "version": w.version,
        "size": w.size,
        "last_use": w.last_use,
        "last_use_at": w.last_use.map(rfc3339),
        "valid": w.stale.is_none(),
        "status": if w.stale.is_none() { "valid" } else { "stale" },
        "reason": w.stale,
        "path": w.link.display().to_string(),
        "bookkeeping": w.meta.display().to_string(),
        "versions": w.versions.iter().map(|v| json!({
            "hash": v.hash,
            "path": v.dir.display().to_string(),
            "package": v.package,
            "version": v.version,
            "state": v.state.label(),
            "size": v.size,
            "last_use": v.last_use,
            "last_use_at": v.last_use.map(rfc3339),
        })).collect::<Vec<_>>(),
    })
}

fn list(root: &Path, args: ListArgs) -> anyhow::Result<ExitCode> {
    let all = scan(root)?;
    if args.json {
        print_json(&json!({
            "root": root.display().to_string(),
            "workenvs": all.iter().map(workenv_json).collect::<Vec<_>>(),
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let total: u64 = all.iter().map(|w| w.size).sum();
    println!(
        "cache root {} ({} workenv{}, {})",
        root.display(),
        all.len(),
        if all.len() == 1 { "" } else { "s" },
        human_bytes(total)
    );
    if all.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let now = unix_seconds(SystemTime::now());
    let width = all.iter().map(|w| w.name.len()).max().unwrap_or(4).max(4);
    let pwidth = all.iter().map(|w| what(w).len()).max().unwrap_or(7).max(7);
    println!(
        "  {:<width$}  {:<pwidth$}  {:>9}  {:<15}  status",
        "name", "package", "size", "last use"
    );
    for w in &all {
        println!(
            "  {:<width$}  {:<pwidth$}  {:>9}  {:<15}  {}",
            w.name,
            what(w),
            human_bytes(w.size),
            when(w.last_use, now),
            status(w)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn info(root: &Path, args: NameArgs) -> anyhow::Result<ExitCode> {
    let w = find(root, &args.name)?;
    if args.json {
        print_json(&workenv_json(&w));
        return Ok(ExitCode::SUCCESS);
    }
    let now = unix_seconds(SystemTime::now());
    println!("{}  ({} layout)", w.name, w.layout.name());
    println!("  package   {}", what(&w));
    println!("  status    {}", status(&w));
    println!("  size      {}", human_bytes(w.size));
    println!(
        "  last use  {}",
        match w.last_use {
            Some(t) => format!("{} ({})", rfc3339(t), ago(t, now)),
            None => "never".into(),
        }
    );
    match &w.link_kind {
        Link::Symlink(t) => println!("  workenv   {} → {}", w.link.display(), t.display()),
        Link::Dir => println!(
            "  workenv   {} (directory{})",
            w.link.display(),
            if w.upstream_complete {
                ", complete"
            } else {
                ", incomplete"
            }
        ),
        Link::Other => println!("  workenv   {} (not a directory)", w.link.display()),
        Link::Missing => println!("  workenv   {} (missing)", w.link.display()),
    }
    println!("  records   {}", w.meta.display());
    if !w.versions.is_empty() {
        println!("  builds");
        for v in &w.versions {
            let pkg = match (&v.package, &v.version) {
                (Some(p), Some(ver)) => format!("{p} {ver}"),
                _ => "?".into(),
            };
            println!(
                "    {}  {:<20}  {:>9}  {:<15}  {}",
                v.hash,
                pkg,
                human_bytes(v.size),
                when(v.last_use, now),
                v.state.label()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The extraction lock of a package build, held while it is removed; `None` when a launcher
/// holds it (an extraction is running right now).
fn lock_version(meta: &Path, hash: &str) -> Option<Option<File>> {
    let path = meta.join("versions").join(format!("{hash}.lock"));
    let Ok(file) = fs::OpenOptions::new().read(true).write(true).open(&path) else {
        return Some(None);
    };
    match file.try_lock() {
        Ok(()) => Some(Some(file)),
        Err(_) => None,
    }
}

/// One thing `clean` or `remove` deletes.
struct Removal {
    name: String,
    hash: Option<String>,
    reason: String,
    paths: Vec<PathBuf>,
    bytes: u64,
}

fn remove_paths(paths: &[PathBuf]) -> anyhow::Result<()> {
    for p in paths {
        super::extract::remove_any(p).with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}

/// Whether the process `pid` (decimal text) is alive.
fn alive(pid: &str) -> bool {
    !pid.is_empty()
        && pid.len() <= 10
        && pid.bytes().all(|b| b.is_ascii_digit())
        && pid != "0"
        && Path::new("/proc").join(pid).exists()
}

/// An upstream launcher is extracting into this workenv: its lock file names a live process.
fn upstream_busy(meta: &Path) -> bool {
    read_quietly(&meta.join("instance/extract/lock"))
        .is_some_and(|b| alive(String::from_utf8_lossy(&b).trim()))
}

/// Delete a removal while holding the locks of the builds it covers; returns `false` (and
/// deletes nothing) when a launcher is extracting one of them (flavor's: its build lock is
/// held; upstream's: its lock file or staging directory names a live process).
fn apply(w: &Workenv, r: &Removal, hashes: &[&str]) -> anyhow::Result<bool> {
    if r.hash.is_none() && upstream_busy(&w.meta) {
        return Ok(false);
    }
    let mut guards = Vec::new();
    for h in hashes {
        if alive(h) {
            return Ok(false);
        }
        match lock_version(&w.meta, h) {
            Some(g) => guards.push(g),
            None => return Ok(false),
        }
    }
    remove_paths(&r.paths)?;
    Ok(true)
}

fn whole(w: &Workenv, reason: String) -> Removal {
    let mut paths = vec![w.meta.clone()];
    if !matches!(w.link_kind, Link::Missing) {
        paths.insert(0, w.link.clone());
    }
    Removal {
        name: w.name.clone(),
        hash: None,
        reason,
        paths,
        bytes: w.size,
    }
}

fn version_removal(w: &Workenv, v: &Version, reason: String) -> Removal {
    let versions = w.meta.join("versions");
    let mut paths = vec![
        versions.join(format!("{}.ready", v.hash)),
        v.dir.clone(),
        versions.join(format!("{}.lock", v.hash)),
    ];
    if matches!(&w.link_kind, Link::Symlink(t) if t.file_name() == Some(v.hash.as_ref())) {
        paths.push(w.link.clone());
    }
    Removal {
        name: w.name.clone(),
        hash: Some(v.hash.clone()),
        reason,
        paths,
        bytes: v.size,
    }
}

/// What `clean` removes from one workenv.
fn plan_clean(w: &Workenv, cutoff: Option<u64>) -> Vec<Removal> {
    let unused = |t: Option<u64>| cutoff.is_some_and(|c| t.is_none_or(|t| t < c));
    let not_used = cutoff
        .map(|c| format!("not used since {}", rfc3339(c)))
        .unwrap_or_default();
    if unused(w.last_use) {
        return vec![whole(w, not_used)];
    }
    let any_complete = w.upstream_complete || w.versions.iter().any(|v| v.state.complete());
    if w.stale.is_some() && !any_complete {
        return vec![whole(w, w.stale.clone().unwrap_or_default())];
    }
    let mut out = Vec::new();
    for v in &w.versions {
        let reason = match &v.state {
            VersionState::Incomplete => Some("incomplete (an interrupted first run)".to_string()),
            VersionState::Damaged(why) => Some(format!("damaged: {why}")),
            _ if unused(v.last_use) => Some(not_used.clone()),
            _ => None,
        };
        if let Some(reason) = reason {
            out.push(version_removal(w, v, reason));
        }
    }
    if let Ok(rd) = fs::read_dir(w.meta.join("tmp")) {
        for e in rd.flatten() {
            let f = e.file_name().to_string_lossy().into_owned();
            out.push(Removal {
                name: w.name.clone(),
                hash: f.split('.').next().map(str::to_string),
                reason: "leftover staging directory".into(),
                bytes: disk_usage(&e.path()),
                paths: vec![e.path()],
            });
        }
    }
    out
}

fn report_removals(root: &Path, done: &[(Removal, bool)], dry_run: bool, json: bool) {
    let freed: u64 = done
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(r, _)| r.bytes)
        .sum();
    if json {
        print_json(&json!({
            "root": root.display().to_string(),
            "dry_run": dry_run,
            "freed": freed,
            "removed": done.iter().map(|(r, ok)| json!({
                "name": r.name,
                "build": r.hash,
                "reason": r.reason,
                "bytes": r.bytes,
                "removed": *ok && !dry_run,
                "skipped": (!ok).then_some("a launcher is unpacking it right now"),
            })).collect::<Vec<_>>(),
        }));
        return;
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    for (r, ok) in done {
        let what = match &r.hash {
            Some(h) => format!("{} (build {h})", r.name),
            None => r.name.clone(),
        };
        if *ok {
            println!("{verb} {what}: {} — {}", human_bytes(r.bytes), r.reason);
        } else {
            println!("skipped {what}: a launcher is unpacking it right now");
        }
    }
    println!(
        "{} {} in {}",
        if dry_run { "would free" } else { "freed" },
        human_bytes(freed),
        root.display()
    );
}

fn clean(root: &Path, args: CleanArgs) -> anyhow::Result<ExitCode> {
    let cutoff = args
        .older_than
        .map(|days| unix_seconds(SystemTime::now()).saturating_sub(days.saturating_mul(86_400)));
    let mut done = Vec::new();
    for w in scan(root)? {
        for r in plan_clean(&w, cutoff) {
            let hashes: Vec<&str> = match &r.hash {
                Some(h) => vec![h.as_str()],
                None => w.versions.iter().map(|v| v.hash.as_str()).collect(),
            };
            let ok = args.dry_run || apply(&w, &r, &hashes)?;
            done.push((r, ok));
        }
    }
    report_removals(root, &done, args.dry_run, args.json);
    Ok(ExitCode::SUCCESS)
}

fn remove(root: &Path, args: NameArgs) -> anyhow::Result<ExitCode> {
    let w = find(root, &args.name)?;
    let r = whole(&w, "removed on request".into());
    let hashes: Vec<&str> = w.versions.iter().map(|v| v.hash.as_str()).collect();
    if !apply(&w, &r, &hashes)? {
        bail!(
            "{}: a launcher is unpacking it right now; try again when it has started",
            w.name
        );
    }
    if args.json {
        print_json(&json!({
            "name": w.name, "removed": true, "bytes": r.bytes,
            "paths": r.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        }));
    } else {
        println!(
            "removed {} ({}); it unpacks again on its next run",
            w.name,
            human_bytes(r.bytes)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = args.cache.clone().unwrap_or_else(cache_root);
    match args.command {
        WorkenvCommand::List(a) => list(&root, a),
        WorkenvCommand::Info(a) => info(&root, a),
        WorkenvCommand::Clean(a) => clean(&root, a),
        WorkenvCommand::Remove(a) => remove(&root, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_names_or_package_paths() {
        assert_eq!(workenv_name("hello").unwrap(), "hello");
        assert_eq!(workenv_name("dist/hello.psp").unwrap(), "hello");
        assert_eq!(workenv_name("/x/app.pspf").unwrap(), "app");
        assert!(workenv_name("").is_err());
        assert!(workenv_name(".hello.pspf").is_err());
        assert!(workenv_name("..").is_err());
    }
}
