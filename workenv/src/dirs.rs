//! Where flavor keeps per-user state, found from the environment the same way by the
//! launcher, `flavor workenv`, `flavor key` and signing.
//!
//! - The **cache root** (work environments): `$FLAVOR_CACHE`, else the grandparent of
//!   `$FLAVOR_WORKENV` (so a package started by another package shares its root), else
//!   `$XDG_CACHE_HOME/flavor`, else `$HOME/.cache/flavor`, else `<temp dir>/flavor-<uid>`:
//!   per user, because the temp dir is shared (a launch must never use what another user put
//!   there; see [`crate::ownership`]).
//! - The **downloads directory** ([`downloads_dir`]): `<cache root>/downloads`, files builds
//!   fetched by sha256, reused by every workspace.
//! - The **config directory**: `$XDG_CONFIG_HOME/flavor`, else `$HOME/.config/flavor`.
//! - The **trusted-keys directory** (keys `strict` validation accepts):
//!   `$FLAVOR_TRUSTED_KEYS_DIR`, else `$FLAVOR_CONFIG_DIR/trusted-keys`, else
//!   `<config dir>/trusted-keys`.
//! - The **per-user signing key directory**: `<config dir>/keys`, holding
//!   [`PRIVATE_KEY_FILE`] and [`PUBLIC_KEY_FILE`].
//! - The **data directory**: `$XDG_DATA_HOME/flavor`, else `$HOME/.local/share/flavor`; it
//!   holds the **launcher registry** (`<data dir>/launchers/<platform>/`), the launchers
//!   `flavor launcher add` installed for building packages of other platforms.
//!
//! An empty variable counts as unset.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

fn non_empty(name: &str) -> Option<OsString> {
    env::var_os(name).filter(|v| !v.is_empty())
}

/// Which setting a cache root came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// `$FLAVOR_CACHE`.
    FlavorCache,
    /// The grandparent of `$FLAVOR_WORKENV`.
    FlavorWorkenv,
    /// `$XDG_CACHE_HOME/flavor`.
    XdgCacheHome,
    /// `$HOME/.cache/flavor`.
    Home,
    /// `<temp dir>/flavor-<uid>`, when none of the above is set.
    TempDir,
}

/// The cache root and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRoot {
    /// The directory.
    pub path: PathBuf,
    /// The setting it came from.
    pub source: RootSource,
}

impl CacheRoot {
    /// Find the cache root from the environment (see the module docs).
    pub fn from_env() -> CacheRoot {
        let found = |path: PathBuf, source| CacheRoot { path, source };
        if let Some(root) = non_empty("FLAVOR_CACHE") {
            return found(PathBuf::from(root), RootSource::FlavorCache);
        }
        if let Some(workenv) = non_empty("FLAVOR_WORKENV")
            && let Some(root) = Path::new(&workenv).parent().and_then(Path::parent)
            && !root.as_os_str().is_empty()
        {
            return found(root.to_path_buf(), RootSource::FlavorWorkenv);
        }
        if let Some(xdg) = non_empty("XDG_CACHE_HOME") {
            return found(PathBuf::from(xdg).join("flavor"), RootSource::XdgCacheHome);
        }
        if let Some(home) = non_empty("HOME") {
            return found(
                PathBuf::from(home).join(".cache").join("flavor"),
                RootSource::Home,
            );
        }
        let per_user = format!("flavor-{}", crate::ownership::current_uid());
        found(env::temp_dir().join(per_user), RootSource::TempDir)
    }

    /// Whether the root may be a symbolic link: one the user chose may; the fallback in the
    /// shared temp dir must be a real directory of the user's own, since anyone could have
    /// made a link there.
    pub fn may_be_link(&self) -> bool {
        self.source != RootSource::TempDir
    }
}

/// The cache root directory (see [`CacheRoot::from_env`]).
pub fn cache_root() -> PathBuf {
    CacheRoot::from_env().path
}

/// Files builds download by digest (the wheels and interpreters of `[python]` packages), shared
/// by every workspace of the user: `<cache root>/downloads/<sha256>/<file name>`.
pub fn downloads_dir() -> PathBuf {
    cache_root().join("downloads")
}

/// The per-user flavor configuration directory: `$XDG_CONFIG_HOME/flavor`, else
/// `$HOME/.config/flavor`; `None` without either.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(x) = non_empty("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(x).join("flavor"));
    }
    non_empty("HOME").map(|h| PathBuf::from(h).join(".config").join("flavor"))
}

/// The directory of keys that `strict` validation accepts: `$FLAVOR_TRUSTED_KEYS_DIR`, else
/// `$FLAVOR_CONFIG_DIR/trusted-keys`, else `<config dir>/trusted-keys`.
pub fn trusted_keys_dir() -> Option<PathBuf> {
    if let Some(d) = non_empty("FLAVOR_TRUSTED_KEYS_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = non_empty("FLAVOR_CONFIG_DIR") {
        return Some(PathBuf::from(d).join("trusted-keys"));
    }
    config_dir().map(|d| d.join("trusted-keys"))
}

/// The directory of the per-user signing key: `<config dir>/keys`.
pub fn user_key_dir() -> Option<PathBuf> {
    config_dir().map(|d| d.join("keys"))
}

/// The private key's file in a key directory ([`user_key_dir`], or one `flavor keygen
/// --out-dir` wrote): PEM PKCS#8, mode 0600.
pub const PRIVATE_KEY_FILE: &str = "flavor-private.key";

/// The public key's file beside [`PRIVATE_KEY_FILE`]: PEM SPKI.
pub const PUBLIC_KEY_FILE: &str = "flavor-public.key";

/// The per-user data directory: `$XDG_DATA_HOME/flavor`, else `$HOME/.local/share/flavor`;
/// `None` without either.
pub fn data_dir() -> Option<PathBuf> {
    if let Some(x) = non_empty("XDG_DATA_HOME") {
        return Some(PathBuf::from(x).join("flavor"));
    }
    non_empty("HOME").map(|h| PathBuf::from(h).join(".local").join("share").join("flavor"))
}

/// The launcher registry: `<data dir>/launchers`, one directory per platform.
pub fn launcher_registry_dir() -> Option<PathBuf> {
    data_dir().map(|d| d.join("launchers"))
}
