//! Fetching a locked file (a wheel, an interpreter archive) by URL with its sha256 checked,
//! into a content-addressed directory: `<dir>/<sha256>/<file name>`, written to a temporary
//! file and renamed into place only when the digest matches, so a file found there is always
//! the one the lock names. A `file://` URL is read from disk (a local mirror).

use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The lock gives no sha256 (`hash = "sha256:…"`) for the file.
    #[error("{url}: the lock records no sha256 for it; re-run `uv lock`")]
    NoHash {
        /// The URL.
        url: String,
    },
    /// Downloading failed.
    #[error("{url}: {why}")]
    Download {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// The bytes are not the ones the lock names.
    #[error("{url}: sha256 is {found}, the lock expects {expected}")]
    Mismatch {
        /// The URL.
        url: String,
        /// From the lock.
        expected: String,
        /// Of the bytes fetched.
        found: String,
    },
    /// Writing into the fetch directory failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The lowercase hex digest of `sha256:<hex>` (or bare hex), if it is one.
pub fn sha256_of(hash: &str) -> Option<String> {
    let hex = hash
        .strip_prefix("sha256:")
        .unwrap_or(hash)
        .to_ascii_lowercase();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// The last path segment of `url`, percent-decoding `%2B` (`+`, as in pbs archive names).
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    path.rsplit('/').next().unwrap_or(path).replace("%2B", "+")
}

/// `<dir>/<sha256>/<file name of url>`, fetched unless present. A present file is re-hashed:
/// a damaged cache entry is fetched again, never used.
pub fn fetch(url: &str, hash: Option<&str>, dir: &Path) -> Result<PathBuf, FetchError> {
    let expected = hash.and_then(sha256_of).ok_or_else(|| FetchError::NoHash {
        url: url.to_string(),
    })?;
    let name = file_name(url);
    let home = dir.join(&expected);
    let dest = home.join(&name);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| FetchError::Io { path, source }
    };
    if dest.is_file() && sha256_file(&dest).map_err(io(&dest))? == expected {
        return Ok(dest);
    }
    std::fs::create_dir_all(&home).map_err(io(&home))?;
    let mut tmp = tempfile::NamedTempFile::new_in(&home).map_err(io(&home))?;
    let at = tmp.path().to_path_buf();
    download(url, &expected, tmp.as_file_mut(), &at)?;
    tmp.persist(&dest).map_err(|e| FetchError::Io {
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(dest)
}

/// Download `url` into `out` (the file at `path`, for errors), checking that its bytes have
/// the sha256 `expected` (lowercase hex).
pub fn download(
    url: &str,
    expected: &str,
    out: &mut std::fs::File,
    path: &Path,
) -> Result<(), FetchError> {
    let mut hasher = Sha256::new();
    let mut reader = open(url)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| FetchError::Download {
            url: url.to_string(),
            why: e.to_string(),
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|source| FetchError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let found = hex::encode(hasher.finalize());
    if found != expected {
        return Err(FetchError::Mismatch {
            url: url.to_string(),
            expected: expected.to_string(),
            found,
        });
    }
    Ok(())
}

fn open(url: &str) -> Result<Box<dyn Read>, FetchError> {
    let failed = |why: String| FetchError::Download {
        url: url.to_string(),
        why,
    };
    if let Some(path) = url.strip_prefix("file://") {
        let f = std::fs::File::open(path).map_err(|e| failed(e.to_string()))?;
        return Ok(Box::new(f));
    }
    if !url.starts_with("https://") && !url.starts_with("http://") {
        return Err(failed(
            "only https://, http:// and file:// URLs are fetched".into(),
        ));
    }
    // The system's trust store (and its corporate or proxy roots), as pip and uv use.
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
    let response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    Ok(Box::new(response.into_body().into_reader()))
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf)? {
            0 => return Ok(hex::encode(hasher.finalize())),
            n => hasher.update(&buf[..n]),
        }
    }
}
