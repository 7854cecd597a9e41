//! The CAS over gRPC: which blobs the server lacks (`FindMissingBlobs`), uploads in batches
//! under the server's limit (`BatchUpdateBlobs`) or streamed above it (`ByteStream.Write`,
//! 1 MiB chunks read from the file as they go), and downloads (`BatchReadBlobs`,
//! `ByteStream.Read`) whose every byte is checked against the SHA-256 and size it was asked
//! for.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::bytestream::{
    ReadRequest, WriteRequest, byte_stream_client::ByteStreamClient,
};
use re::content_addressable_storage_client::ContentAddressableStorageClient as CasClient;
use sha2::{Digest as _, Sha256};

use super::{Fault, Grpc, sized};

/// ByteStream chunk size.
const CHUNK: usize = 1024 * 1024;
/// Room left in a batch for the messages' own framing.
const FRAMING: usize = 64 * 1024;
/// Digests per FindMissingBlobs request.
const FIND_BATCH: usize = 4096;

/// The SHA-256 digest of `data`.
pub(crate) fn digest_of(data: &[u8]) -> re::Digest {
    re::Digest {
        hash: hex::encode(Sha256::digest(data)),
        size_bytes: i64::try_from(data.len()).unwrap_or(i64::MAX),
    }
}

/// A digest's size as a `u64` (negative sizes are malformed: 0).
pub(crate) fn size_of(d: &re::Digest) -> u64 {
    u64::try_from(d.size_bytes).unwrap_or(0)
}

/// `hash/size`.
pub(crate) fn name_of(d: &re::Digest) -> String {
    format!("{}/{}", d.hash, d.size_bytes)
}

/// Where an upload's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// In memory (protos).
    Bytes(Vec<u8>),
    /// In a local file (inputs), read when sent.
    File(PathBuf),
}

/// A blob to upload.
#[derive(Clone, Debug)]
pub(crate) struct Blob {
    pub(crate) digest: re::Digest,
    pub(crate) content: Content,
}

impl Blob {
    /// A blob of bytes.
    pub(crate) fn bytes(data: Vec<u8>) -> Blob {
        Blob {
            digest: digest_of(&data),
            content: Content::Bytes(data),
        }
    }

    fn read(&self) -> Result<Vec<u8>, Fault> {
        match &self.content {
            Content::Bytes(b) => Ok(b.clone()),
            Content::File(path) => std::fs::read(path)
                .map_err(|e| Fault::Data(format!("cannot read {}: {e}", path.display()))),
        }
    }
}

/// The largest batch (sum of blob sizes) for a server that caps batches at `server_limit`
/// bytes (0: no stated limit; BuildGrid's gRPC messages are capped at 4 MiB).
pub(crate) fn batch_limit(server_limit: i64) -> usize {
    let stated = usize::try_from(server_limit).unwrap_or(0);
    let stated = if stated == 0 { 4 * 1024 * 1024 } else { stated };
    stated
        .min(4 * 1024 * 1024)
        .saturating_sub(FRAMING)
        .max(CHUNK)
}

impl Grpc {
    fn cas(&self) -> CasClient<tonic::transport::Channel> {
        sized!(CasClient::new(self.channel()))
    }

    fn bytestream(&self) -> ByteStreamClient<tonic::transport::Channel> {
        sized!(ByteStreamClient::new(self.channel()))
    }

    /// The digests among `digests` the CAS lacks (empty blobs are never missing).
    pub(crate) fn find_missing(&self, digests: &[re::Digest]) -> Result<Vec<re::Digest>, Fault> {
        let mut missing = Vec::new();
        let wanted: Vec<re::Digest> = digests
            .iter()
            .filter(|d| d.size_bytes > 0)
            .cloned()
            .collect();
        for chunk in wanted.chunks(FIND_BATCH) {
            let req = re::FindMissingBlobsRequest {
                instance_name: self.instance().to_string(),
                blob_digests: chunk.to_vec(),
                digest_function: 0,
            };
            let mut cas = self.cas();
            let found = self.unary(|t| async move {
                Ok(cas
                    .find_missing_blobs(self.request(req, t))
                    .await?
                    .into_inner())
            })?;
            missing.extend(found.missing_blob_digests);
        }
        Ok(missing)
    }

    /// Uploads whichever of `blobs` the CAS lacks (all of them if `check` is false); the
    /// bytes sent.
    pub(crate) fn upload(&self, blobs: &[Blob], limit: usize, check: bool) -> Result<u64, Fault> {
        let mut unique: HashMap<&str, &Blob> = HashMap::new();
        for b in blobs {
            unique.insert(&b.digest.hash, b);
        }
        let todo: Vec<&Blob> = if check {
            let all: Vec<re::Digest> = unique.values().map(|b| b.digest.clone()).collect();
            self.find_missing(&all)?
                .iter()
                .filter_map(|d| unique.get(d.hash.as_str()).copied())
                .collect()
        } else {
            unique
                .into_values()
                .filter(|b| b.digest.size_bytes > 0)
                .collect()
        };
        let mut sent = 0;
        let mut batch: Vec<re::batch_update_blobs_request::Request> = Vec::new();
        let mut batch_bytes = 0;
        for blob in todo {
            let size = usize::try_from(blob.digest.size_bytes).unwrap_or(usize::MAX);
            if size > limit {
                self.write_stream(blob)?;
                sent += size as u64;
                continue;
            }
            if batch_bytes + size > limit && !batch.is_empty() {
                self.batch_update(std::mem::take(&mut batch))?;
                batch_bytes = 0;
            }
            batch.push(re::batch_update_blobs_request::Request {
                digest: Some(blob.digest.clone()),
                data: blob.read()?,
                compressor: 0,
            });
            batch_bytes += size;
            sent += size as u64;
        }
        if !batch.is_empty() {
            self.batch_update(batch)?;
        }
        Ok(sent)
    }

    fn batch_update(
        &self,
        requests: Vec<re::batch_update_blobs_request::Request>,
    ) -> Result<(), Fault> {
        let req = re::BatchUpdateBlobsRequest {
            instance_name: self.instance().to_string(),
            requests,
            digest_function: 0,
        };
        let mut cas = self.cas();
        let resp = self.unary(|t| async move {
            Ok(cas
                .batch_update_blobs(self.request(req, t))
                .await?
                .into_inner())
        })?;
        for r in resp.responses {
            if let Some(s) = r.status.filter(|s| s.code != 0) {
                let d = r.digest.unwrap_or_default();
                return Err(Fault::Status(
                    s.code.into(),
                    format!("storing blob {}: {}", name_of(&d), s.message),
                ));
            }
        }
        Ok(())
    }

    /// `ByteStream.Write` of one blob, its bytes read in chunks as they are sent.
    fn write_stream(&self, blob: &Blob) -> Result<(), Fault> {
        static UPLOADS: AtomicU64 = AtomicU64::new(0);
        let d = &blob.digest;
        let n = UPLOADS.fetch_add(1, Ordering::Relaxed);
        let resource = format!(
            "{}uploads/flavor-{}-{n}/blobs/{}/{}",
            self.resource_prefix(),
            std::process::id(),
            d.hash,
            d.size_bytes
        );
        let total = size_of(d);
        let mut source: Box<dyn Read + Send> = match &blob.content {
            Content::Bytes(b) => Box::new(std::io::Cursor::new(b.clone())),
            Content::File(path) => Box::new(
                File::open(path)
                    .map_err(|e| Fault::Data(format!("cannot read {}: {e}", path.display())))?,
            ),
        };
        let mut offset = 0u64;
        let mut failed: Option<String> = None;
        let chunks = std::iter::from_fn(move || {
            if offset >= total && offset > 0 {
                return None;
            }
            let want = usize::try_from((total - offset).min(CHUNK as u64)).unwrap_or(CHUNK);
            let mut data = vec![0; want];
            if let Err(e) = source.read_exact(&mut data) {
                // The server sees a short stream and refuses it.
                failed.get_or_insert(e.to_string());
                return None;
            }
            let first = offset == 0;
            let at = offset;
            offset += want as u64;
            Some(WriteRequest {
                resource_name: if first {
                    resource.clone()
                } else {
                    String::new()
                },
                write_offset: i64::try_from(at).unwrap_or(i64::MAX),
                finish_write: offset >= total,
                data,
            })
        });
        let mut bs = self.bytestream();
        // A stream gets a deadline per MiB on top of the call's.
        let limit = self.call_timeout()
            + self.call_timeout() * u32::try_from(total >> 20).unwrap_or(u32::MAX).min(64);
        let future = async move {
            let req = self.request(tokio_stream::iter(chunks), limit);
            bs.write(req).await.map_err(|s| Fault::from_status(&s))
        };
        let resp = self.block(limit, future)?.into_inner();
        if resp.committed_size != d.size_bytes {
            return Err(Fault::Data(format!(
                "ByteStream Write of {} committed {} bytes",
                name_of(d),
                resp.committed_size
            )));
        }
        Ok(())
    }

    /// Downloads blobs of at most `limit` bytes in total, in one `BatchReadBlobs`; each is
    /// checked. `Ok(None)` for a blob the CAS does not have.
    pub(crate) fn batch_read(&self, digests: &[re::Digest]) -> Result<Vec<Option<Vec<u8>>>, Fault> {
        let wanted: Vec<re::Digest> = digests
            .iter()
            .filter(|d| d.size_bytes > 0)
            .cloned()
            .collect();
        let mut found: HashMap<String, Option<Vec<u8>>> = HashMap::new();
        if !wanted.is_empty() {
            let req = re::BatchReadBlobsRequest {
                instance_name: self.instance().to_string(),
                digests: wanted,
                acceptable_compressors: Vec::new(),
                digest_function: 0,
            };
            let mut cas = self.cas();
            let resp = self.unary(|t| async move {
                Ok(cas
                    .batch_read_blobs(self.request(req, t))
                    .await?
                    .into_inner())
            })?;
            for r in resp.responses {
                let d = r.digest.unwrap_or_default();
                match r.status.map_or(0, |s| s.code) {
                    0 => {
                        found.insert(d.hash.clone(), Some(r.data));
                    }
                    5 => {
                        found.insert(d.hash.clone(), None);
                    }
                    code => {
                        return Err(Fault::Status(
                            code.into(),
                            format!("reading blob {}", name_of(&d)),
                        ));
                    }
                }
            }
        }
        digests
            .iter()
            .map(|d| {
                if d.size_bytes == 0 {
                    return Ok(Some(Vec::new()));
                }
                match found.get(&d.hash) {
                    Some(Some(data)) => checked(d, data).map(|()| Some(data.clone())),
                    Some(None) => Ok(None),
                    None => Err(Fault::Data(format!(
                        "the server did not answer for blob {}",
                        name_of(d)
                    ))),
                }
            })
            .collect()
    }

    /// Streams one blob into `dest` (`BatchReadBlobs` up to `limit`, `ByteStream.Read`
    /// above), checking its SHA-256 and size; `Ok(false)` if the CAS does not have it.
    pub(crate) fn read_into(
        &self,
        d: &re::Digest,
        dest: &mut dyn Write,
        limit: usize,
    ) -> Result<bool, Fault> {
        let write = |dest: &mut dyn Write, data: &[u8]| {
            dest.write_all(data)
                .map_err(|e| Fault::Data(format!("cannot write a download: {e}")))
        };
        if size_of(d) <= limit as u64 {
            return match self.batch_read(std::slice::from_ref(d))?.pop().flatten() {
                Some(data) => write(dest, &data).map(|()| true),
                None => Ok(false),
            };
        }
        let req = ReadRequest {
            resource_name: format!(
                "{}blobs/{}/{}",
                self.resource_prefix(),
                d.hash,
                d.size_bytes
            ),
            read_offset: 0,
            read_limit: 0,
        };
        let total = size_of(d);
        let limit_time = self.call_timeout()
            + self.call_timeout() * u32::try_from(total >> 20).unwrap_or(u32::MAX).min(64);
        let mut bs = self.bytestream();
        let mut sha = Sha256::new();
        let mut got = 0u64;
        let sink = &mut *dest;
        let result = self.block(limit_time, async {
            let mut stream = match bs.read(self.request(req, limit_time)).await {
                Ok(s) => s.into_inner(),
                Err(s) if s.code() == tonic::Code::NotFound => return Ok(false),
                Err(s) => return Err(Fault::from_status(&s)),
            };
            while let Some(chunk) = stream.message().await.map_err(|s| Fault::from_status(&s))? {
                got += chunk.data.len() as u64;
                if got > total {
                    return Err(Fault::Data(format!(
                        "blob {} is longer than its size",
                        name_of(d)
                    )));
                }
                sha.update(&chunk.data);
                write(sink, &chunk.data)?;
            }
            Ok(true)
        })?;
        if !result {
            return Ok(false);
        }
        let hash = hex::encode(sha.finalize());
        if got != total || hash != d.hash {
            return Err(Fault::Data(format!(
                "blob {} came back as {hash}/{got}",
                name_of(d)
            )));
        }
        Ok(true)
    }
}

/// `Ok` if `data` matches `d`.
fn checked(d: &re::Digest, data: &[u8]) -> Result<(), Fault> {
    let got = digest_of(data);
    if got == *d {
        Ok(())
    } else {
        Err(Fault::Data(format!(
            "blob {} came back as {}",
            name_of(d),
            name_of(&got)
        )))
    }
}
