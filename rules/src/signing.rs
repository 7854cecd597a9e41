//! Which key signs a package: `[signing] private_key` (a PEM file), `key_seed_env` (a seed in
//! an environment variable, for CI), or else the user's own key in
//! `$XDG_CONFIG_HOME/flavor/keys/` (default `~/.config/flavor/keys/`), created on first use,
//! announced once and added to the launcher's trusted keys. Keys are never written into the
//! repository.

use crate::Error;
use crate::manifest::Package;
use pspf::keys::{SigningKey, private_key_from_pem, private_key_to_pem, public_key_to_pem};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use flavor_workenv::dirs::{PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, trusted_keys_dir, user_key_dir};

/// Write `text` to a new temporary file (0600) in `dir` whose name no other process uses.
fn write_temp(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    for attempt in 0u32..100 {
        let tmp = dir.join(format!(".{name}.{}.{attempt}.tmp", std::process::id()));
        let mut f = match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.sync_all()) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        return Ok(tmp);
    }
    Err(std::io::Error::other(format!(
        "no free temporary name for {name} in {}",
        dir.display()
    )))
}

/// Write a key pair into `dir` (0700) as [`PRIVATE_KEY_FILE`] (0600) and [`PUBLIC_KEY_FILE`].
pub fn write_key_pair(dir: &Path, key: &SigningKey) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let write = |name: &str, text: &str| -> std::io::Result<()> {
        let tmp = write_temp(dir, name, text)?;
        fs::rename(&tmp, dir.join(name)).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    };
    write(PRIVATE_KEY_FILE, &private_key_to_pem(key))?;
    write(PUBLIC_KEY_FILE, &public_key_to_pem(&key.verifying_key()))
}

/// Install `key` as the key pair in `dir` unless a private key is already there, never
/// replacing one: two builds creating the user's key at once agree on a single key. Returns
/// the key in place and whether it is `key` (i.e. this call created it).
fn create_key_pair(dir: &Path, key: SigningKey) -> std::io::Result<(SigningKey, bool)> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let private = dir.join(PRIVATE_KEY_FILE);
    let tmp = write_temp(dir, PRIVATE_KEY_FILE, &private_key_to_pem(&key))?;
    // A hard link, unlike a rename, fails when the name exists: the first writer wins.
    let linked = fs::hard_link(&tmp, &private);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            let public = write_temp(
                dir,
                PUBLIC_KEY_FILE,
                &public_key_to_pem(&key.verifying_key()),
            )?;
            fs::rename(&public, dir.join(PUBLIC_KEY_FILE))?;
            Ok((key, true))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(&private)?;
            let existing = private_key_from_pem(&text)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", private.display())))?;
            Ok((existing, false))
        }
        Err(e) => Err(e),
    }
}

/// Add a public key to the trusted-keys directory (as `<short fingerprint>.pub`).
pub fn trust_key(key: &pspf::keys::VerifyingKey) -> std::io::Result<PathBuf> {
    let dir = trusted_keys_dir().ok_or_else(|| {
        std::io::Error::other("no HOME or XDG_CONFIG_HOME to keep trusted keys in")
    })?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let fp = pspf::keys::Fingerprint::of(key.as_bytes());
    let path = dir.join(format!("{fp}.pub"));
    fs::write(&path, public_key_to_pem(key))?;
    Ok(path)
}

/// A resolved signing key and, when it was just created, a line to tell the user.
pub struct ResolvedKey {
    /// The key.
    pub key: SigningKey,
    /// "created your signing key in …", once.
    pub announcement: Option<String>,
}

/// Resolve the signing key of `pkg`, whose manifest lives in `dir`. Without `create`, a
/// missing per-user key is replaced by a throwaway one instead of being created.
pub fn resolve(pkg: &Package, dir: &Path, create: bool) -> Result<ResolvedKey, Error> {
    if let Some(file) = &pkg.signing.private_key {
        let path = dir.join(&file.value);
        let bad = |reason: String| Error::PrivateKey {
            path: path.clone(),
            reason,
        };
        let text = fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
        let key = private_key_from_pem(&text).map_err(|e| bad(e.to_string()))?;
        return Ok(ResolvedKey {
            key,
            announcement: None,
        });
    }
    if let Some(var) = &pkg.signing.key_seed_env {
        let seed = std::env::var(&var.value).map_err(|_| Error::SeedNotSet {
            var: var.value.clone(),
        })?;
        return Ok(ResolvedKey {
            key: pspf::keys::signing_key_from_seed(&seed),
            announcement: None,
        });
    }
    let dir = user_key_dir().ok_or(Error::NoKeyDirectory)?;
    let private = dir.join(PRIVATE_KEY_FILE);
    if let Ok(text) = fs::read_to_string(&private) {
        let key = private_key_from_pem(&text).map_err(|e| Error::UserKey {
            path: private.clone(),
            reason: e.to_string(),
        })?;
        return Ok(ResolvedKey {
            key,
            announcement: None,
        });
    }
    let mut seed = [0u8; 32];
    getrandom(&mut seed).map_err(Error::Random)?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    if !create {
        return Ok(ResolvedKey {
            key,
            announcement: None,
        });
    }
    let (key, created) = create_key_pair(&dir, key).map_err(|source| Error::CreateUserKey {
        dir: dir.clone(),
        source,
    })?;
    if !created {
        // Another build created it a moment ago (and announces it).
        return Ok(ResolvedKey {
            key,
            announcement: None,
        });
    }
    let trusted = trust_key(&key.verifying_key()).ok();
    Ok(ResolvedKey {
        announcement: Some(format!(
            "created your signing key in {} (fingerprint {}){}",
            dir.display(),
            pspf::keys::Fingerprint::of(key.verifying_key().as_bytes()),
            trusted
                .map(|p| format!("; trusted via {}", p.display()))
                .unwrap_or_default()
        )),
        key,
    })
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    fs::File::open("/dev/urandom")?.read_exact(buf)
}
