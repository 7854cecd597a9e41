//! `flavor workenv list` and `flavor workenv info`: the table, the detail view and their JSON.

use super::model::{Link, Workenv};
use super::scan::{find, scan};
use super::{ListArgs, NameArgs};
use crate::messages::{VersionInfo, WorkenvInfo, WorkenvList, print_document};
use crate::report::{ago, human_bytes, rfc3339, unix_seconds};
use crate::stdout::outln;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

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

fn workenv_info(w: &Workenv) -> WorkenvInfo {
    WorkenvInfo {
        name: w.paths.name.clone(),
        layout: w.layout.name(),
        package: w.package.clone(),
        version: w.version.clone(),
        size: w.size,
        last_use: w.last_use,
        last_use_at: w.last_use.map(rfc3339),
        valid: w.stale.is_none(),
        status: if w.stale.is_none() { "valid" } else { "stale" },
        reason: w.stale.clone(),
        path: w.paths.link(),
        bookkeeping: w.paths.meta(),
        versions: w
            .versions
            .iter()
            .map(|v| VersionInfo {
                hash: v.build.hash.clone(),
                path: v.build.dir(),
                package: v.package.clone(),
                version: v.version.clone(),
                state: v.state.label(),
                in_use: v.in_use,
                size: v.size,
                last_use: v.last_use,
                last_use_at: v.last_use.map(rfc3339),
            })
            .collect(),
    }
}

pub(super) fn list(root: &Path, args: ListArgs) -> anyhow::Result<ExitCode> {
    let all = scan(root)?;
    if args.json {
        print_document(&WorkenvList {
            root: root.to_path_buf(),
            workenvs: all.iter().map(workenv_info).collect(),
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let total: u64 = all.iter().map(|w| w.size).sum();
    outln!(
        "cache root {} ({} workenv{}, {})",
        root.display(),
        all.len(),
        if all.len() == 1 { "" } else { "s" },
        human_bytes(total)
    )?;
    if all.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let now = unix_seconds(SystemTime::now());
    let width = all
        .iter()
        .map(|w| w.paths.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let pwidth = all.iter().map(|w| what(w).len()).max().unwrap_or(7).max(7);
    outln!(
        "  {:<width$}  {:<pwidth$}  {:>9}  {:<15}  status",
        "name",
        "package",
        "size",
        "last use"
    )?;
    for w in &all {
        outln!(
            "  {:<width$}  {:<pwidth$}  {:>9}  {:<15}  {}",
            w.paths.name,
            what(w),
            human_bytes(w.size),
            when(w.last_use, now),
            status(w)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn info(root: &Path, args: NameArgs) -> anyhow::Result<ExitCode> {
    let w = find(root, &args.name)?;
    if args.json {
        print_document(&workenv_info(&w))?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = unix_seconds(SystemTime::now());
    outln!("{}  ({} layout)", w.paths.name, w.layout.name())?;
    outln!("  package   {}", what(&w))?;
    outln!("  status    {}", status(&w))?;
    outln!("  size      {}", human_bytes(w.size))?;
    outln!(
        "  last use  {}",
        match w.last_use {
            Some(t) => format!("{} ({})", rfc3339(t), ago(t, now)),
            None => "never".into(),
        }
    )?;
    match &w.link_kind {
        Link::Symlink(t) => outln!("  workenv   {} → {}", w.paths.link().display(), t.display()),
        Link::Dir => outln!(
            "  workenv   {} (directory{})",
            w.paths.link().display(),
            if w.upstream_complete {
                ", complete"
            } else {
                ", incomplete"
            }
        ),
        Link::Other => outln!("  workenv   {} (not a directory)", w.paths.link().display()),
        Link::Missing => outln!("  workenv   {} (missing)", w.paths.link().display()),
    }?;
    outln!("  records   {}", w.paths.meta().display())?;
    if !w.versions.is_empty() {
        outln!("  builds")?;
        for v in &w.versions {
            let pkg = match (&v.package, &v.version) {
                (Some(p), Some(ver)) => format!("{p} {ver}"),
                _ => "?".into(),
            };
            outln!(
                "    {}  {:<20}  {:>9}  {:<15}  {}",
                v.build.hash,
                pkg,
                human_bytes(v.size),
                when(v.last_use, now),
                if v.in_use {
                    format!("{}, in use", v.state.label())
                } else {
                    v.state.label()
                }
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
