//! A blocking REAPI v2 client over gRPC: one private tokio runtime, one lazily connected
//! tonic channel (`grpc://` plain, `grpcs://` TLS with the web PKI roots), an optional bearer
//! token, and a deadline on every call — set on the request and enforced here too, so a
//! frozen server ends in [`Fault::Unreachable`], never a hang.
//!
//! The services are split by what they serve: [`cas`] (FindMissingBlobs, BatchUpdateBlobs,
//! BatchReadBlobs, ByteStream Write/Read — each download checked for its SHA-256 and size),
//! [`execution`] (Capabilities, Execute, WaitExecution, CancelOperation, the action cache).
//! Remote execution (`crate::exec`) and the gRPC cache transport (`crate::grpc_cache`) are
//! built on it.

pub(crate) mod cas;
pub(crate) mod execution;

use std::future::Future;
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};

use crate::RemoteError;

/// Largest message accepted from a server (BatchReadBlobs answers are capped by the
/// server's own limit, 4 MiB for BuildGrid).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Why a call did not give what was asked.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// No answer: connection refused or reset, the deadline passed, the stream broke.
    Unreachable(String),
    /// The server answered with an error status.
    Status(Code, String),
    /// The answer was unusable: a blob not matching its digest, a malformed message, or a
    /// local file that could not be read or written.
    Data(String),
    /// A blob the server named is gone from its CAS (a restarted in-memory server, an
    /// eviction): executing the action again brings it back.
    Lost(String),
}

impl Fault {
    /// The fault a tonic status stands for: transport failures and expired deadlines are
    /// [`Fault::Unreachable`].
    pub(crate) fn from_status(status: &Status) -> Fault {
        let message = status.message().to_string();
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded => Fault::Unreachable(message),
            // tonic reports its own request timeout as CANCELLED "Timeout expired".
            Code::Cancelled if message == "Timeout expired" => Fault::Unreachable(message),
            // A connection cut mid-stream ("h2 protocol error", "error reading a body").
            Code::Unknown if message.contains("h2") || message.contains("transport") => {
                Fault::Unreachable(message)
            }
            code => Fault::Status(code, message),
        }
    }

    /// True if a later call may well fail the same way (the server is gone or frozen).
    pub(crate) fn is_unreachable(&self) -> bool {
        matches!(self, Fault::Unreachable(_))
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Unreachable(why) | Fault::Data(why) | Fault::Lost(why) => write!(f, "{why}"),
            Fault::Status(code, why) => write!(f, "{code:?}: {why}"),
        }
    }
}

/// A connection to one REAPI endpoint and instance.
pub(crate) struct Grpc {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    url: String,
    instance: String,
    auth: Option<MetadataValue<tonic::metadata::Ascii>>,
    /// Deadline of each unary call.
    call_timeout: Duration,
}

impl Grpc {
    /// A client for `url` (`grpc://host:port` or `grpcs://host:port`) and `instance`;
    /// connects lazily, so a server that is down shows in the first call.
    pub(crate) fn open(
        url: &str,
        instance: &str,
        token: Option<&str>,
        call_timeout: Duration,
    ) -> Result<Grpc, RemoteError> {
        let invalid = |reason: String| RemoteError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("grpc://") {
            ("http", rest)
        } else if let Some(rest) = url.strip_prefix("grpcs://") {
            ("https", rest)
        } else {
            return Err(invalid("is not a grpc:// or grpcs:// URL".into()));
        };
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(invalid(
                "must name just a host and port (grpc://host:port); put the instance name \
                 in `instance`"
                    .into(),
            ));
        }
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{rest}"))
            .map_err(|e| invalid(format!("is not a valid URL: {e}")))?
            .connect_timeout(call_timeout.min(Duration::from_secs(10)))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if scheme == "https" {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().with_webpki_roots())
                .map_err(|e| invalid(format!("cannot set up TLS: {e}")))?;
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("flavor-grpc")
            .enable_all()
            .build()
            .map_err(|e| invalid(format!("cannot start the gRPC runtime: {e}")))?;
        let channel = {
            let _inside = rt.enter();
            endpoint.connect_lazy()
        };
        let auth = match token {
            Some(t) => Some(
                format!("Bearer {t}")
                    .parse()
                    .map_err(|_| invalid("has a token that is not a valid header value".into()))?,
            ),
            None => None,
        };
        Ok(Grpc {
            rt,
            channel,
            url: url.to_string(),
            instance: instance.to_string(),
            auth,
            call_timeout,
        })
    }

    /// The URL as configured.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The instance name.
    pub(crate) fn instance(&self) -> &str {
        &self.instance
    }

    /// The deadline of each unary call.
    pub(crate) fn call_timeout(&self) -> Duration {
        self.call_timeout
    }

    /// `instance/` (or nothing for the empty instance), the prefix of ByteStream resources.
    pub(crate) fn resource_prefix(&self) -> String {
        if self.instance.is_empty() {
            String::new()
        } else {
            format!("{}/", self.instance)
        }
    }

    /// The channel, for a service client.
    pub(crate) fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A request carrying `message`, the deadline `timeout` and the token.
    pub(crate) fn request<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        if let Some(auth) = &self.auth {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        request
    }

    /// Runs `call` to completion within `limit`, on the private runtime.
    pub(crate) fn block<T, F>(&self, limit: Duration, call: F) -> Result<T, Fault>
    where
        F: Future<Output = Result<T, Fault>>,
    {
        self.rt.block_on(async move {
            match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Err(Fault::Unreachable(format!(
                    "no answer within {}",
                    crate::exec::seconds(limit)
                ))),
            }
        })
    }

    /// Runs a unary call (given its deadline) within [`Grpc::call_timeout`].
    pub(crate) fn unary<T, F>(&self, call: impl FnOnce(Duration) -> F) -> Result<T, Fault>
    where
        F: Future<Output = Result<T, Status>>,
    {
        let limit = self.call_timeout;
        let future = call(limit);
        self.block(limit, async move {
            future.await.map_err(|s| Fault::from_status(&s))
        })
    }
}

/// Message size limits on a generated client.
macro_rules! sized {
    ($client:expr) => {
        $client
            .max_decoding_message_size($crate::grpc::MAX_MESSAGE)
            .max_encoding_message_size($crate::grpc::MAX_MESSAGE)
    };
}
pub(crate) use sized;
