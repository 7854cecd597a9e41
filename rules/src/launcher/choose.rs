//! Which launcher goes in front of a target's package, in this order:
//!
//! 1. the one the user names: `--launcher PATH` (wins), else the target's `launcher` key
//!    (a path, or `builtin` for flavor's own launcher of the target's platform);
//! 2. flavor's own launcher for the platform: the one built into `flavor` when the platform is
//!    its own, else one `flavor launcher add` put in the registry;
//! 3. FlavorPack's Rust launcher for the platform, from the registry;
//! 4. FlavorPack's Go launcher for the platform, from the registry;
//!
//! else an error naming the platform, what was looked for and where, and how to get one.
//! Whatever is chosen is identified from its bytes; a launcher of another platform than the
//! target's is refused, never used.

use super::identify::{Identity, Kind, identify_file};
use super::registry::Registry;
use crate::Error;
use pspf::Platform;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where a chosen launcher came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `--launcher PATH`.
    Flag,
    /// The target's `launcher` key (a path).
    Key,
    /// Built into this `flavor`.
    Builtin,
    /// Installed with `flavor launcher add`.
    Registry,
}

impl Source {
    /// Its name in messages and `--json`: `--launcher`, `launcher key`, `builtin`, `added`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Flag => "--launcher",
            Source::Key => "launcher key",
            Source::Builtin => "builtin",
            Source::Registry => "added",
        }
    }
}

/// The launcher chosen for a target, and how.
#[derive(Debug, Clone)]
pub struct Chosen {
    /// The binary.
    pub path: PathBuf,
    /// What it is.
    pub identity: Identity,
    /// Where it came from.
    pub source: Source,
    /// What was looked at before it, in order (`builtin: a linux-x86_64 launcher`, `added
    /// flavor launcher: none at …`), for `flavor build -v`.
    pub passed_over: Vec<String>,
}

impl Chosen {
    /// One line for humans: `FlavorPack's Rust launcher (added, /path)`.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {})",
            self.identity.kind.describe(),
            self.source.name(),
            self.path.display()
        )
    }
}

/// What the user asked for: `launcher` key or `--launcher`.
#[derive(Debug, Clone, Copy)]
pub enum Asked<'a> {
    /// Nothing: the default order.
    Nothing,
    /// `builtin`: flavor's own launcher for the platform.
    Builtin,
    /// A binary, from `--launcher` or the key.
    Path(&'a Path, Source),
}

/// Why no launcher could be used.
#[derive(Debug)]
pub enum Refusal {
    /// The launcher asked for is for another platform.
    WrongPlatform {
        /// The binary.
        path: PathBuf,
        /// What it is.
        identity: Identity,
    },
    /// None of the places had one.
    NoneFound {
        /// What was looked for and where, in order.
        looked: Vec<String>,
    },
    /// A launcher could not be read or identified.
    Failed(Error),
}

/// The launchers a build can choose from: the builtin one, the registry, `--launcher`.
/// Identifications are remembered for the life of the value (one plan).
#[derive(Debug)]
pub struct Launchers {
    builtin: PathBuf,
    registry: Option<Registry>,
    flag: Option<PathBuf>,
    identified: Mutex<HashMap<PathBuf, Identity>>,
}

impl Launchers {
    /// The builtin launcher (a file), the registry to look in, and `--launcher`.
    pub fn new(builtin: PathBuf, registry: Option<Registry>, flag: Option<PathBuf>) -> Launchers {
        Launchers {
            builtin,
            registry,
            flag,
            identified: Mutex::new(HashMap::new()),
        }
    }

    /// The builtin launcher's file.
    pub fn builtin(&self) -> &Path {
        &self.builtin
    }

    /// The registry, if there is one.
    pub fn registry(&self) -> Option<&Registry> {
        self.registry.as_ref()
    }

    fn identify(&self, path: &Path) -> Result<Identity, Error> {
        let mut cache = self.identified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cache.get(path) {
            return Ok(found.clone());
        }
        let identity = identify_file(path)?;
        cache.insert(path.to_path_buf(), identity.clone());
        Ok(identity)
    }

    /// What the builtin launcher is.
    pub fn builtin_identity(&self) -> Result<Identity, Error> {
        self.identify(&self.builtin)
    }

    /// The launcher for `platform`, given what the target asked for (`--launcher` overrides
    /// `asked`).
    pub fn choose(&self, platform: Platform, asked: Asked<'_>) -> Result<Chosen, Refusal> {
        let asked = match &self.flag {
            Some(flag) => Asked::Path(flag, Source::Flag),
            None => asked,
        };
        if let Asked::Path(path, source) = asked {
            let identity = self.identify(path).map_err(Refusal::Failed)?;
            if identity.platform != platform {
                return Err(Refusal::WrongPlatform {
                    path: path.to_path_buf(),
                    identity,
                });
            }
            return Ok(Chosen {
                path: path.to_path_buf(),
                identity,
                source,
                passed_over: Vec::new(),
            });
        }
        let kinds: &[Kind] = match asked {
            Asked::Builtin => &[Kind::Flavor],
            _ => &super::registry::KINDS,
        };
        let mut looked = Vec::new();
        for &kind in kinds {
            if kind == Kind::Flavor {
                let builtin = self.builtin_identity().map_err(Refusal::Failed)?;
                if builtin.platform == platform {
                    return Ok(Chosen {
                        path: self.builtin.clone(),
                        identity: builtin,
                        source: Source::Builtin,
                        passed_over: looked,
                    });
                }
                looked.push(format!(
                    "flavor's builtin launcher: it is for {}",
                    builtin.platform
                ));
            }
            let Some(registry) = &self.registry else {
                looked.push(format!(
                    "added {}: no registry (neither XDG_DATA_HOME nor HOME is set)",
                    kind.describe()
                ));
                continue;
            };
            match registry.get(platform, kind).map_err(Refusal::Failed)? {
                Some(entry) => {
                    return Ok(Chosen {
                        path: entry.path,
                        identity: entry.identity,
                        source: Source::Registry,
                        passed_over: looked,
                    });
                }
                None => looked.push(format!(
                    "added {}: none at {}",
                    kind.describe(),
                    registry.path_of(platform, kind).display()
                )),
            }
        }
        Err(Refusal::NoneFound { looked })
    }
}

/// How to get a launcher for `platform`, for the error that found none.
pub fn how_to_get(platform: Platform) -> String {
    format!(
        "build flavor's launcher on a machine with the Rust target {triple} (`cargo build -p \
         flavor-launcher --profile launcher --target {triple}`, statically linked as the README \
         shows), or take FlavorPack's from its {platform} wheel (`pip download --no-deps \
         --only-binary=:all: --platform <its tag> flavorpack`, in flavor/helpers/bin/); then \
         `flavor launcher add PATH`",
        triple = platform.triple()
    )
}
