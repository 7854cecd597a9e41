//! Verification policy of a first launch, per `FLAVOR_VALIDATION` level.
//!
//! `standard` (default) refuses a package whose index, metadata, signature or any slot digest
//! is wrong; `strict` also requires the signing key to be in the trusted-keys directory;
//! `relaxed` and `minimal` print a warning per failed check and go on; `none` checks nothing.
//! Slot digests are checked while the slots stream out (see `firstrun`), not in a separate
//! pass, except at warning levels, where a full pass finds what to warn about.

use crate::config::{Validation, trusted_keys_dir};
use crate::error::{Failure, Result, code_for, exit};
use crate::log::log_warn;
use pspf::keys::{TrustedKey, public_key_from_pem};
use pspf::{Package, VerifyOptions};

/// Public keys in the trusted-keys directory (unreadable files are skipped).
pub fn trusted_keys() -> Vec<TrustedKey> {
    let Some(dir) = trusted_keys_dir() else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| public_key_from_pem(&text).ok())
        .map(TrustedKey::Key)
        .collect()
}

/// Whether `public_key` is in the trusted-keys directory right now.
pub fn key_is_trusted(public_key: &[u8; 32]) -> bool {
    trusted_keys().iter().any(|k| k.matches(public_key))
}

/// The checks `flavor extract` makes before writing anything, for CLI-mode `extract`:
/// index, metadata and signature always (slot digests are checked as each slot streams),
/// and under `strict` a trusted key. Nothing is only warned about.
pub fn verify_to_extract(pkg: &Package, level: Validation) -> Result<()> {
    let strict = level == Validation::Strict;
    let report = pkg.verify(&VerifyOptions {
        trusted_keys: if strict { trusted_keys() } else { Vec::new() },
        skip_slots: true,
    });
    match report.failures().next() {
        None if strict && !key_is_trusted(&pkg.index().public_key()) => Err(Failure::new(
            exit::INTEGRITY,
            "refusing to extract: strict validation needs the signing key in the trusted-keys directory (flavor key trust KEY)",
        )),
        None => Ok(()),
        Some(first) => Err(Failure::new(
            code_for(first.kind()),
            format!(
                "refusing to extract: {first}; the package is damaged or was tampered with (FLAVOR_LAUNCHER_CLI=1 … verify shows every check)"
            ),
        )),
    }
}

/// Verify at `level`; returns whether the key is trusted (always false below strict).
pub fn verify(pkg: &Package, level: Validation) -> Result<bool> {
    if level == Validation::None {
        return Ok(false);
    }
    let strict = level == Validation::Strict;
    let options = VerifyOptions {
        trusted_keys: if strict { trusted_keys() } else { Vec::new() },
        skip_slots: level.enforcing(),
    };
    if strict && options.trusted_keys.is_empty() {
        let dir = trusted_keys_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "$FLAVOR_TRUSTED_KEYS_DIR".into());
        return Err(Failure::new(
            exit::INTEGRITY,
            format!(
                "strict validation needs a trusted key, but {dir} holds none; add the publisher's public key there (flavor key trust KEY) or run with FLAVOR_VALIDATION=standard"
            ),
        ));
    }
    let report = pkg.verify(&options);
    let mut failures = report.failures().peekable();
    if failures.peek().is_none() {
        return Ok(strict);
    }
    if level.enforcing() {
        let first = failures.next().expect("peeked");
        let hint = if first.kind() == pspf::ErrorKind::UntrustedKey {
            "trust the key (flavor key trust KEY) or run with FLAVOR_VALIDATION=standard"
        } else if !first.kind().is_integrity() {
            // Unreadable, not tampered: no validation level can run it.
            "the package is malformed; rebuild it or re-download it"
        } else {
            "the package is damaged or was tampered with; rebuild or re-download it (FLAVOR_VALIDATION=relaxed runs it anyway, unsafely)"
        };
        return Err(Failure::new(
            code_for(first.kind()),
            format!("refusing to run: {first}; {hint}"),
        ));
    }
    for f in failures {
        log_warn!("integrity check failed ({}): {f}", level.name());
    }
    Ok(false)
}
