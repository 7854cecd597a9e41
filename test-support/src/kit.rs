//! The conformance kit (`testdata/conformance/`): upstream-written packages with their expected
//! facts, hashing and small file helpers.

use pspf::keys::SigningKey;
use serde_json::Value;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// `SOURCE_DATE_EPOCH` of the kit, reused for everything the tests build.
pub const EPOCH: u64 = 1_700_000_000;

/// The conformance kit in the repository (`testdata/conformance/`). Panics with a hint when
/// it is missing.
pub fn kit_dir() -> PathBuf {
    let dir = crate::workspace_root().join("testdata/conformance");
    assert!(
        dir.join("packages").is_dir() && dir.join("stub-launcher.bin").is_file(),
        "conformance kit not found at {} (expected packages/ and stub-launcher.bin there)",
        dir.display()
    );
    dir
}

/// The 4096-byte stand-in launcher of the kit.
pub fn stub_launcher() -> PathBuf {
    kit_dir().join("stub-launcher.bin")
}

/// The key of seed `conformance` (public key `5a5817…`).
pub fn seed_key() -> SigningKey {
    pspf::keys::signing_key_from_seed("conformance")
}

/// One package of the kit with its facts.
pub struct KitPackage {
    /// File stem, e.g. `rs030-raw`.
    pub name: String,
    pub psp: PathBuf,
    /// The exact uncompressed metadata bytes (`<name>.metadata.json`).
    pub metadata_json: PathBuf,
    pub expect: Value,
}

/// Every `packages/*.expect.json` of the kit, sorted by name. Panics when there are none or
/// when a package file named by one is missing.
pub fn kit_packages() -> Vec<KitPackage> {
    let dir = kit_dir().join("packages");
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).expect("read conformance/packages") {
        let path = entry.expect("read_dir entry").path();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(name) = file.strip_suffix(".expect.json") else {
            continue;
        };
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let expect: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let psp = dir.join(format!("{name}.psp"));
        let metadata_json = dir.join(format!("{name}.metadata.json"));
        assert!(psp.is_file(), "{file} names a package that is missing");
        assert!(metadata_json.is_file(), "{name}.metadata.json is missing");
        out.push(KitPackage {
            name: name.to_string(),
            psp,
            metadata_json,
            expect,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(!out.is_empty(), "no *.expect.json in {}", dir.display());
    out
}

/// Lowercase hex SHA-256 of a reader, and the number of bytes read.
pub fn sha256_hex_reader(r: impl Read) -> (String, u64) {
    let (digest, n) = pspf::stream::sha256_reader(r).expect("read for hashing");
    (hex::encode(digest), n)
}

/// Lowercase hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256_hex_reader(bytes).0
}

/// Lowercase hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> String {
    sha256_hex_reader(fs::File::open(path).expect("open for hashing")).0
}

/// XOR one byte of a file with `mask` (a no-op for mask 0).
pub fn xor_byte(path: &Path, offset: u64, mask: u8) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= mask;
    file.write_all_at(&b, offset).unwrap();
}

/// Write `bytes` to a fresh named temporary file and return it (kept alive by the caller).
pub fn temp_file_with(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f.flush().unwrap();
    f
}
