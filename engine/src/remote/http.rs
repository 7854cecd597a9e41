//! The HTTP side of the remote cache: `GET`, `HEAD` and `PUT` of `<base>/ac/<hex>` and
//! `<base>/cas/<hex>` with [`ureq`], an optional bearer token, timeouts, and every failure
//! sorted into a [`Failure`] the caller can act on (go offline, warn, or treat as a miss).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use ureq::Agent;

/// Which half of the cache a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `/ac/<key>`: action results.
    Ac,
    /// `/cas/<sha256>`: blobs.
    Cas,
}

impl Kind {
    fn segment(self) -> &'static str {
        match self {
            Kind::Ac => "ac",
            Kind::Cas => "cas",
        }
    }
}

/// Why a request did not give what was asked.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer: connection refused or reset, timeout, name not found, TLS, a body cut
    /// short. Further requests would likely fail the same way.
    Unreachable(String),
    /// The server answered with an unexpected status.
    Status(u16),
    /// The answer's body was unusable (too long, not what was asked for).
    Body(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(why) => write!(f, "{why}"),
            Failure::Status(code) => write!(f, "HTTP status {code}"),
            Failure::Body(why) => write!(f, "{why}"),
        }
    }
}

impl From<ureq::Error> for Failure {
    fn from(e: ureq::Error) -> Failure {
        match e {
            ureq::Error::StatusCode(code) => Failure::Status(code),
            ureq::Error::BodyExceedsLimit(limit) => {
                Failure::Body(format!("body longer than the expected {limit} bytes"))
            }
            other => Failure::Unreachable(other.to_string()),
        }
    }
}

/// A client for one remote cache base URL.
pub(crate) struct Client {
    agent: Agent,
    base: String,
    auth: Option<String>,
}

impl Client {
    /// A client for `base` (`http://` or `https://`, any path prefix), sending
    /// `Authorization: Bearer <token>` when a token is given.
    pub(crate) fn new(
        base: &str,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<Client, String> {
        let base = base.trim_end_matches('/');
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| format!("`{base}` is not an http:// or https:// URL"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("`{base}` names no host"));
        }
        base.parse::<ureq::http::Uri>()
            .map_err(|e| format!("`{base}` is not a valid URL: {e}"))?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            .user_agent(concat!("flavor/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent: config.new_agent(),
            base: base.to_string(),
            auth: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// The URL of an object.
    pub(crate) fn url(&self, kind: Kind, hex: &str) -> String {
        format!("{}/{}/{hex}", self.base, kind.segment())
    }

    /// The object's bytes (at most `limit`), or `None` if the server does not have it.
    pub(crate) fn get_bytes(
        &self,
        kind: Kind,
        hex: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, Failure> {
        let mut out = Vec::new();
        Ok(self.get_into(kind, hex, &mut out, limit)?.map(|_| out))
    }

    /// Streams the object into `dest` (at most `limit` bytes); its length, or `None` if the
    /// server does not have it.
    pub(crate) fn get_into(
        &self,
        kind: Kind,
        hex: &str,
        dest: &mut dyn Write,
        limit: u64,
    ) -> Result<Option<u64>, Failure> {
        let mut request = self.agent.get(self.url(kind, hex));
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let mut response = request.call()?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            code => return Err(Failure::Status(code)),
        }
        let mut reader = response.body_mut().with_config().limit(limit).reader();
        let copied = copy(&mut reader, dest)?;
        Ok(Some(copied))
    }

    /// True if the server has the object with this size (`HEAD`).
    pub(crate) fn has(&self, kind: Kind, hex: &str, size: u64) -> Result<bool, Failure> {
        let mut request = self.agent.head(self.url(kind, hex));
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let response = request.call()?;
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match response.status().as_u16() {
            200 => Ok(length.is_none_or(|l| l == size)),
            404 => Ok(false),
            code => Err(Failure::Status(code)),
        }
    }

    /// Uploads a file.
    pub(crate) fn put_file(&self, kind: Kind, hex: &str, path: &Path) -> Result<(), Failure> {
        let file = File::open(path)
            .map_err(|e| Failure::Body(format!("cannot read {}: {e}", path.display())))?;
        let mut request = self.agent.put(self.url(kind, hex));
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let response = request
            .header("Content-Type", "application/octet-stream")
            .send(file)?;
        put_status(response.status().as_u16())
    }

    /// Uploads bytes.
    pub(crate) fn put_bytes(&self, kind: Kind, hex: &str, bytes: &[u8]) -> Result<(), Failure> {
        let mut request = self.agent.put(self.url(kind, hex));
        if let Some(auth) = &self.auth {
            request = request.header("Authorization", auth);
        }
        let response = request
            .header("Content-Type", "application/octet-stream")
            .send(bytes)?;
        put_status(response.status().as_u16())
    }
}

fn put_status(code: u16) -> Result<(), Failure> {
    match code {
        200..=299 => Ok(()),
        code => Err(Failure::Status(code)),
    }
}

/// `io::copy` that sorts errors: a body cut short is [`Failure::Unreachable`], one over the
/// limit is [`Failure::Body`], a failing destination is [`Failure::Body`] too.
fn copy(reader: &mut dyn Read, dest: &mut dyn Write) -> Result<u64, Failure> {
    let mut buffer = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let text = e.to_string();
                return Err(match e.into_inner().map(|i| i.downcast::<ureq::Error>()) {
                    Some(Ok(ureq)) => Failure::from(*ureq),
                    _ => Failure::Unreachable(text),
                });
            }
        };
        dest.write_all(&buffer[..n])
            .map_err(|e| Failure::Body(format!("cannot write the download: {e}")))?;
        total += n as u64;
    }
}
