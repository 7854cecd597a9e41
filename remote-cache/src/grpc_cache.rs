//! The remote cache over gRPC (`[cache] remote = "grpc://…"`): the same [`Transport`] as
//! the HTTP one, on the REAPI `ActionCache`, `ContentAddressableStorage` and `ByteStream`
//! services, so gRPC-only caches (BuildBuddy, Buildbarn, NativeLink, EngFlow) and the
//! action cache of a remote execution cluster serve flavor's existing remote-cache feature.
//!
//! Action cache entries are keyed by the remote key (64 hex digits) with size 0: the key
//! names no blob, and a digest needs a size.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use tonic::Code;

use crate::RemoteError;
use crate::grpc::cas::{Blob, Content, batch_limit};
use crate::grpc::{Fault, Grpc};
use crate::transport::{Failure, Transport};

/// A gRPC remote cache.
pub(crate) struct GrpcTransport {
    grpc: Grpc,
    limit: usize,
}

impl GrpcTransport {
    /// A client for `url` (`grpc://` or `grpcs://`, instance `""`).
    pub(crate) fn new(
        url: &str,
        token: Option<&str>,
        timeout: Duration,
    ) -> Result<GrpcTransport, RemoteError> {
        Ok(GrpcTransport {
            grpc: Grpc::open(url, "", token, timeout)?,
            limit: batch_limit(0),
        })
    }
}

/// A key as an action digest.
fn key_digest(key: &str) -> re::Digest {
    re::Digest {
        hash: key.to_string(),
        size_bytes: 0,
    }
}

impl From<Fault> for Failure {
    fn from(fault: Fault) -> Failure {
        match fault {
            Fault::Unreachable(why) => Failure::Unreachable(why),
            Fault::Data(why) | Fault::Lost(why) => Failure::Body(why),
            // The HTTP statuses the rest of the crate acts on: 401/403/405/413 turn uploads
            // off, 404 is a miss.
            Fault::Status(code, _) => Failure::Status(match code {
                Code::Unauthenticated => 401,
                Code::PermissionDenied => 403,
                Code::NotFound => 404,
                Code::Unimplemented => 405,
                Code::ResourceExhausted => 413,
                _ => 500,
            }),
        }
    }
}

impl Transport for GrpcTransport {
    fn endpoint(&self) -> &str {
        self.grpc.url()
    }

    fn get_action_result(&self, key: &str) -> Result<Option<re::ActionResult>, Failure> {
        Ok(self.grpc.get_action_result(&key_digest(key))?)
    }

    fn put_action_result(&self, key: &str, result: &re::ActionResult) -> Result<(), Failure> {
        Ok(self.grpc.update_action_result(&key_digest(key), result)?)
    }

    fn has_blob(&self, sha256: &str, size: u64) -> Result<bool, Failure> {
        let d = re::Digest {
            hash: sha256.to_string(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        };
        Ok(self.grpc.find_missing(std::slice::from_ref(&d))?.is_empty())
    }

    fn get_blob(
        &self,
        sha256: &str,
        size: u64,
        dest: &mut dyn Write,
    ) -> Result<Option<u64>, Failure> {
        let d = re::Digest {
            hash: sha256.to_string(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        };
        Ok(self.grpc.read_into(&d, dest, self.limit)?.then_some(size))
    }

    fn put_blob_bytes(&self, sha256: &str, bytes: &[u8]) -> Result<(), Failure> {
        let blob = Blob {
            digest: re::Digest {
                hash: sha256.to_string(),
                size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            },
            content: Content::Bytes(bytes.to_vec()),
        };
        self.grpc.upload(&[blob], self.limit, false)?;
        Ok(())
    }

    fn put_blob(&self, sha256: &str, size: u64, path: &Path) -> Result<(), Failure> {
        let blob = Blob {
            digest: re::Digest {
                hash: sha256.to_string(),
                size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            },
            content: Content::File(path.to_path_buf()),
        };
        self.grpc.upload(&[blob], self.limit, false)?;
        Ok(())
    }
}
