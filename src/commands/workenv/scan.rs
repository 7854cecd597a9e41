//! Finding and inspecting workenvs under the cache root: each build's state, the package in
//! use, size, last use and whether the workenv can serve a launch; names typed by the user.

use super::disk::{read_quietly, touched};
use super::model::{LayoutKind, Link, Version, VersionState, Workenv};
use crate::report::unix_seconds;
use anyhow::{Context, bail};
use flavor_workenv::files::disk_usage;
use flavor_workenv::layout::{strip_package_extension, workenv_names, workenvs_dir};
use flavor_workenv::prune::build_last_use;
use flavor_workenv::usage::in_use;
use flavor_workenv::{BuildLayout, ExecPlan, WorkenvLayout};
use serde_json::Value;
use std::fs;
use std::path::Path;

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

fn inspect_version(build: BuildLayout, current: Option<&str>) -> Version {
    let (dir, ready) = (build.dir(), build.ready());
    let plan = read_quietly(&ready).map(|b| ExecPlan::from_json(&b, &ready));
    let state = match &plan {
        _ if fs::symlink_metadata(&ready).is_err() => VersionState::Incomplete,
        None => VersionState::Damaged("unreadable completion marker".into()),
        Some(Err(e)) => VersionState::Damaged(format!("unreadable completion marker ({e})")),
        Some(Ok(_)) if !dir.is_dir() => VersionState::Damaged("workenv directory missing".into()),
        Some(Ok(ExecPlan {
            check: Some(check), ..
        })) if fs::symlink_metadata(check).is_err() => {
            VersionState::Damaged(format!("{} missing", check.display()))
        }
        _ if current.is_some_and(|c| c != build.hash) => VersionState::Inactive,
        _ => VersionState::Current,
    };
    let (package, version) = match plan {
        Some(Ok(p)) => (Some(p.package), Some(p.version)),
        _ => (None, None),
    };
    let lock = build.lock();
    Version {
        size: disk_usage(&dir) + disk_usage(&ready) + disk_usage(&lock),
        last_use: build_last_use(&build).map(unix_seconds),
        in_use: in_use(&build),
        build,
        package,
        version,
        state,
    }
}

fn inspect(root: &Path, name: &str) -> Workenv {
    let paths = WorkenvLayout::new(root, name);
    let (link, meta) = (paths.link(), paths.meta());
    let link_kind = match fs::symlink_metadata(&link) {
        Ok(m) if m.file_type().is_symlink() => {
            Link::Symlink(fs::read_link(&link).unwrap_or_default())
        }
        Ok(m) if m.is_dir() => Link::Dir,
        Ok(_) => Link::Other,
        Err(_) => Link::Missing,
    };
    let current = match &link_kind {
        Link::Symlink(target) => WorkenvLayout::linked_hash(target),
        _ => None,
    };
    let versions: Vec<Version> = paths
        .build_hashes()
        .into_iter()
        .map(|h| inspect_version(paths.build(h), current.as_deref()))
        .collect();
    let upstream_complete =
        matches!(link_kind, Link::Dir) && fs::symlink_metadata(paths.upstream_complete()).is_ok();
    let layout = match (versions.is_empty(), &link_kind) {
        (true, _) => LayoutKind::Upstream,
        (false, Link::Dir) => LayoutKind::Mixed,
        (false, _) => LayoutKind::Flavor,
    };
    let psp: Option<Value> =
        read_quietly(&paths.package_json()).and_then(|b| serde_json::from_slice(&b).ok());
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
        (_, LayoutKind::Upstream) => match link_kind {
            Link::Dir if upstream_complete => None,
            Link::Dir => Some("no completion marker (an interrupted first run)".into()),
            Link::Symlink(_) => Some("link to a missing version".into()),
            _ => Some("bookkeeping without a workenv".into()),
        },
        (_, LayoutKind::Mixed) if upstream_complete => None,
        (Link::Symlink(_), _) => {
            match versions
                .iter()
                .find(|v| Some(&v.build.hash) == current.as_ref())
            {
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
        paths.package_checksum(),
        paths.upstream_complete(),
        paths.package_json(),
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
        paths,
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
pub(super) fn scan(root: &Path) -> anyhow::Result<Vec<Workenv>> {
    let names =
        workenv_names(root).with_context(|| format!("reading {}", workenvs_dir(root).display()))?;
    Ok(names.iter().map(|n| inspect(root, n)).collect())
}

/// A workenv name from what the user typed: a name, or a package path (`dist/hello.psp` →
/// `hello`, as the launcher names it).
fn workenv_name(arg: &str) -> anyhow::Result<String> {
    let file = Path::new(arg)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = strip_package_extension(&file).to_string();
    if name.is_empty() || name.starts_with('.') || (arg.contains('/') && file.is_empty()) {
        bail!("{arg:?} is not a workenv name");
    }
    Ok(name)
}

pub(super) fn find(root: &Path, arg: &str) -> anyhow::Result<Workenv> {
    let name = workenv_name(arg)?;
    let all = scan(root)?;
    let known: Vec<String> = all.iter().map(|w| w.paths.name.clone()).collect();
    all.into_iter()
        .find(|w| w.paths.name == name)
        .with_context(|| {
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
