//! What is known about a workenv and the package builds it holds: their layout, link kind,
//! state and last use.

use flavor_workenv::{BuildLayout, WorkenvLayout};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum VersionState {
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
    pub(super) fn label(&self) -> String {
        match self {
            VersionState::Current => "current".into(),
            VersionState::Inactive => "inactive".into(),
            VersionState::Incomplete => "incomplete".into(),
            VersionState::Damaged(why) => format!("damaged: {why}"),
        }
    }
    pub(super) fn complete(&self) -> bool {
        matches!(self, VersionState::Current | VersionState::Inactive)
    }
}

/// One package build in flavor's layout (`versions/<hash>/`).
pub(super) struct Version {
    pub(super) build: BuildLayout,
    pub(super) package: Option<String>,
    pub(super) version: Option<String>,
    pub(super) state: VersionState,
    pub(super) size: u64,
    pub(super) last_use: Option<u64>,
    /// A process runs from it, or a launcher unpacks it, right now.
    pub(super) in_use: bool,
}

/// Which launchers' layout a workenv is in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum LayoutKind {
    Flavor,
    Upstream,
    /// flavor's versions beside a real directory an upstream launcher wrote at `<name>`.
    Mixed,
}

impl LayoutKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            LayoutKind::Flavor => "flavor",
            LayoutKind::Upstream => "upstream",
            LayoutKind::Mixed => "flavor+upstream",
        }
    }
}

pub(super) enum Link {
    Symlink(PathBuf),
    Dir,
    Missing,
    Other,
}

/// Everything known about one workenv name.
pub(super) struct Workenv {
    /// Where its files are (`paths.name` is the workenv name).
    pub(super) paths: WorkenvLayout,
    pub(super) link_kind: Link,
    pub(super) layout: LayoutKind,
    pub(super) package: Option<String>,
    pub(super) version: Option<String>,
    pub(super) versions: Vec<Version>,
    /// The upstream workenv at `<name>/` is complete.
    pub(super) upstream_complete: bool,
    pub(super) size: u64,
    pub(super) last_use: Option<u64>,
    /// Why the workenv cannot serve a launch as it stands; `None` = valid.
    pub(super) stale: Option<String>,
}
