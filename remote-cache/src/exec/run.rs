//! One remote action from start to end: upload what the server lacks, `Execute`, resume a
//! broken stream with `WaitExecution` until the deadline, retry (bounded) when the server
//! lost blobs or served a cached failure, then turn the `ActionResult` into the engine's:
//! a failure with the command's exit code, stdout and stderr, or every declared output
//! downloaded, checked and put into the store.

use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bazel_remote_apis::build::bazel::remote::execution::v2 as re;
use flavor_engine::{
    ActionError, ActionResult, Output, RemoteCommand, RemoteExecutor, RemoteRun, Store,
};
use tonic::Code;

use super::merkle::{Prepared, prepare};
use super::{Caps, RemoteExecution, seconds};
use crate::grpc::cas::{batch_limit, name_of, size_of};
use crate::grpc::execution::Followed;
use crate::grpc::{Fault, Grpc};

/// Attempts at one action (the first, plus re-uploads after lost blobs or a refused
/// cached failure).
const ATTEMPTS: usize = 3;
/// Pause between `WaitExecution` attempts while the server is away.
const RESUME_PAUSE: Duration = Duration::from_millis(500);
/// The digest function REAPI numbers SHA-256 with.
const SHA256: i32 = 1;

/// `GetCapabilities`: what this client needs from the server, or why it cannot be used.
pub(super) fn capabilities(grpc: &Grpc) -> Result<Caps, String> {
    let caps = grpc
        .capabilities()
        .map_err(|f| format!("GetCapabilities failed ({f})"))?;
    let cache = caps.cache_capabilities.unwrap_or_default();
    if !cache.digest_functions.is_empty() && !cache.digest_functions.contains(&SHA256) {
        return Err("the server does not offer SHA-256 digests".into());
    }
    if let Some(exec) = &caps.execution_capabilities
        && !exec.exec_enabled
    {
        return Err("the server has execution disabled".into());
    }
    if caps.execution_capabilities.is_none() {
        return Err("the server offers no execution service (a cache only?)".into());
    }
    let high = caps.high_api_version.unwrap_or_default();
    Ok(Caps {
        output_paths: (high.major, high.minor) >= (2, 1),
        batch_limit: batch_limit(cache.max_batch_total_size_bytes),
    })
}

/// Runs `command` on the cluster; see the module doc.
pub(super) fn run(
    ex: &RemoteExecution,
    caps: Caps,
    label: &str,
    command: &RemoteCommand,
    store: &dyn Store,
) -> RemoteRun {
    let deadline = Instant::now() + ex.config.timeout;
    let prepared = match prepare(command, &ex.config.platform, caps.output_paths) {
        Ok(p) => p,
        Err(why) => return ex.fall_back(label, &why),
    };
    let mut skip_cache = false;
    for attempt in 0..ATTEMPTS {
        match ex.grpc.upload(&prepared.blobs, caps.batch_limit, true) {
            Ok(bytes) => {
                bump(&ex.counters.uploaded_bytes, bytes);
                if attempt > 0 && bytes > 0 {
                    bump(&ex.counters.reuploads, 1);
                }
            }
            Err(fault) => return fault_to_local(ex, label, "uploading inputs", &fault),
        }
        let waited = Instant::now();
        let response = execute(ex, &prepared, skip_cache, deadline);
        bump(
            &ex.counters.wait_millis,
            u64::try_from(waited.elapsed().as_millis()).unwrap_or(u64::MAX),
        );
        let response = match response {
            Ok(r) => r,
            // The server lost the action's blobs (FAILED_PRECONDITION) or, restarted, the
            // operation itself (NOT_FOUND on WaitExecution): upload again and execute anew.
            Err(Fault::Status(Code::FailedPrecondition | Code::NotFound, _)) => continue,
            Err(fault) => return fault_to_local(ex, label, "executing", &fault),
        };
        let status = response.status.clone().unwrap_or_default();
        match Code::from(status.code) {
            Code::Ok => {}
            // Inputs lost since the upload (a restarted server, an eviction): again.
            Code::FailedPrecondition => continue,
            code => {
                let why = format!("the cluster answered {code:?}: {}", status.message);
                return ex.fall_back(label, &why);
            }
        }
        let Some(result) = response.result else {
            return ex.fall_back(label, "the cluster answered OK without a result");
        };
        if result.exit_code != 0 && response.cached_result && !skip_cache {
            // A cached failure is never used: run it for real.
            skip_cache = true;
            continue;
        }
        let found = Found {
            result: &result,
            cached: response.cached_result,
            deadline,
        };
        match finish(ex, label, command, &found, caps, store) {
            Ok(run) => return run,
            // An output vanished before it was fetched: run it again, past the cache.
            Err(_) => skip_cache = true,
        }
    }
    ex.fall_back(
        label,
        &format!("the cluster kept losing its inputs or outputs ({ATTEMPTS} attempts)"),
    )
}

/// Call `call` again while the server does not answer — restarting, say — until `deadline`,
/// or until another action has found it gone: a result is fetched across a restart as an
/// execution is followed across one.
fn patiently<T>(
    ex: &RemoteExecution,
    deadline: Instant,
    mut call: impl FnMut() -> Result<T, Fault>,
) -> Result<T, Fault> {
    loop {
        match call() {
            Err(fault) if fault.is_unreachable() && ex.available() => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(fault);
                }
                std::thread::sleep(RESUME_PAUSE.min(left));
            }
            other => return other,
        }
    }
}

/// An unreachable server turns remote execution off; anything else sends this action home.
fn fault_to_local(ex: &RemoteExecution, label: &str, doing: &str, fault: &Fault) -> RemoteRun {
    if fault.is_unreachable() {
        ex.go_offline(&format!("unreachable while {doing} ({fault})"));
        bump(&ex.counters.fallbacks, 1);
        RemoteRun::Local
    } else {
        ex.fall_back(label, &format!("{fault} while {doing}"))
    }
}

/// `Execute`, resuming a broken stream with `WaitExecution` until `deadline`; the
/// operation is cancelled if the deadline passes.
fn execute(
    ex: &RemoteExecution,
    prepared: &Prepared,
    skip_cache: bool,
    deadline: Instant,
) -> Result<re::ExecuteResponse, Fault> {
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut followed = ex.grpc.execute(&prepared.action, skip_cache, left())?;
    let mut last_name: Option<String> = None;
    loop {
        match followed {
            Followed::Done(response) => {
                if let Some(name) = &last_name {
                    ex.track(name, false);
                }
                return Ok(*response);
            }
            Followed::Broken { name, fault } => {
                let Some(name) = name.or(last_name.clone()) else {
                    return Err(fault);
                };
                ex.track(&name, true);
                last_name = Some(name.clone());
                if left().is_zero() {
                    ex.grpc.cancel(&name);
                    ex.track(&name, false);
                    return Err(Fault::Unreachable(format!(
                        "no result within {} ({fault})",
                        seconds(ex.config.timeout)
                    )));
                }
                if !ex.available() {
                    return Err(fault);
                }
                std::thread::sleep(RESUME_PAUSE.min(left()));
                followed = match ex.grpc.wait_execution(&name, left()) {
                    Ok(f) => f,
                    // Not answering yet (restarting): keep trying until the deadline.
                    Err(fault) if fault.is_unreachable() => Followed::Broken {
                        name: Some(name),
                        fault,
                    },
                    Err(fault) => return Err(fault),
                };
            }
        }
    }
}

/// A finished action's result as the cluster gave it.
struct Found<'a> {
    result: &'a re::ActionResult,
    /// Whether it came from the cluster's action cache.
    cached: bool,
    /// When the action gives up on the cluster.
    deadline: Instant,
}

/// The engine's view of a finished `ActionResult`; `Err` when a blob it names is gone from
/// the server's CAS (the action is then executed again).
fn finish(
    ex: &RemoteExecution,
    label: &str,
    command: &RemoteCommand,
    found: &Found<'_>,
    caps: Caps,
    store: &dyn Store,
) -> Result<RemoteRun, String> {
    let Found {
        result,
        cached,
        deadline,
    } = *found;
    let log = match patiently(ex, deadline, || logs(ex, result, caps)) {
        Ok(log) => log,
        Err(Fault::Lost(why)) => return Err(why),
        Err(fault) => {
            return Ok(fault_to_local(
                ex,
                label,
                "downloading stdout/stderr",
                &fault,
            ));
        }
    };
    let shown = command.argv.last().cloned().unwrap_or_default();
    if result.exit_code != 0 {
        bump(&ex.counters.failed, 1);
        let mut message = format!(
            "`{shown}` exited with code {} on the remote worker",
            result.exit_code
        );
        if result.exit_code == 127 {
            message.push_str(
                " (127: a command was not found there; the worker's image must provide every \
                 tool a step runs, or run the build with --no-remote-execution)",
            );
        }
        return Ok(RemoteRun::Failed(
            ActionError::new(message).with_output(log),
        ));
    }
    let mut outputs = ActionResult::default();
    for rel in &command.outputs {
        let Some(file) = result.output_files.iter().find(|f| &f.path == rel) else {
            if result.output_directories.iter().any(|d| &d.path == rel) {
                // Directory outputs do not come back from the cluster yet: run it here.
                return Ok(ex.fall_back(
                    label,
                    &format!("declared output `{rel}` is a directory, which runs locally"),
                ));
            }
            bump(&ex.counters.failed, 1);
            let message = format!(
                "declared output `{rel}` does not exist after `{shown}` ran (on the remote worker)"
            );
            return Ok(RemoteRun::Failed(
                ActionError::new(message).with_output(log),
            ));
        };
        match patiently(ex, deadline, || download(ex, file, caps, store)) {
            Ok((digest, size)) => outputs.outputs.push(Output::file(digest, size)),
            Err(Fault::Lost(why)) => return Err(why),
            Err(fault) => {
                return Ok(fault_to_local(
                    ex,
                    label,
                    &format!("downloading `{rel}`"),
                    &fault,
                ));
            }
        }
    }
    bump(
        if cached {
            &ex.counters.cache_hits
        } else {
            &ex.counters.executed
        },
        1,
    );
    Ok(RemoteRun::Done {
        result: outputs,
        cached,
        log,
    })
}

/// stdout then stderr, inline or from the CAS.
fn logs(ex: &RemoteExecution, result: &re::ActionResult, caps: Caps) -> Result<String, Fault> {
    let mut text = String::new();
    for (raw, digest) in [
        (&result.stdout_raw, &result.stdout_digest),
        (&result.stderr_raw, &result.stderr_digest),
    ] {
        if !raw.is_empty() {
            text.push_str(&String::from_utf8_lossy(raw));
        } else if let Some(d) = digest.as_ref().filter(|d| d.size_bytes > 0) {
            let mut bytes = Vec::new();
            if !ex.grpc.read_into(d, &mut bytes, caps.batch_limit)? {
                return Err(Fault::Lost(format!("log blob {} is missing", name_of(d))));
            }
            bump(&ex.counters.downloaded_bytes, bytes.len() as u64);
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    Ok(text)
}

/// Downloads one output file into the store (checked against its digest, executable bit
/// restored).
fn download(
    ex: &RemoteExecution,
    file: &re::OutputFile,
    caps: Caps,
    store: &dyn Store,
) -> Result<(flavor_engine::Digest, u64), Fault> {
    let local = |e: std::io::Error| Fault::Data(format!("cannot store a download: {e}"));
    let d = file
        .digest
        .clone()
        .ok_or_else(|| Fault::Data(format!("output `{}` has no digest", file.path)))?;
    let tmp = tempfile::NamedTempFile::new_in(store.tmp_dir()).map_err(local)?;
    {
        let mut sink = BufWriter::new(tmp.as_file());
        if !file.contents.is_empty() {
            if crate::grpc::cas::digest_of(&file.contents) != d {
                return Err(Fault::Data(format!(
                    "inlined output `{}` does not match its digest",
                    file.path
                )));
            }
            sink.write_all(&file.contents).map_err(local)?;
        } else if !ex.grpc.read_into(&d, &mut sink, caps.batch_limit)? {
            return Err(Fault::Lost(format!(
                "output blob {} is missing from the CAS",
                name_of(&d)
            )));
        }
        sink.flush().map_err(local)?;
    }
    let mode = if file.is_executable { 0o755 } else { 0o644 };
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(local)?;
    bump(&ex.counters.downloaded_bytes, size_of(&d));
    let path = tmp.into_temp_path();
    let stored = store.put_blob(&path).map_err(local)?;
    // put_blob moved the file; nothing left for the guard to delete.
    let _ = path.keep();
    Ok(stored)
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}
