//! Ed25519 keys: derivation from a seed string, PEM key files, fingerprints.
//!
//! Key files are the two encodings every PSPF tool and OpenSSL agree on: a PKCS#8 v1
//! `PRIVATE KEY` (DER `30 2e …`, seed at bytes 16..48) and an SPKI `PUBLIC KEY` (DER `30 2a …`,
//! key at bytes 12..44) — what `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`
//! write. A seed string becomes a key as upstream does it: private seed = SHA-256(UTF-8 seed).

use crate::error::{Error, Result};
use ed25519_dalek::pkcs8::DecodePrivateKey;
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Derive the signing key for a seed string (private seed = SHA-256 of its UTF-8 bytes).
pub fn signing_key_from_seed(seed: &str) -> SigningKey {
    let secret: [u8; 32] = Sha256::digest(seed.as_bytes()).into();
    SigningKey::from_bytes(&secret)
}

/// Lowercase hex SHA-256 of a raw public key: the fingerprint stored at index offset 1376,
/// and the one every flavor tool names a key by ([`Fingerprint`] for its short form).
pub fn fingerprint(public_key: &[u8; 32]) -> String {
    Fingerprint::of(public_key).to_hex()
}

/// Hex digits of the short form of a fingerprint, the one humans are shown.
pub const SHORT_FINGERPRINT_LEN: usize = 16;

/// A key's fingerprint: the SHA-256 of its raw 32-byte public key. [`Fingerprint::to_hex`]
/// is the full form (64 hex digits, what the index stores and `--json` prints); `Display`
/// is the short form, its first [`SHORT_FINGERPRINT_LEN`] hex digits, what every human
/// output shows and what trusted-key files are named by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a raw public key.
    pub fn of(public_key: &[u8; 32]) -> Fingerprint {
        Fingerprint(Sha256::digest(public_key).into())
    }

    /// The full form: 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The short form: the first [`SHORT_FINGERPRINT_LEN`] hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..SHORT_FINGERPRINT_LEN / 2])
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.short())
    }
}

/// What a user may name a trusted key by (`flavor verify --trusted-key`): the key itself, or
/// its fingerprint in full or short form. 64 hex digits are taken as either a public key or
/// a full fingerprint, whichever the package's key is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustedKey {
    /// A public key (a PEM file's contents or its 64 hex digits).
    Key(VerifyingKey),
    /// A fingerprint or its prefix: at least [`SHORT_FINGERPRINT_LEN`] lowercase hex digits.
    Fingerprint(String),
    /// 64 hex digits that are a valid public key and may also be a full fingerprint.
    KeyOrFingerprint(VerifyingKey, String),
}

impl From<VerifyingKey> for TrustedKey {
    fn from(key: VerifyingKey) -> Self {
        TrustedKey::Key(key)
    }
}

impl TrustedKey {
    /// Reads a PEM public key, 64 hex digits (a public key or a full fingerprint), or 16 to
    /// 63 hex digits (a fingerprint's prefix). A private key is refused.
    pub fn parse(text: &str) -> Result<TrustedKey> {
        let t = text.trim();
        let hex_digits = !t.is_empty() && t.bytes().all(|b| b.is_ascii_hexdigit());
        if hex_digits && t.len() == 64 {
            let lower = t.to_ascii_lowercase();
            return Ok(match public_key_from_pem(t) {
                Ok(key) => TrustedKey::KeyOrFingerprint(key, lower),
                Err(_) => TrustedKey::Fingerprint(lower),
            });
        }
        if hex_digits && (SHORT_FINGERPRINT_LEN..64).contains(&t.len()) {
            return Ok(TrustedKey::Fingerprint(t.to_ascii_lowercase()));
        }
        if hex_digits {
            return Err(key_error(
                "a key fingerprint",
                format!(
                    "{} hex digits are too few; give at least {SHORT_FINGERPRINT_LEN} (the short \
                     form flavor prints) or all 64",
                    t.len()
                ),
            ));
        }
        if t.contains("PRIVATE KEY-----") {
            return Err(key_error(
                "a private key",
                "give its public half (flavor-public.key beside it)",
            ));
        }
        public_key_from_pem(t).map(TrustedKey::Key)
    }

    /// Whether `public_key` is this key.
    pub fn matches(&self, public_key: &[u8; 32]) -> bool {
        let fingerprint_matches =
            |prefix: &str| Fingerprint::of(public_key).to_hex().starts_with(prefix);
        match self {
            TrustedKey::Key(key) => key.as_bytes() == public_key,
            TrustedKey::Fingerprint(prefix) => fingerprint_matches(prefix),
            TrustedKey::KeyOrFingerprint(key, hex) => {
                key.as_bytes() == public_key || fingerprint_matches(hex)
            }
        }
    }
}

fn key_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Key {
        reason: format!("{what}: {e}"),
    }
}

/// Read a PEM private key: PKCS#8 `PRIVATE KEY` (OpenSSL, upstream keygen), or the raw 32-byte
/// `ED25519 PRIVATE KEY` form the upstream Rust builder also accepts.
pub fn private_key_from_pem(text: &str) -> Result<SigningKey> {
    if text.contains("-----BEGIN ED25519 PRIVATE KEY-----") {
        let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
            .map_err(|e| key_error("not a PEM private key", e))?;
        let seed: [u8; 32] = der.as_slice().try_into().map_err(|_| {
            key_error(
                label,
                format!("expected 32 raw key bytes, found {}", der.len()),
            )
        })?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| {
        key_error(
            "not an Ed25519 PKCS#8 PEM private key (expected -----BEGIN PRIVATE KEY-----)",
            e,
        )
    })
}

/// Read a PEM SPKI public key (`-----BEGIN PUBLIC KEY-----`), or a bare 64-digit hex key.
pub fn public_key_from_pem(text: &str) -> Result<VerifyingKey> {
    let t = text.trim();
    if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut raw = [0u8; 32];
        hex::decode_to_slice(t, &mut raw).map_err(|e| key_error("hex public key", e))?;
        return VerifyingKey::from_bytes(&raw).map_err(|e| key_error("hex public key", e));
    }
    // An Ed25519 SubjectPublicKeyInfo has one DER encoding (RFC 8410 §4): a fixed 12-byte
    // prefix and the key. Matching it directly keeps a generic ASN.1 parser out of the
    // launcher, which reads trusted keys with this function.
    let not_pem = |e: &dyn std::fmt::Display| {
        key_error(
            "not an Ed25519 PEM public key (expected -----BEGIN PUBLIC KEY----- or 64 hex digits)",
            e,
        )
    };
    let (label, der) = pem_rfc7468::decode_vec(t.as_bytes()).map_err(|e| not_pem(&e))?;
    if label != "PUBLIC KEY" {
        return Err(not_pem(&format!("the PEM label is {label:?}")));
    }
    let raw: [u8; 32] = der
        .strip_prefix(SPKI_PREFIX.as_slice())
        .and_then(|key| key.try_into().ok())
        .ok_or_else(|| {
            not_pem(&format!(
                "{} DER bytes that are not an Ed25519 SubjectPublicKeyInfo",
                der.len()
            ))
        })?;
    VerifyingKey::from_bytes(&raw).map_err(|e| key_error("PEM public key", e))
}

/// PKCS#8 v1 DER prefix of an Ed25519 private key (the seed follows).
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// SPKI DER prefix of an Ed25519 public key (the key follows).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn pem(label: &str, der: &[u8]) -> String {
    // Encoding into a String cannot fail for these small inputs and static labels.
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).unwrap_or_default()
}

/// The PKCS#8 v1 PEM of a private key, exactly as OpenSSL writes it (48-byte DER, no public
/// key attached).
pub fn private_key_to_pem(key: &SigningKey) -> String {
    let mut der = PKCS8_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    let out = pem("PRIVATE KEY", &der);
    der.fill(0);
    out
}

/// The SPKI PEM of a public key.
pub fn public_key_to_pem(key: &VerifyingKey) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    pem("PUBLIC KEY", &der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_derivation_matches_upstream() {
        // keys.json of the conformance kit.
        let key = signing_key_from_seed("conformance");
        assert_eq!(
            hex::encode(key.verifying_key().as_bytes()),
            "5a581725545d533c8cffb0b658c762fd8caa216122eafce3adf486c41e9e37a3"
        );
        assert_eq!(
            fingerprint(key.verifying_key().as_bytes()),
            "ec9bcaa8986cf98355ad7177379085b43030eb6ce8b2450594afa57cfc7af026"
        );
    }

    #[test]
    fn keys_are_named_by_one_fingerprint_in_two_lengths() {
        let key = signing_key_from_seed("conformance").verifying_key();
        let fp = Fingerprint::of(key.as_bytes());
        assert_eq!(fp.to_hex(), fingerprint(key.as_bytes()));
        assert_eq!(fp.to_string(), "ec9bcaa8986cf983");
        assert_eq!(fp.short(), fp.to_hex()[..SHORT_FINGERPRINT_LEN]);
        let other = signing_key_from_seed("other").verifying_key();
        for spec in [
            public_key_to_pem(&key),
            hex::encode(key.as_bytes()),
            fp.to_hex(),
            fp.to_hex().to_uppercase(),
            fp.short(),
        ] {
            let trusted = TrustedKey::parse(&spec).unwrap();
            assert!(trusted.matches(key.as_bytes()), "{spec}");
            assert!(!trusted.matches(other.as_bytes()), "{spec}");
        }
        let too_short = TrustedKey::parse(&fp.short()[..8]).unwrap_err();
        assert!(too_short.to_string().contains("too few"), "{too_short}");
        let private = private_key_to_pem(&signing_key_from_seed("x"));
        let refused = TrustedKey::parse(&private).unwrap_err();
        assert!(refused.to_string().contains("public half"), "{refused}");
    }

    #[test]
    fn public_keys_written_by_openssl_are_read_and_others_refused() {
        // `openssl genpkey -algorithm ed25519 | openssl pkey -pubout`.
        let ed25519 = "-----BEGIN PUBLIC KEY-----\n\
            MCowBQYDK2VwAyEA2wheDdETgtDdtxd/ntFHJXZJQ189JHhW579Ho91dw4A=\n\
            -----END PUBLIC KEY-----\n";
        assert_eq!(
            hex::encode(public_key_from_pem(ed25519).unwrap().as_bytes()),
            "db085e0dd11382d0ddb7177f9ed147257649435f3d247856e7bf47a3dd5dc380"
        );
        // `openssl ecparam -name prime256v1 -genkey | openssl ec -pubout`: a P-256 key.
        let p256 = "-----BEGIN PUBLIC KEY-----\n\
            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwSzyd7JDHCnrVYyr/x+umoNnKR5i\n\
            v3zg/I1g3SEQg5wlQnwwa8uuG9q2+b6Pz5euSQqu89j7+VUY2doHSQZh+w==\n\
            -----END PUBLIC KEY-----\n";
        let refused = public_key_from_pem(p256).unwrap_err().to_string();
        assert!(refused.contains("91 DER bytes"), "{refused}");
        assert!(
            refused.contains("not an Ed25519 PEM public key"),
            "{refused}"
        );
        let relabelled = ed25519.replace("PUBLIC KEY", "CERTIFICATE");
        let refused = public_key_from_pem(&relabelled).unwrap_err().to_string();
        assert!(refused.contains("\"CERTIFICATE\""), "{refused}");
        let truncated = ed25519.replace("w4A=", "");
        assert!(public_key_from_pem(&truncated).is_err());
    }

    #[test]
    fn pem_round_trip() {
        let key = signing_key_from_seed("test123");
        let private = private_key_to_pem(&key);
        let public = public_key_to_pem(&key.verifying_key());
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(
            private_key_from_pem(&private).unwrap().to_bytes(),
            key.to_bytes()
        );
        assert_eq!(public_key_from_pem(&public).unwrap(), key.verifying_key());
        let hex_key = hex::encode(key.verifying_key().as_bytes());
        assert_eq!(public_key_from_pem(&hex_key).unwrap(), key.verifying_key());
        assert_eq!(
            private_key_from_pem("garbage").unwrap_err().kind(),
            crate::ErrorKind::Key
        );
    }
}
