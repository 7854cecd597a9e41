//! `flavor key trust PUBKEY` and `flavor key list`: the launcher's trusted-keys directory.
//!
//! Under `FLAVOR_VALIDATION=strict` a launcher runs only packages signed by a key in that
//! directory: `$FLAVOR_TRUSTED_KEYS_DIR`, else `$FLAVOR_CONFIG_DIR/trusted-keys`, else
//! `$XDG_CONFIG_HOME/flavor/trusted-keys`, else `~/.config/flavor/trusted-keys` — the same
//! lookup the launcher makes. Each key is a PEM public key file named by its fingerprint (the
//! short form every human output shows).

use crate::messages::{KeyNames, TrustOutcome, TrustedKeyFile, TrustedKeys, print_document};
use crate::stdout::outln;
use anyhow::{Context, bail};
use flavor_workenv::dirs::PUBLIC_KEY_FILE;
use pspf::keys::{Fingerprint, VerifyingKey, public_key_from_pem};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: KeyCommand,
}

#[derive(clap::Subcommand)]
enum KeyCommand {
    /// Trust a public key: launchers then accept its packages under strict validation.
    ///
    /// Example: flavor key trust keys/flavor-public.key
    Trust(TrustArgs),
    /// List the trusted keys with their fingerprints.
    ///
    /// Example: flavor key list --json
    List(ListArgs),
}

#[derive(clap::Args)]
struct TrustArgs {
    /// The public key: a PEM file (`-----BEGIN PUBLIC KEY-----`) or 64 hex digits.
    pubkey: String,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    /// Print the keys as JSON.
    #[arg(long)]
    json: bool,
}

fn trusted_dir() -> anyhow::Result<PathBuf> {
    flavor_workenv::dirs::trusted_keys_dir()
        .context("no trusted-keys directory: set FLAVOR_TRUSTED_KEYS_DIR, XDG_CONFIG_HOME or HOME")
}

/// Read a public key from a file or from hex, refusing a private key with a hint.
fn read_public_key(spec: &str) -> anyhow::Result<VerifyingKey> {
    let path = Path::new(spec);
    let text = if path.is_file() {
        fs::read_to_string(path).with_context(|| format!("reading {spec}"))?
    } else if path.exists() {
        bail!("{spec} is not a file");
    } else if spec.len() == 64 && spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        spec.to_string()
    } else if spec.len() >= 16 && spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "{spec} looks like a key fingerprint, which names a key but does not hold it; give \
             the public key file (or its 64 hex digits)"
        );
    } else {
        bail!("{spec}: no such file (and not a 64-digit hex public key)");
    };
    if text.contains("PRIVATE KEY-----") {
        bail!(
            "{spec} is a private key; trust its public half instead (flavor-public.key beside it)"
        );
    }
    public_key_from_pem(&text).with_context(|| format!("{spec}: not a public key"))
}

/// The public key of the user's own signing key, if there is one.
fn own_key() -> Option<VerifyingKey> {
    let dir = flavor_workenv::dirs::user_key_dir()?;
    let text = fs::read_to_string(dir.join(PUBLIC_KEY_FILE)).ok()?;
    public_key_from_pem(&text).ok()
}

fn trust(args: TrustArgs) -> anyhow::Result<ExitCode> {
    let key = read_public_key(&args.pubkey)?;
    let fp = Fingerprint::of(key.as_bytes());
    let dir = trusted_dir()?;
    let already = fs::read_dir(&dir).is_ok_and(|rd| {
        rd.flatten().any(|e| {
            fs::read_to_string(e.path())
                .ok()
                .and_then(|t| public_key_from_pem(&t).ok())
                == Some(key)
        })
    });
    let path = flavor_rules::signing::trust_key(&key)
        .with_context(|| format!("writing into {}", dir.display()))?;
    if args.json {
        print_document(&TrustOutcome {
            key: KeyNames::of(key.as_bytes()),
            path,
            already_trusted: already,
        })?;
    } else if already {
        outln!("already trusted: {fp} ({})", path.display())?;
    } else {
        outln!("trusted {fp}")?;
        outln!("  as {}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let dir = trusted_dir()?;
    let own = own_key();
    let mut entries: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dir.display())),
    };
    entries.sort();
    let keys: Vec<(PathBuf, Option<VerifyingKey>)> = entries
        .into_iter()
        .filter(|p| p.is_file())
        .map(|p| {
            let key = fs::read_to_string(&p)
                .ok()
                .and_then(|t| public_key_from_pem(&t).ok());
            (p, key)
        })
        .collect();
    if args.json {
        print_document(&TrustedKeys {
            keys: keys
                .iter()
                .map(|(p, k)| TrustedKeyFile::new(p.clone(), k.as_ref(), k.is_some() && *k == own))
                .collect(),
            dir,
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("trusted keys in {}", dir.display())?;
    if keys.is_empty() {
        outln!("  (none; add one with `flavor key trust PUBKEY`)")?;
    }
    for (path, key) in &keys {
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        match key {
            Some(k) => outln!(
                "  {}  {file}{}",
                Fingerprint::of(k.as_bytes()),
                if Some(*k) == own {
                    "  (your signing key)"
                } else {
                    ""
                }
            )?,
            None => outln!(
                "  {:<width$}  {file}  (not a public key; launchers ignore it)",
                "?",
                width = pspf::keys::SHORT_FINGERPRINT_LEN
            )?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        KeyCommand::Trust(a) => trust(a),
        KeyCommand::List(a) => list(a),
    }
}
