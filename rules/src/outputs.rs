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
use pspf::Platform;
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

/// The file name a target without `output` gets: `<package>-<target>.psp` when the target is
/// named after its platform, else `<package>-<target>-<platform>.psp` (`.exe` for Windows).
pub fn default_file(package: &str, t: &Target, platform: Platform) -> String {
    let ext = match platform {
        Platform::WindowsX86_64 => "exe",
        _ => "psp",
    };
    if Platform::from_flavor_name(&t.name.value) == Some(platform) {
        format!("{package}-{}.{ext}", t.name.value)
    } else {
        format!("{package}-{}-{platform}.{ext}", t.name.value)
    }
}

/// The configured (release) path of `pkg`'s package for `target` on `platform` (`None`: the
/// package has no targets).
pub fn configured_path(
    m: &Manifest,
    pkg: &Package,
    target: Option<&Target>,
    platform: Platform,
) -> PathBuf {
    let dist = m.dir.join("dist");
    let name = &pkg.name.value;
    match target {
        None => dist.join(format!("{name}.psp")),
        Some(t) => match &t.output {
            Some(o) => m.dir.join(&o.value),
            None => dist.join(default_file(name, t, platform)),
        },
    }
}

/// Every package file a build of `m` in `profile` may write, with its target name (a target
/// without `platform` is taken to be for this machine's; none when it has no platform).
pub fn package_paths(m: &Manifest, profile: Profile) -> Vec<(Option<String>, PathBuf)> {
    let Some(pkg) = &m.package else {
        return Vec::new();
    };
    let host = Platform::host();
    let mut paths = Vec::new();
    if pkg.targets.is_empty()
        && let Some(h) = host
    {
        paths.push((
            None,
            profile_path(&configured_path(m, pkg, None, h), profile),
        ));
    }
    for t in &pkg.targets {
        if let Some(platform) = t.platform.as_ref().map(|p| p.value).or(host) {
            let path = profile_path(&configured_path(m, pkg, Some(t), platform), profile);
            paths.push((Some(t.name.value.clone()), path));
        }
    }
    paths
}

/// Every package file any build of `m` writes (both profiles).
pub fn all_package_paths(m: &Manifest) -> Vec<PathBuf> {
    Profile::ALL
        .iter()
        .flat_map(|p| package_paths(m, *p))
        .map(|(_, path)| path)
        .collect()
}
