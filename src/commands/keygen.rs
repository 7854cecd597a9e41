//! `flavor keygen [--out-dir DIR] [--force]`: a new Ed25519 signing key pair.
//!
//! Writes `flavor-private.key` (PEM PKCS#8) and `flavor-public.key` (PEM SPKI) — the files
//! `openssl genpkey -algorithm ed25519` and upstream `flavor keygen` write — with mode 0600 in a
//! 0700 directory, by default the per-user key directory that builds sign with
//! (`$XDG_CONFIG_HOME/flavor/keys`, else `~/.config/flavor/keys`). Never overwrites a key
//! without `--force`: packages signed with the old key would no longer match it.

use crate::messages::{KeygenOutcome, print_document};
use crate::options::GlobalArgs;
use crate::stdout::outln;
use anyhow::{Context, bail};
use flavor_workenv::dirs::{PRIVATE_KEY_FILE, PUBLIC_KEY_FILE};
use pspf::keys::{Fingerprint, SigningKey};
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Where to write the key pair (default: your per-user key directory,
    /// $XDG_CONFIG_HOME/flavor/keys or ~/.config/flavor/keys).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Replace an existing key pair.
    #[arg(long)]
    force: bool,
    /// Also add the public key to the launcher's trusted keys (as `flavor key trust` does).
    #[arg(long)]
    trust: bool,
    /// Print the paths and the fingerprint as JSON.
    #[arg(long)]
    json: bool,
}

fn random_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading random bytes from /dev/urandom")?;
    let key = SigningKey::from_bytes(&seed);
    seed.fill(0);
    Ok(key)
}

pub fn run(args: Args, global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let default_dir = flavor_workenv::dirs::user_key_dir();
    let dir = match (&args.out_dir, &default_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => d.clone(),
        (None, None) => bail!("no HOME or XDG_CONFIG_HOME for the per-user key; pass --out-dir"),
    };
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(PUBLIC_KEY_FILE);
    if !args.force {
        for existing in [&private, &public] {
            if fs::symlink_metadata(existing).is_ok() {
                bail!(
                    "{} already exists; use --force to replace the key pair (packages signed with \
                     the old key will no longer match it)",
                    existing.display()
                );
            }
        }
    }
    if dir.exists() && !dir.is_dir() {
        bail!("{} exists and is not a directory", dir.display());
    }
    let created_dir = !dir.exists();
    let key = random_key()?;
    flavor_rules::signing::write_key_pair(&dir, &key)
        .with_context(|| format!("writing the key pair into {}", dir.display()))?;
    // write_key_pair creates files 0600; make sure of it (and of a directory made here),
    // whatever the umask and whatever files were replaced.
    for f in [&private, &public] {
        fs::set_permissions(f, fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 0600 {}", f.display()))?;
    }
    if created_dir || default_dir.as_ref() == Some(&dir) {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("chmod 0700 {}", dir.display()))?;
    }
    let verifying = key.verifying_key();
    let fp = Fingerprint::of(verifying.as_bytes());
    let trusted = if args.trust {
        Some(
            flavor_rules::signing::trust_key(&verifying)
                .context("adding the key to the trusted keys")?,
        )
    } else {
        None
    };

    if args.json {
        print_document(&KeygenOutcome {
            private_key: private,
            public_key: public,
            public_key_hex: hex::encode(verifying.as_bytes()),
            fingerprint: fp.to_hex(),
            trusted,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("private key  {} (0600)", private.display())?;
    outln!("public key   {}", public.display())?;
    outln!("fingerprint  {fp}")?;
    if let Some(p) = &trusted {
        outln!("trusted      {}", p.display())?;
    }
    if global.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    if default_dir.as_ref() == Some(&dir) {
        let hint = match trusted {
            Some(_) => String::new(),
            None => format!(
                "; for strict launches trust it: flavor key trust {}",
                public.display()
            ),
        };
        crate::style::note(&format!(
            "builds without a [signing] section now sign with this key{hint}"
        ));
    } else {
        crate::style::note(&format!(
            "sign with it from flavor.toml: [signing] private_key = \"{}\" (keep it out of \
             version control)",
            private.display()
        ));
    }
    Ok(ExitCode::SUCCESS)
}
