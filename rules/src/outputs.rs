//! Where a package's files are written, per build profile.
//!
//! A release build (`flavor build --release`) writes each package where the manifest says:
//! `dist/<name>.psp` beside a manifest without `[[target]]`, else each target's `output`
//! (default `dist/<name>-<target>.psp`). A debug build (the default, also of `run` and
//! `watch`) writes the same file name into a `debug/` directory beside it —
//! `dist/debug/<name>.psp` — so a debug build never replaces a release package, as cargo
//! keeps `target/debug` and `target/release` apart.
//!
//! ```
//! use flavor_rules::outputs::{Profile, profile_path};
//! use std::path::Path;
//! let release = Path::new("/ws/dist/hello.psp");
//! assert_eq!(profile_path(release, Profile::Release), release);
//! assert_eq!(profile_path(release, Profile::Debug), Path::new("/ws/dist/debug/hello.psp"));
//! ```

use crate::manifest::{Manifest, Package, Target};
use std::path::{Path, PathBuf};

/// Debug or release: how hard slots are compressed, and where packages are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// The default build.
    Debug,
    /// `--release`.
    Release,
}

impl Profile {
    /// The profile of a build with or without `--release`.
    pub fn of(release: bool) -> Profile {
        if release {
            Profile::Release
        } else {
            Profile::Debug
        }
    }

    /// `debug` or `release`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }

    /// Both profiles.
    pub const ALL: [Profile; 2] = [Profile::Debug, Profile::Release];
}

/// The directory debug builds write into, beside the configured path.
pub const DEBUG_DIR: &str = "debug";

/// Where `profile` writes the package whose configured (release) path is `release_path`.
pub fn profile_path(release_path: &Path, profile: Profile) -> PathBuf {
    match profile {
        Profile::Release => release_path.to_path_buf(),
        Profile::Debug => {
            let dir = release_path.parent().unwrap_or(Path::new(""));
            let file = release_path.file_name().unwrap_or_default();
            dir.join(DEBUG_DIR).join(file)
        }
    }
}

/// The configured (release) path of `pkg`'s package for `target` (`None`: the package has
/// no targets).
pub fn configured_path(m: &Manifest, pkg: &Package, target: Option<&Target>) -> PathBuf {
    let dist = m.dir.join("dist");
    let name = &pkg.name.value;
    match target {
        None => dist.join(format!("{name}.psp")),
        Some(t) => match &t.output {
            Some(o) => m.dir.join(&o.value),
            None => dist.join(format!("{name}-{}.psp", t.name.value)),
        },
    }
}

/// Every package file a build of `m` in `profile` writes, with its target name.
pub fn package_paths(m: &Manifest, profile: Profile) -> Vec<(Option<String>, PathBuf)> {
    let Some(pkg) = &m.package else {
        return Vec::new();
    };
    if pkg.targets.is_empty() {
        return vec![(None, profile_path(&configured_path(m, pkg, None), profile))];
    }
    pkg.targets
        .iter()
        .map(|t| {
            let path = profile_path(&configured_path(m, pkg, Some(t)), profile);
            (Some(t.name.value.clone()), path)
        })
        .collect()
}

/// Every package file any build of `m` writes (both profiles).
pub fn all_package_paths(m: &Manifest) -> Vec<PathBuf> {
    Profile::ALL
        .iter()
        .flat_map(|p| package_paths(m, *p))
        .map(|(_, path)| path)
        .collect()
}
