//! The Bazel HTTP remote-cache protocol: `GET`, `HEAD` and `PUT` of `<base>/ac/<hex>` (an
//! `ActionResult` protobuf) and `<base>/cas/<sha256>` (the bytes) with [`ureq`], an optional
//! bearer token, timeouts, and every failure sorted into a [`Failure`] the caller can act on
//! (go offline, warn, or treat as a miss). bazel-remote, BuildBuddy-style caches and a plain
//! WebDAV server (nginx `dav_methods PUT`) serve it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use prost::Message;
use ureq::Agent;

use crate::RemoteError;
use crate::transport::{Failure, Transport};

/// The largest `/ac/` body accepted (an entry names a few digests; anything near this is
/// not ours).
const MAX_AC_BODY: u64 = 1 << 20;

/// Which half of the cache a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
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
pub(crate) struct HttpTransport {
    agent: Agent,
    base: String,
    auth: Option<String>,
}

impl HttpTransport {
    /// A client for `base` (`http://` or `https://`, any path prefix), sending
    /// `Authorization: Bearer <token>` when a token is given.
    pub(crate) fn new(
        base: &str,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<HttpTransport, RemoteError> {
        let base = base.trim_end_matches('/');
        let invalid = |reason: String| RemoteError::InvalidUrl {
            url: base.to_string(),
            reason,
        };
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| invalid("is not an http:// or https:// URL".into()))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid("names no host".into()));
        }
        base.parse::<ureq::http::Uri>()
            .map_err(|e| invalid(format!("is not a valid URL: {e}")))?;
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            .user_agent(concat!("flavor/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(HttpTransport {
            agent: config.new_agent(),
            base: base.to_string(),
            auth: token.map(|t| format!("Bearer {t}")),
        })
    }

    /// The URL of an object.
    fn url(&self, kind: Kind, hex: &str) -> String {
        format!("{}/{}/{hex}", self.base, kind.segment())
    }

    /// The object's bytes (at most `limit`), or `None` if the server does not have it.
    fn get_bytes(&self, kind: Kind, hex: &str, limit: u64) -> Result<Option<Vec<u8>>, Failure> {
        let mut out = Vec::new();
        Ok(self.get_into(kind, hex, &mut out, limit)?.map(|_| out))
    }

    /// Streams the object into `dest` (at most `limit` bytes); its length, or `None` if the
    /// server does not have it.
    fn get_into(
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
    fn has(&self, kind: Kind, hex: &str, size: u64) -> Result<bool, Failure> {
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
    fn put_file(&self, kind: Kind, hex: &str, path: &Path) -> Result<(), Failure> {
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
    fn put_bytes(&self, kind: Kind, hex: &str, bytes: &[u8]) -> Result<(), Failure> {
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

impl Transport for HttpTransport {
    fn endpoint(&self) -> &str {
        &self.base
    }

    fn get_action_result(&self, key: &str) -> Result<Option<re::ActionResult>, Failure> {
        let Some(body) = self.get_bytes(Kind::Ac, key, MAX_AC_BODY)? else {
            return Ok(None);
        };
        re::ActionResult::decode(&body[..])
            .map(Some)
            .map_err(|e| Failure::Malformed(format!("not an ActionResult protobuf ({e})")))
    }

    fn put_action_result(&self, key: &str, result: &re::ActionResult) -> Result<(), Failure> {
        self.put_bytes(Kind::Ac, key, &result.encode_to_vec())
    }

    fn has_blob(&self, sha256: &str, size: u64) -> Result<bool, Failure> {
        self.has(Kind::Cas, sha256, size)
    }

    fn get_blob(
        &self,
        sha256: &str,
        size: u64,
        dest: &mut dyn Write,
    ) -> Result<Option<u64>, Failure> {
        self.get_into(Kind::Cas, sha256, dest, size)
    }

    fn put_blob(&self, sha256: &str, _size: u64, path: &Path) -> Result<(), Failure> {
        self.put_file(Kind::Cas, sha256, path)
    }

    fn put_blob_bytes(&self, sha256: &str, bytes: &[u8]) -> Result<(), Failure> {
        self.put_bytes(Kind::Cas, sha256, bytes)
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
