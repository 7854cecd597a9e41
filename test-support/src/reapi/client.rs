//! A small blocking REAPI v2 client for the tests: what a test needs to drive a cluster by
//! hand and check what a build left in it (the harness also uses it to see the server up).
//!
//! [`Client`] wraps tonic's generated clients (`bazel-remote-apis`) in one private
//! multi-thread tokio runtime; every call blocks and has a deadline ([`Client::timeout`],
//! enforced on this side too, so a frozen server gives `DEADLINE_EXCEEDED`, never a hang;
//! tonic itself reports an expired request timeout as `CANCELLED` "Timeout expired", which
//! this client renames).
//! The messages come from `protos`. This is a test fixture, not flavor's client: it does no
//! retries and no fallback.

use super::protos::{ActionSpec, InputRoot, PreconditionFailure, digest, digest_string};
use bazel_remote_apis::build::bazel::remote::execution::v2::{
    ActionResult, BatchReadBlobsRequest, BatchUpdateBlobsRequest, Digest, ExecuteOperationMetadata,
    ExecuteRequest, ExecuteResponse, FindMissingBlobsRequest, GetActionResultRequest,
    GetCapabilitiesRequest, ServerCapabilities, WaitExecutionRequest,
    action_cache_client::ActionCacheClient, batch_update_blobs_request,
    capabilities_client::CapabilitiesClient,
    content_addressable_storage_client::ContentAddressableStorageClient,
    execution_client::ExecutionClient,
};
use bazel_remote_apis::google::bytestream::{
    ReadRequest, WriteRequest, byte_stream_client::ByteStreamClient,
};
use bazel_remote_apis::google::longrunning::{Operation, operation};
use bazel_remote_apis::google::rpc::Status as RpcStatus;
use prost::Message;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// Blobs above this size go through ByteStream (BuildGrid caps gRPC messages at 4 MiB).
pub const STREAM_ABOVE: usize = 2 * 1024 * 1024;
/// The most blob bytes in one `BatchUpdateBlobs`/`BatchReadBlobs`.
const BATCH_LIMIT: usize = 3 * 1024 * 1024;
/// ByteStream chunk size.
const CHUNK: usize = 1024 * 1024;
/// Messages this client accepts (BatchReadBlobs answers can reach the server's 4 MiB cap).
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// What one `Execute` (or `WaitExecution`) stream said.
#[derive(Debug)]
pub struct Executed {
    /// The operation's name (for `WaitExecution`).
    pub name: String,
    /// The stages reported, in order (`ExecutionStage.Value`: 1 cache check, 2 queued,
    /// 3 executing, 4 completed).
    pub stages: Vec<i32>,
    /// The final `ExecuteResponse` (empty if the operation ended with an error instead).
    pub response: ExecuteResponse,
    /// The operation's `error`, when it ended with one instead of a response (BuildGrid
    /// does so for an action that outlives its `Action.timeout`).
    pub operation_error: Option<RpcStatus>,
}

impl Executed {
    /// The operation error's code, else the response's status code (`OK` when absent).
    pub fn code(&self) -> Code {
        let status = self
            .operation_error
            .as_ref()
            .or(self.response.status.as_ref());
        Code::from(status.map_or(0, |s| s.code))
    }

    /// The subjects of the `MISSING` violations in the status's `PreconditionFailure`
    /// details (`blobs/<hash>/<size>`); empty if there are none.
    pub fn missing_blobs(&self) -> Vec<String> {
        let Some(status) = &self.response.status else {
            return Vec::new();
        };
        status
            .details
            .iter()
            .filter(|any| any.type_url.ends_with("google.rpc.PreconditionFailure"))
            .filter_map(|any| PreconditionFailure::decode(any.value.as_slice()).ok())
            .flat_map(|f| f.violations)
            .filter(|v| v.r#type == "MISSING")
            .map(|v| v.subject)
            .collect()
    }

    /// The `ActionResult`; panics with the status unless the status is OK.
    pub fn result(&self) -> &ActionResult {
        assert_eq!(
            self.code(),
            Code::Ok,
            "Execute failed: {:?} {:?}",
            self.operation_error,
            self.response.status
        );
        self.response
            .result
            .as_ref()
            .expect("an OK ExecuteResponse has a result")
    }
}

/// A blocking REAPI client on a private runtime.
pub struct Client {
    rt: tokio::runtime::Runtime,
    channel: Channel,
    instance: String,
    timeout: Duration,
}

impl Client {
    /// A client for `url` (`grpc://host:port` or `http://…`), instance `""`, 30 s per call.
    /// Connects lazily: a server that is down shows in the first call.
    pub fn connect(url: &str) -> Client {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let http = match url.strip_prefix("grpc://") {
            Some(rest) => format!("http://{rest}"),
            None => url.to_string(),
        };
        let endpoint = Endpoint::from_shared(http)
            .unwrap_or_else(|e| panic!("bad REAPI url {url:?}: {e}"))
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
        let channel = {
            let _inside = rt.enter();
            endpoint.connect_lazy()
        };
        Client {
            rt,
            channel,
            instance: String::new(),
            timeout: Duration::from_secs(30),
        }
    }

    /// The deadline of each later call (for `Execute`, of the whole stream).
    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Run `call` with the deadline: sent to the server and enforced here.
    fn call<T, F>(&self, call: impl FnOnce(Duration) -> F) -> Result<T, Status>
    where
        F: Future<Output = Result<T, Status>>,
    {
        let limit = self.timeout;
        let late = || {
            Status::deadline_exceeded(format!("no answer within {limit:?} (client-side deadline)"))
        };
        self.rt.block_on(async move {
            match tokio::time::timeout(limit, call(limit)).await {
                // tonic enforces the request's grpc-timeout itself and reports its expiry as
                // CANCELLED "Timeout expired"; call it what it is.
                Ok(Err(s)) if s.code() == Code::Cancelled && s.message() == "Timeout expired" => {
                    Err(late())
                }
                Ok(result) => result,
                Err(_) => Err(late()),
            }
        })
    }

    fn request<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(timeout);
        request
    }

    fn cas(&self) -> ContentAddressableStorageClient<Channel> {
        ContentAddressableStorageClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
    }

    fn bytestream(&self) -> ByteStreamClient<Channel> {
        ByteStreamClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    /// `Capabilities.GetCapabilities`.
    pub fn capabilities(&self) -> Result<ServerCapabilities, Status> {
        let req = GetCapabilitiesRequest {
            instance_name: self.instance.clone(),
        };
        let mut client = CapabilitiesClient::new(self.channel.clone());
        self.call(|t| async move {
            Ok(client
                .get_capabilities(self.request(req, t))
                .await?
                .into_inner())
        })
    }

    /// `FindMissingBlobs`: the digests the CAS lacks.
    pub fn find_missing(&self, digests: Vec<Digest>) -> Result<Vec<Digest>, Status> {
        let req = FindMissingBlobsRequest {
            instance_name: self.instance.clone(),
            blob_digests: digests,
            digest_function: 0,
        };
        let mut cas = self.cas();
        self.call(|t| async move {
            Ok(cas
                .find_missing_blobs(self.request(req, t))
                .await?
                .into_inner()
                .missing_blob_digests)
        })
    }

    /// One `BatchUpdateBlobs` with all of `blobs` (however big: tests use it to see the cap);
    /// an error if the call or any blob failed.
    pub fn batch_update(&self, blobs: &[&[u8]]) -> Result<(), Status> {
        let requests = blobs
            .iter()
            .map(|b| batch_update_blobs_request::Request {
                digest: Some(digest(b)),
                data: b.to_vec(),
                compressor: 0,
            })
            .collect();
        let req = BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests,
            digest_function: 0,
        };
        let mut cas = self.cas();
        let resp = self.call(|t| async move {
            Ok(cas
                .batch_update_blobs(self.request(req, t))
                .await?
                .into_inner())
        })?;
        match resp
            .responses
            .iter()
            .find_map(|r| r.status.as_ref().filter(|s| s.code != 0))
        {
            Some(s) => Err(Status::new(Code::from(s.code), s.message.clone())),
            None => Ok(()),
        }
    }

    /// Upload whichever of `blobs` the CAS lacks: batches under the limit, ByteStream above
    /// [`STREAM_ABOVE`].
    pub fn upload(&self, blobs: &[Vec<u8>]) -> Result<(), Status> {
        let by_hash: BTreeMap<String, &Vec<u8>> =
            blobs.iter().map(|b| (digest(b).hash, b)).collect();
        let missing = self.find_missing(blobs.iter().map(|b| digest(b)).collect())?;
        let mut batch: Vec<&[u8]> = Vec::new();
        let mut total = 0;
        for d in missing {
            let data = by_hash[&d.hash].as_slice();
            if data.len() > STREAM_ABOVE {
                self.write_stream(data)?;
                continue;
            }
            if total + data.len() > BATCH_LIMIT && !batch.is_empty() {
                self.batch_update(&batch)?;
                batch.clear();
                total = 0;
            }
            total += data.len();
            batch.push(data);
        }
        if !batch.is_empty() {
            self.batch_update(&batch)?;
        }
        Ok(())
    }

    /// `ByteStream.Write` of `data` in 1 MiB chunks; its digest once committed.
    pub fn write_stream(&self, data: &[u8]) -> Result<Digest, Status> {
        static UPLOADS: AtomicU64 = AtomicU64::new(0);
        let d = digest(data);
        let n = UPLOADS.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "{}uploads/flavor-test-{}-{n}/blobs/{}/{}",
            self.prefix(),
            std::process::id(),
            d.hash,
            d.size_bytes
        );
        let mut requests = Vec::new();
        let mut offset = 0;
        while offset < data.len() || requests.is_empty() {
            let end = (offset + CHUNK).min(data.len());
            requests.push(WriteRequest {
                resource_name: if offset == 0 {
                    name.clone()
                } else {
                    String::new()
                },
                write_offset: offset as i64,
                finish_write: end == data.len(),
                data: data[offset..end].to_vec(),
            });
            offset = end;
        }
        let mut bs = self.bytestream();
        let resp = self.call(|t| async move {
            let req = self.request(tokio_stream::iter(requests), t);
            Ok(bs.write(req).await?.into_inner())
        })?;
        if resp.committed_size != d.size_bytes {
            return Err(Status::data_loss(format!(
                "ByteStream Write committed {} of {} bytes",
                resp.committed_size, d.size_bytes
            )));
        }
        Ok(d)
    }

    /// `ByteStream.Read` of a whole blob, checked against its digest.
    pub fn read_stream(&self, d: &Digest) -> Result<Vec<u8>, Status> {
        let req = ReadRequest {
            resource_name: format!("{}blobs/{}/{}", self.prefix(), d.hash, d.size_bytes),
            read_offset: 0,
            read_limit: 0,
        };
        let mut bs = self.bytestream();
        let data = self.call(|t| async move {
            let mut stream = bs.read(self.request(req, t)).await?.into_inner();
            let mut data = Vec::new();
            while let Some(chunk) = stream.message().await? {
                data.extend_from_slice(&chunk.data);
            }
            Ok(data)
        })?;
        verified(d, data)
    }

    /// `BatchReadBlobs` of `digests` (their sizes must fit one batch), in order, checked.
    pub fn batch_read(&self, digests: &[Digest]) -> Result<Vec<Vec<u8>>, Status> {
        let req = BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: digests.to_vec(),
            acceptable_compressors: Vec::new(),
            digest_function: 0,
        };
        let mut cas = self.cas();
        let resp = self.call(|t| async move {
            Ok(cas
                .batch_read_blobs(self.request(req, t))
                .await?
                .into_inner())
        })?;
        let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for r in resp.responses {
            let status = r.status.unwrap_or_default();
            let d = r.digest.unwrap_or_default();
            if status.code != 0 {
                return Err(Status::new(
                    Code::from(status.code),
                    format!("{}: {}", digest_string(&d), status.message),
                ));
            }
            found.insert(d.hash, r.data);
        }
        digests
            .iter()
            .map(|d| {
                match found
                    .remove(&d.hash)
                    .or_else(|| (d.size_bytes == 0).then(Vec::new))
                {
                    Some(data) => verified(d, data),
                    None => Err(Status::not_found(digest_string(d))),
                }
            })
            .collect()
    }

    /// One blob, by `BatchReadBlobs` or, above [`STREAM_ABOVE`], ByteStream.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, Status> {
        if d.size_bytes as usize > STREAM_ABOVE {
            self.read_stream(d)
        } else {
            Ok(self.batch_read(std::slice::from_ref(d))?.remove(0))
        }
    }

    /// `ActionCache.GetActionResult`: `None` on `NOT_FOUND`.
    pub fn get_action_result(&self, action: &Digest) -> Result<Option<ActionResult>, Status> {
        let req = GetActionResultRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let mut ac = ActionCacheClient::new(self.channel.clone());
        match self.call(|t| async move {
            Ok(ac
                .get_action_result(self.request(req, t))
                .await?
                .into_inner())
        }) {
            Ok(result) => Ok(Some(result)),
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(s),
        }
    }

    /// `Execution.Execute`, following the stream to the end.
    pub fn execute(&self, action: &Digest, skip_cache_lookup: bool) -> Result<Executed, Status> {
        let req = ExecuteRequest {
            instance_name: self.instance.clone(),
            skip_cache_lookup,
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let mut exec = ExecutionClient::new(self.channel.clone());
        self.call(|t| async move {
            let stream = exec.execute(self.request(req, t)).await?.into_inner();
            follow(stream).await
        })
    }

    /// `Execution.Execute`, reading only the first message: the operation's name (for
    /// [`Client::wait_execution`]); the stream is dropped, the operation goes on.
    pub fn start_execute(&self, action: &Digest) -> Result<String, Status> {
        let req = ExecuteRequest {
            instance_name: self.instance.clone(),
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let mut exec = ExecutionClient::new(self.channel.clone());
        self.call(|t| async move {
            let mut stream = exec.execute(self.request(req, t)).await?.into_inner();
            match stream.message().await? {
                Some(op) => Ok(op.name),
                None => Err(Status::unavailable("the operation stream ended at once")),
            }
        })
    }

    /// `Execution.WaitExecution(name)`, following the stream to the end.
    pub fn wait_execution(&self, name: &str) -> Result<Executed, Status> {
        let req = WaitExecutionRequest {
            name: name.to_string(),
        };
        let mut exec = ExecutionClient::new(self.channel.clone());
        self.call(|t| async move {
            let stream = exec
                .wait_execution(self.request(req, t))
                .await?
                .into_inner();
            follow(stream).await
        })
    }

    /// Upload `input_root`'s blobs and the action's, then `Execute` it (cache lookup on).
    pub fn run(&self, spec: &ActionSpec, input_root: &InputRoot) -> Result<Executed, Status> {
        let (root, mut blobs) = input_root.build();
        let (action, more) = spec.build(&root);
        blobs.extend(more);
        self.upload(&blobs)?;
        self.execute(&action, false)
    }

    fn prefix(&self) -> String {
        if self.instance.is_empty() {
            String::new()
        } else {
            format!("{}/", self.instance)
        }
    }
}

/// `data` if it matches `d`, else `DATA_LOSS`.
fn verified(d: &Digest, data: Vec<u8>) -> Result<Vec<u8>, Status> {
    if digest(&data) == *d {
        Ok(data)
    } else {
        Err(Status::data_loss(format!(
            "{} came back as {}",
            digest_string(d),
            digest_string(&digest(&data))
        )))
    }
}

/// Read an operation stream until `done`.
async fn follow(mut stream: tonic::Streaming<Operation>) -> Result<Executed, Status> {
    let mut stages = Vec::new();
    while let Some(op) = stream.message().await? {
        if let Some(meta) = &op.metadata
            && let Ok(meta) = ExecuteOperationMetadata::decode(meta.value.as_slice())
            && stages.last() != Some(&meta.stage)
        {
            stages.push(meta.stage);
        }
        if !op.done {
            continue;
        }
        return match op.result {
            Some(operation::Result::Response(any)) => Ok(Executed {
                name: op.name,
                stages,
                response: ExecuteResponse::decode(any.value.as_slice())
                    .map_err(|e| Status::internal(format!("bad ExecuteResponse: {e}")))?,
                operation_error: None,
            }),
            Some(operation::Result::Error(s)) => Ok(Executed {
                name: op.name,
                stages,
                response: ExecuteResponse::default(),
                operation_error: Some(s),
            }),
            None => Err(Status::internal("operation done without a result")),
        };
    }
    Err(Status::unavailable(
        "the operation stream ended before done",
    ))
}
