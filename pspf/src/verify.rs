//! Verification of a whole package, one named check at a time.
//!
//! Checks, in order: `structure` (the file opens: trailer, index, slot table and metadata lie
//! inside the file), `index_checksum` (Adler-32 over all 8192 index bytes), `package_size`,
//! `metadata_checksum` (SHA-256 of the compressed metadata), `signature` (Ed25519 over the
//! exact stored JSON), `key_fingerprint` (when the index carries one), `trusted_key` (when
//! trusted keys are given), `metadata` (parses, one entry per descriptor), then for every slot
//! `slot_operations` (descriptor op chain = signed metadata codec), `slot_checksum` (stored
//! bytes vs descriptor) and `slot_digest` (stored bytes vs the signed `sha256:` digest).
//!
//! The metadata is parsed only after its signature verified (before that it is bounded bytes,
//! [`crate::metadata::MAX_METADATA_JSON`] at most, and nothing is built from it); with a bad
//! signature `metadata` and every `slot_digest` are skipped. A self-referential slot
//! (`self_ref: true` with a descriptor pointing at no bytes, as upstream writers record
//! `$SELF`) has nothing to decode or hash: its slot checks are skipped, as the launcher skips
//! its extraction.
//!
//! Because the signature covers the metadata and the metadata names every slot's SHA-256,
//! passing every check means every byte a launcher acts on is the signed one. The descriptor's
//! hint bytes (purpose, lifecycle, priority, platform, reserved), `name_hash` and
//! `original_size` are covered by nothing: writers disagree on them and no reader uses them.

use crate::error::{Error, ErrorKind, Result};
use crate::index::{INDEX_SIZE, MAGIC_END, MAGIC_START, TRAILER_SIZE, compute_index_checksum};
use crate::keys::{Fingerprint, TrustedKey, VerifyingKey};
use crate::metadata::Metadata;
use crate::ops::Codec;
use crate::reader::Package;
use crate::stream::sha256_reader;
use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// What a verification should check beyond the package's own consistency.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// When non-empty, the package's key must be one of these (`trusted_key` check): keys,
    /// or fingerprints naming them.
    pub trusted_keys: Vec<TrustedKey>,
    /// Skip reading slot data (header-only verification).
    pub skip_slots: bool,
}

/// Outcome of one check.
#[derive(Debug)]
pub enum Outcome {
    /// The check passed.
    Pass,
    /// The check failed with this error.
    Fail(Error),
    /// The check did not apply or could not run; the reason.
    Skipped(String),
}

/// One named check.
#[derive(Debug)]
pub struct Check {
    /// Stable check name (`index_checksum`, `slot_digest`, …).
    pub name: &'static str,
    /// The slot this check is about, as `(number, id)`.
    pub slot: Option<(usize, String)>,
    /// What came of it.
    pub outcome: Outcome,
}

impl Check {
    /// True unless the check failed (a skipped check counts as passed).
    pub fn passed(&self) -> bool {
        !matches!(self.outcome, Outcome::Fail(_))
    }
}

/// All checks of one verification.
#[derive(Debug, Default)]
pub struct Report {
    /// Every check, in the order it ran.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed.
    pub fn is_ok(&self) -> bool {
        self.checks.iter().all(Check::passed)
    }

    /// The failures, in check order.
    pub fn failures(&self) -> impl Iterator<Item = &Error> {
        self.checks.iter().filter_map(|c| match &c.outcome {
            Outcome::Fail(e) => Some(e),
            _ => None,
        })
    }

    /// The kinds of every failure.
    pub fn failure_kinds(&self) -> Vec<ErrorKind> {
        self.failures().map(Error::kind).collect()
    }

    /// `Ok` when every check passed, else the first failure.
    pub fn into_result(self) -> Result<()> {
        for c in self.checks {
            if let Outcome::Fail(e) = c.outcome {
                return Err(e);
            }
        }
        Ok(())
    }

    fn push(&mut self, name: &'static str, slot: Option<(usize, String)>, r: Result<()>) {
        let outcome = match r {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        };
        self.checks.push(Check {
            name,
            slot,
            outcome,
        });
    }

    fn skip(&mut self, name: &'static str, slot: Option<(usize, String)>, why: &str) {
        self.checks.push(Check {
            name,
            slot,
            outcome: Outcome::Skipped(why.to_string()),
        });
    }
}

/// Open and verify a package file; an unreadable structure is reported as a failed
/// `structure` check rather than an error. When the file ends in a trailer but does not open
/// (a damaged index usually points outside the file), the index checksum is still reported.
pub fn verify_file(path: &Path, options: &VerifyOptions) -> Report {
    match Package::open(path) {
        Ok(pkg) => pkg.verify(options),
        Err(e) => {
            let mut report = Report::default();
            report.push("structure", None, Err(e));
            if let Some(checksum) = raw_index_checksum(path) {
                report.push("index_checksum", None, checksum);
            }
            report
        }
    }
}

/// The index checksum check of a file whose last 8200 bytes are 📦 + index + 🪄, without
/// trusting anything the index says; `None` when there is no such trailer.
fn raw_index_checksum(path: &Path) -> Option<Result<()>> {
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.checked_sub(TRAILER_SIZE as u64)?;
    let mut trailer = vec![0u8; TRAILER_SIZE];
    file.read_exact_at(&mut trailer, start).ok()?;
    if trailer[..4] != MAGIC_START || trailer[TRAILER_SIZE - 4..] != MAGIC_END {
        return None;
    }
    let raw: &[u8; INDEX_SIZE] = trailer[4..4 + INDEX_SIZE].try_into().ok()?;
    let stored = u32::from_le_bytes(raw[4..8].try_into().ok()?);
    let computed = compute_index_checksum(raw);
    Some(if stored == computed {
        Ok(())
    } else {
        Err(Error::IndexChecksum { stored, computed })
    })
}

/// Verify the Ed25519 signature of metadata bytes against a raw public key.
pub fn verify_signature(public_key: &[u8; 32], signature: &[u8; 64], json: &[u8]) -> Result<()> {
    if public_key.iter().all(|&b| b == 0) {
        return Err(Error::Signature {
            reason: "the package carries no public key (unsigned)".into(),
        });
    }
    let key = VerifyingKey::from_bytes(public_key).map_err(|e| Error::Signature {
        reason: format!("public key is not a valid Ed25519 point: {e}"),
    })?;
    let sig = Signature::from_bytes(signature);
    key.verify_strict(json, &sig).map_err(|_| Error::Signature {
        reason: "Ed25519 signature does not match the metadata".into(),
    })
}

impl Package {
    /// Run every check (see the module docs) and report each one. The metadata is parsed only
    /// once its signature has verified: until then it is bytes, and nothing is built from it.
    pub fn verify(&self, options: &VerifyOptions) -> Report {
        let mut report = Report::default();
        report.push("structure", None, Ok(()));
        self.check_index(&mut report);
        let signed = self.metadata_json().and_then(|json| {
            verify_signature(&self.index().public_key(), &self.index().signature(), json)
        });
        let signed_ok = signed.is_ok();
        report.push("signature", None, signed);
        self.check_key(options, &mut report);

        let meta = if signed_ok {
            let meta = self.metadata();
            report.push(
                "metadata",
                None,
                meta.as_ref()
                    .map_err(|e| Error::Metadata {
                        reason: e.to_string(),
                    })
                    .and_then(|m| self.check_slot_count(m)),
            );
            meta.ok()
        } else {
            report.skip(
                "metadata",
                None,
                "not parsed: its signature does not verify",
            );
            None
        };
        for i in 0..self.slot_count() {
            self.verify_slot(i, meta, options, &mut report);
        }
        report
    }

    /// `index_checksum`, `package_size`, `metadata_checksum`.
    fn check_index(&self, report: &mut Report) {
        let index = self.index();
        let (stored, computed) = (index.index_checksum(), index.computed_checksum());
        report.push(
            "index_checksum",
            None,
            if stored == computed {
                Ok(())
            } else {
                Err(Error::IndexChecksum { stored, computed })
            },
        );

        let recorded = index.package_size();
        report.push(
            "package_size",
            None,
            if recorded == self.file_len() {
                Ok(())
            } else {
                Err(Error::PackageSize {
                    recorded,
                    actual: self.file_len(),
                })
            },
        );

        let digest: [u8; 32] = Sha256::digest(self.metadata_gzip()).into();
        report.push(
            "metadata_checksum",
            None,
            if digest == index.metadata_checksum() {
                Ok(())
            } else {
                Err(Error::MetadataChecksum {
                    expected: hex::encode(index.metadata_checksum()),
                    actual: hex::encode(digest),
                })
            },
        );
    }

    /// `key_fingerprint` and `trusted_key`.
    fn check_key(&self, options: &VerifyOptions, report: &mut Report) {
        let public_key = self.index().public_key();
        match self.index().key_fingerprint() {
            Some(recorded) => {
                let computed = crate::keys::fingerprint(&public_key);
                report.push(
                    "key_fingerprint",
                    None,
                    if recorded.eq_ignore_ascii_case(&computed) {
                        Ok(())
                    } else {
                        Err(Error::KeyFingerprint { recorded, computed })
                    },
                );
            }
            None => report.skip("key_fingerprint", None, "the index carries no fingerprint"),
        }

        if options.trusted_keys.is_empty() {
            report.skip("trusted_key", None, "no trusted keys given");
        } else {
            let trusted = options.trusted_keys.iter().any(|k| k.matches(&public_key));
            report.push(
                "trusted_key",
                None,
                if trusted {
                    Ok(())
                } else {
                    Err(Error::UntrustedKey {
                        fingerprint: Fingerprint::of(&public_key).to_string(),
                    })
                },
            );
        }
    }

    fn check_slot_count(&self, meta: &Metadata) -> Result<()> {
        if meta.slots.len() == self.slot_count() {
            Ok(())
        } else {
            Err(Error::DescriptorMismatch {
                what: "slot count".into(),
                descriptor: self.slot_count().to_string(),
                metadata: meta.slots.len().to_string(),
            })
        }
    }

    /// The checks of slot `i`: `slot_operations`, `slot_checksum`, `slot_digest`. `meta` is
    /// the parsed metadata, when its signature verified.
    fn verify_slot(
        &self,
        i: usize,
        meta: Option<&Metadata>,
        options: &VerifyOptions,
        report: &mut Report,
    ) {
        let slot_meta = meta.and_then(|m| m.slots.get(i));
        let label = Some((
            i,
            slot_meta
                .map(|m| m.id.clone())
                .unwrap_or_else(|| i.to_string()),
        ));
        let desc = &self.descriptors()[i];
        if let Some(m) = slot_meta.filter(|m| is_self_reference(m, desc)) {
            // Upstream writers give a `$SELF` slot an all-zero descriptor and no bytes: there
            // is nothing to decode or hash (the launcher skips it too).
            let why = format!(
                "{} refers to the package itself ($SELF) and has no bytes",
                m.id
            );
            for name in ["slot_operations", "slot_checksum", "slot_digest"] {
                report.skip(name, label.clone(), &why);
            }
            return;
        }

        let ops = Codec::from_operations(desc.operations, &format!("slot {i}")).and_then(|codec| {
            let Some(m) = slot_meta else { return Ok(()) };
            match m.operations.known() {
                Some(named) if named != codec => Err(Error::DescriptorMismatch {
                    what: format!("slot {i} operations"),
                    descriptor: format!("{codec} ({:#x})", desc.operations.0),
                    metadata: format!("{:?}", m.operations.as_str()),
                }),
                _ => Ok(()),
            }
        });
        report.push("slot_operations", label.clone(), ops);

        if options.skip_slots {
            report.skip("slot_checksum", label.clone(), "slot data not read");
            report.skip("slot_digest", label, "slot data not read");
            return;
        }
        let digest = self
            .stored_reader_unverified(i)
            .and_then(|r| sha256_reader(r).map_err(Error::from_io));
        let digest = match digest {
            Ok((d, _)) => d,
            Err(e) => {
                report.push("slot_checksum", label.clone(), Err(e));
                report.skip("slot_digest", label, "slot data unreadable");
                return;
            }
        };
        let id = label.as_ref().map(|l| l.1.clone()).unwrap_or_default();
        let only_descriptor = crate::stream::Expected {
            slot: i,
            id: id.clone(),
            checksum: Some(desc.checksum),
            metadata_digest: None,
        };
        report.push(
            "slot_checksum",
            label.clone(),
            only_descriptor.check(&digest),
        );
        match slot_meta {
            Some(m) if m.digest_matches(&digest).is_some() => {
                let only_metadata = crate::stream::Expected {
                    slot: i,
                    id,
                    checksum: None,
                    metadata_digest: Some(m.checksum.clone()),
                };
                report.push("slot_digest", label, only_metadata.check(&digest));
            }
            Some(_) => report.skip("slot_digest", label, "metadata records no sha256 digest"),
            None if meta.is_none() => {
                report.skip("slot_digest", label, "no trusted metadata to compare with");
            }
            None => report.push(
                "slot_digest",
                label,
                Err(Error::DescriptorMismatch {
                    what: format!("slot {i}"),
                    descriptor: "a descriptor".into(),
                    metadata: "no entry".into(),
                }),
            ),
        }
    }
}

/// Whether slot metadata `m` with descriptor `desc` is a self-referential (`$SELF`) slot as
/// upstream writers record one: `self_ref: true` and a descriptor pointing at no bytes.
pub fn is_self_reference(m: &crate::metadata::SlotMetadata, desc: &crate::SlotDescriptor) -> bool {
    m.self_ref == Some(true) && desc.offset == 0 && desc.size == 0
}
