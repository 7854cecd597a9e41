//! The execution side of REAPI over gRPC: `GetCapabilities`, `Execute` followed to the end
//! (remembering the operation's name, so a broken stream can be resumed with
//! `WaitExecution`), `CancelOperation`, and the action cache (`GetActionResult`,
//! `UpdateActionResult`).

use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use bazel_remote_apis::google::longrunning::{
    CancelOperationRequest, Operation, operation, operations_client::OperationsClient,
};
use prost::Message;
use re::action_cache_client::ActionCacheClient;
use re::capabilities_client::CapabilitiesClient;
use re::execution_client::ExecutionClient;
use tonic::Code;

use super::{Fault, Grpc, sized};

/// How an operation stream ended.
#[derive(Debug)]
pub(crate) enum Followed {
    /// The operation is done: its response (or its error as a status).
    Done(Box<re::ExecuteResponse>),
    /// The stream broke or went silent before the operation was done; `name` (if the
    /// server said it) resumes it with `WaitExecution`.
    Broken {
        /// The operation's name.
        name: Option<String>,
        /// What happened.
        fault: Fault,
    },
}

impl Grpc {
    /// `Capabilities.GetCapabilities`.
    pub(crate) fn capabilities(&self) -> Result<re::ServerCapabilities, Fault> {
        let req = re::GetCapabilitiesRequest {
            instance_name: self.instance().to_string(),
        };
        let mut client = CapabilitiesClient::new(self.channel());
        self.unary(|t| async move {
            Ok(client
                .get_capabilities(self.request(req, t))
                .await?
                .into_inner())
        })
    }

    /// `Execute(action)`, followed until done or `limit` passes.
    pub(crate) fn execute(
        &self,
        action: &re::Digest,
        skip_cache_lookup: bool,
        limit: Duration,
    ) -> Result<Followed, Fault> {
        let req = re::ExecuteRequest {
            instance_name: self.instance().to_string(),
            skip_cache_lookup,
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let mut exec = sized!(ExecutionClient::new(self.channel()));
        self.follow(limit, async move {
            exec.execute(self.request(req, limit))
                .await
                .map(tonic::Response::into_inner)
        })
    }

    /// `WaitExecution(name)`, followed until done or `limit` passes.
    pub(crate) fn wait_execution(&self, name: &str, limit: Duration) -> Result<Followed, Fault> {
        let req = re::WaitExecutionRequest {
            name: name.to_string(),
        };
        let mut exec = sized!(ExecutionClient::new(self.channel()));
        self.follow(limit, async move {
            exec.wait_execution(self.request(req, limit))
                .await
                .map(tonic::Response::into_inner)
        })
    }

    /// Opens a stream with `open` and reads it until the operation is done. `Err` only when
    /// the stream could not be opened (the server refused the request or is unreachable)
    /// and no operation name is known.
    fn follow<F>(&self, limit: Duration, open: F) -> Result<Followed, Fault>
    where
        F: Future<Output = Result<tonic::Streaming<Operation>, tonic::Status>>,
    {
        let mut name: Option<String> = None;
        let seen = &mut name;
        let result = self.block(limit, async move {
            let mut stream = open.await.map_err(|s| Fault::from_status(&s))?;
            loop {
                let fault = match stream.message().await {
                    Ok(Some(op)) => {
                        if !op.name.is_empty() {
                            *seen = Some(op.name.clone());
                        }
                        if op.done {
                            return done(op).map(|r| Followed::Done(Box::new(r)));
                        }
                        continue;
                    }
                    Ok(None) => Fault::Unreachable(
                        "the operation stream ended before the operation was done".into(),
                    ),
                    Err(s) => Fault::from_status(&s),
                };
                return Ok(Followed::Broken {
                    name: seen.clone(),
                    fault,
                });
            }
        });
        match result {
            Err(fault @ Fault::Unreachable(_)) if name.is_some() => {
                Ok(Followed::Broken { name, fault })
            }
            other => other,
        }
    }

    /// `Operations.CancelOperation(name)`, best effort (a short deadline, errors ignored).
    pub(crate) fn cancel(&self, name: &str) {
        let req = CancelOperationRequest {
            name: name.to_string(),
        };
        let mut ops = OperationsClient::new(self.channel());
        let limit = self.call_timeout().min(Duration::from_secs(2));
        let _ = self.block(limit, async move {
            ops.cancel_operation(self.request(req, limit))
                .await
                .map_err(|s| Fault::from_status(&s))
        });
    }

    /// `ActionCache.GetActionResult`: `None` when the cache has no entry.
    pub(crate) fn get_action_result(
        &self,
        action: &re::Digest,
    ) -> Result<Option<re::ActionResult>, Fault> {
        let req = re::GetActionResultRequest {
            instance_name: self.instance().to_string(),
            action_digest: Some(action.clone()),
            ..Default::default()
        };
        let mut ac = sized!(ActionCacheClient::new(self.channel()));
        match self.unary(|t| async move {
            Ok(ac
                .get_action_result(self.request(req, t))
                .await?
                .into_inner())
        }) {
            Ok(result) => Ok(Some(result)),
            Err(Fault::Status(Code::NotFound, _)) => Ok(None),
            Err(fault) => Err(fault),
        }
    }

    /// `ActionCache.UpdateActionResult`.
    pub(crate) fn update_action_result(
        &self,
        action: &re::Digest,
        result: &re::ActionResult,
    ) -> Result<(), Fault> {
        let req = re::UpdateActionResultRequest {
            instance_name: self.instance().to_string(),
            action_digest: Some(action.clone()),
            action_result: Some(result.clone()),
            ..Default::default()
        };
        let mut ac = sized!(ActionCacheClient::new(self.channel()));
        self.unary(|t| async move {
            ac.update_action_result(self.request(req, t)).await?;
            Ok(())
        })
    }
}

/// The response of a done operation; an operation that ended in an error becomes a
/// response with that status.
fn done(op: Operation) -> Result<re::ExecuteResponse, Fault> {
    match op.result {
        Some(operation::Result::Response(any)) => re::ExecuteResponse::decode(any.value.as_slice())
            .map_err(|e| Fault::Data(format!("a malformed ExecuteResponse ({e})"))),
        Some(operation::Result::Error(status)) => Ok(re::ExecuteResponse {
            status: Some(status),
            ..Default::default()
        }),
        None => Err(Fault::Data(
            "the operation is done but has neither a response nor an error".into(),
        )),
    }
}
