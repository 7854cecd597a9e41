//! Finding and inspecting workenvs under the cache root: each build's state, the package in
//! use, size, last use and whether the workenv can serve a launch; names typed by the user.

use super::disk::{disk_usage, read_quietly, touched};
use super::model::{Layout, Link, Version, VersionState, Workenv};
use anyhow::{Context, bail};
use serde_json::Value;
use std::collections::BTreeSet;
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
pub(super) fn scan(root: &Path) -> anyhow::Result<Vec<Workenv>> {
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

pub(super) fn find(root: &Path, arg: &str) -> anyhow::Result<Workenv> {
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
