//! The launcher registry: launchers `flavor launcher add` installed for building packages of
//! platforms this `flavor` has no builtin launcher for, under the user's data directory
//! (`<data dir>/launchers/<platform>/<kind>`, see `flavor_workenv::dirs`).
//!
//! One launcher per platform and kind (flavor's own, FlavorPack's Rust, FlavorPack's Go); a
//! new one of the same platform and kind replaces the old. A binary is identified from its
//! bytes when it is added ([`identify`](super::identify())) and again whenever it is used, and
//! only what the current user owns and others cannot write is used: a launcher ends up at the
//! front of every package built with it.

use super::identify::{Identity, Kind, identify, identify_file};
use crate::Error;
use pspf::Platform;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A launcher in the registry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where it is stored.
    pub path: PathBuf,
    /// What it is.
    pub identity: Identity,
}

/// The registry in a directory.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// The file name a launcher of `kind` is kept under.
fn file_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Flavor => "flavor-launcher",
        Kind::UpstreamRust => "flavor-rs-launcher",
        Kind::UpstreamGo => "flavor-go-launcher",
        Kind::Unknown => "unknown-launcher",
    }
}

/// The kinds the registry keeps, in the order a build prefers them.
pub const KINDS: [Kind; 3] = [Kind::Flavor, Kind::UpstreamRust, Kind::UpstreamGo];

impl Registry {
    /// The registry at `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Registry {
        Registry { dir: dir.into() }
    }

    /// The user's registry (`<data dir>/launchers`), when there is a data directory.
    pub fn user() -> Option<Registry> {
        flavor_workenv::dirs::launcher_registry_dir().map(Registry::at)
    }

    /// The registry's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the launcher of `platform` and `kind` is kept (whether or not it is there).
    pub fn path_of(&self, platform: Platform, kind: Kind) -> PathBuf {
        self.dir.join(platform.name()).join(file_name(kind))
    }

    /// Identify the launcher at `source` and keep a copy (mode 0755, written atomically).
    /// Refuses a binary that is no known launcher, or whose platform no build could use.
    pub fn add(&self, source: &Path) -> Result<Entry, Error> {
        let bytes = fs::read(source).map_err(|e| Error::LauncherUnreadable {
            path: source.to_path_buf(),
            source: e,
        })?;
        let identity = identify(source, &bytes)?;
        if identity.kind == Kind::Unknown {
            return Err(Error::NotALauncher {
                path: source.to_path_buf(),
                reason: format!(
                    "it is a {} executable, but neither flavor's launcher nor a FlavorPack \
                     Rust or Go launcher; a build can still use it through a target's \
                     `launcher` key or --launcher",
                    identity.platform
                ),
            });
        }
        let path = self.path_of(identity.platform, identity.kind);
        let dir = path.parent().unwrap_or(&self.dir);
        let io = |e| Error::LauncherRegistry {
            path: dir.to_path_buf(),
            source: e,
        };
        fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".add-")
            .tempfile_in(dir)
            .map_err(io)?;
        tmp.write_all(&bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(Entry { path, identity })
    }

    /// The launcher of `platform` and `kind`, identified, when the registry has one. A file
    /// that is not the current user's, that others may write, or that is not what its place
    /// says (another platform or kind) is an error, never used.
    pub fn get(&self, platform: Platform, kind: Kind) -> Result<Option<Entry>, Error> {
        let path = self.path_of(platform, kind);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::LauncherUnreadable { path, source: e }),
        };
        let uid = flavor_workenv::ownership::current_uid();
        if meta.uid() != uid || meta.mode() & 0o022 != 0 {
            return Err(Error::UntrustedLauncher {
                path,
                owner: meta.uid(),
                mode: meta.mode() & 0o7777,
            });
        }
        let identity = identify_file(&path)?;
        if identity.platform != platform || identity.kind != kind {
            return Err(Error::NotALauncher {
                path,
                reason: format!(
                    "it is {} for {}, not {} for {platform}; add the right one again with \
                     `flavor launcher add`",
                    identity.kind.describe(),
                    identity.platform,
                    kind.describe()
                ),
            });
        }
        Ok(Some(Entry { path, identity }))
    }

    /// Every launcher in the registry, by platform and then in the order builds prefer them.
    pub fn entries(&self) -> Result<Vec<Entry>, Error> {
        let mut out = Vec::new();
        for platform in Platform::ALL {
            for kind in KINDS {
                out.extend(self.get(*platform, kind)?);
            }
        }
        Ok(out)
    }

    /// Remove the launcher of `platform` and `kind`; whether there was one.
    pub fn remove(&self, platform: Platform, kind: Kind) -> Result<bool, Error> {
        let path = self.path_of(platform, kind);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::LauncherRegistry { path, source: e }),
        }
    }
}
