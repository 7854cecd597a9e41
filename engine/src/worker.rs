//! The two steps a needed action goes through on the build pool's worker threads:
//! [`check`] (digest the inputs, compute the key, look it up locally, then in the remote
//! cache) and, on a miss, [`execute`] (run the action in a fresh temporary directory, check
//! that the source files it read did not change meanwhile, store its outputs) or
//! [`execute_remote`] (hand it to the remote executor; back to the queue for a local run if
//! the cluster cannot take it). Each step
//! reports back to the scheduler with one [`Message`]; [`guard`] makes sure a panic does too.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::inputs::{Keyed, Source, key_of};
use crate::{
    Action, ActionError, ActionId, ActionResult, Digest, Event, Graph, RemoteCache, RemoteCommand,
    RemoteExecutor, RemoteFacts, RemoteRun, RunContext, SourceDigests, SourceVersion, Store,
};

/// What the worker tasks share.
pub(crate) struct Env<'a> {
    pub(crate) graph: &'a Graph,
    pub(crate) store: &'a dyn Store,
    pub(crate) sources: &'a SourceDigests,
    pub(crate) force: bool,
    pub(crate) remote: Option<&'a dyn RemoteCache>,
    pub(crate) executor: Option<&'a dyn RemoteExecutor>,
    pub(crate) events: &'a (dyn Fn(Event) + Sync),
}

/// A cache miss, ready to run.
pub(crate) struct Pending {
    pub(crate) id: ActionId,
    pub(crate) key: Digest,
    /// The files holding the inputs, in input order.
    pub(crate) inputs: Vec<PathBuf>,
    /// The source files the key was computed from, as they were then.
    pub(crate) files: Vec<SourceVersion>,
    /// What to run on the remote execution cluster, if the action can run there.
    pub(crate) remote: Option<RemoteCommand>,
}

/// What a worker reports back to the scheduler.
pub(crate) enum Message {
    Hit {
        id: ActionId,
        key: Digest,
        result: ActionResult,
        duration: Duration,
        /// The result came from the remote cache.
        remote: bool,
    },
    Miss(Pending),
    Ran {
        id: ActionId,
        key: Digest,
        result: Result<(ActionResult, String), ActionError>,
        duration: Duration,
        /// What remote execution did for it.
        remote: RemoteFacts,
    },
    /// The remote executor could not run it: run it locally.
    Fallback(Pending),
    CheckFailed {
        id: ActionId,
        key: Option<Digest>,
        error: ActionError,
        duration: Duration,
    },
}

/// Runs `body`, turning a panic into `on_panic(error)`: a worker must always report back.
pub(crate) fn guard(
    body: impl FnOnce() -> Message,
    on_panic: impl FnOnce(ActionError) -> Message,
) -> Message {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        on_panic(ActionError::new(format!(
            "panicked: {}",
            panic_text(&*payload)
        )))
    })
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Step 1 on a worker: digest the inputs, compute the key, look it up locally, then remotely.
pub(crate) fn check(env: &Env<'_>, id: ActionId, sources: Vec<Source>) -> Message {
    let start = Instant::now();
    let action = env.graph.action(id);
    let failed = |key: Option<Digest>, error: ActionError| {
        (env.events)(Event::Failed {
            id,
            label: action.label(),
            error: error.clone(),
        });
        Message::CheckFailed {
            id,
            key,
            error,
            duration: start.elapsed(),
        }
    };

    let Keyed { key, files } = match key_of(action, &sources, env.sources) {
        Ok(keyed) => keyed,
        Err(error) => return failed(None, error),
    };

    if !env.force
        && let Some(result) = env.store.get_action(&key)
        && result.outputs.len() == action.output_count()
    {
        return hit(env, id, key, result, start, false);
    }

    let mut inputs = Vec::with_capacity(sources.len());
    for (i, source) in sources.into_iter().enumerate() {
        match source {
            Source::File(path) => inputs.push(path),
            Source::Blob(d) => match env.store.blob_path(&d) {
                Some(path) => inputs.push(path),
                None => {
                    let error =
                        ActionError::new(format!("input {i} (blob {d}) is missing from the store"));
                    return failed(Some(key), error);
                }
            },
        }
    }

    if !env.force
        && let Some(remote) = env.remote
    {
        let fetched = remote.fetch(&key, action, &inputs, env.store);
        relay_warnings(env);
        if let Some(result) = fetched
            && result.outputs.len() == action.output_count()
        {
            // Best effort: the next build would fetch it again.
            let _ = env.store.put_action(&key, &result);
            return hit(env, id, key, result, start, true);
        }
    }
    let remote = env
        .executor
        .filter(|e| e.available())
        .and_then(|_| action.remote_command(&inputs));
    Message::Miss(Pending {
        id,
        key,
        inputs,
        files,
        remote,
    })
}

/// A cache hit: report it and hand the result to the scheduler.
fn hit(
    env: &Env<'_>,
    id: ActionId,
    key: Digest,
    result: ActionResult,
    start: Instant,
    remote: bool,
) -> Message {
    let duration = start.elapsed();
    (env.events)(Event::Finished {
        id,
        label: env.graph.action(id).label(),
        cached: true,
        remote,
        remote_exec: RemoteFacts::default(),
        duration,
        output_bytes: result.outputs.iter().map(|(_, s)| *s).sum(),
    });
    Message::Hit {
        id,
        key,
        result,
        duration,
        remote,
    }
}

/// Turns the remote cache's pending warnings, if any, into events.
fn relay_warnings(env: &Env<'_>) {
    if let Some(remote) = env.remote {
        for message in remote.take_warnings() {
            (env.events)(Event::Warning { message });
        }
    }
}

/// Step 2 on a worker: run the action in a fresh temporary directory and store its outputs.
pub(crate) fn execute(env: &Env<'_>, pending: Pending, threads: usize) -> Message {
    let start = Instant::now();
    let (id, key) = (pending.id, pending.key);
    let action = env.graph.action(id);
    let label = action.label();
    (env.events)(Event::Started {
        id,
        label: label.clone(),
    });
    let result = run_and_store(env, action, pending, threads);
    let duration = start.elapsed();
    match &result {
        Ok((stored, _)) => (env.events)(Event::Finished {
            id,
            label,
            cached: false,
            remote: false,
            remote_exec: RemoteFacts::default(),
            duration,
            output_bytes: stored.outputs.iter().map(|(_, s)| *s).sum(),
        }),
        Err(error) => (env.events)(Event::Failed {
            id,
            label,
            error: error.clone(),
        }),
    }
    relay_warnings(env);
    Message::Ran {
        id,
        key,
        result,
        duration,
        remote: RemoteFacts::default(),
    }
}

/// Step 2 for an action the remote executor can run: run it on the cluster and record its
/// outputs, or hand it back ([`Message::Fallback`]) to run locally.
pub(crate) fn execute_remote(
    env: &Env<'_>,
    executor: &dyn RemoteExecutor,
    mut pending: Pending,
) -> Message {
    let start = Instant::now();
    let (id, key) = (pending.id, pending.key);
    let action = env.graph.action(id);
    let label = action.label();
    let Some(command) = pending.remote.take() else {
        return Message::Fallback(pending);
    };
    (env.events)(Event::Started {
        id,
        label: label.clone(),
    });
    let run = executor.execute(&label, &command, env.store);
    for message in executor.take_warnings() {
        (env.events)(Event::Warning { message });
    }
    let duration = start.elapsed();
    let mut facts = RemoteFacts {
        executed: true,
        cached: false,
        duration,
    };
    let result = match run {
        RemoteRun::Local => return Message::Fallback(pending),
        RemoteRun::Failed(error) => Err(error),
        RemoteRun::Done {
            result,
            cached,
            log,
        } => {
            facts.cached = cached;
            record_remote(env, action, &pending, result).map(|r| (r, log))
        }
    };
    match &result {
        Ok((stored, _)) => (env.events)(Event::Finished {
            id,
            label,
            cached: false,
            remote: false,
            remote_exec: facts,
            duration,
            output_bytes: stored.outputs.iter().map(|(_, s)| *s).sum(),
        }),
        Err(error) => (env.events)(Event::Failed {
            id,
            label,
            error: error.clone(),
        }),
    }
    relay_warnings(env);
    Message::Ran {
        id,
        key,
        result,
        duration,
        remote: facts,
    }
}

/// Records a remotely built result as a local run's would be: only if every source file
/// is still the version its key was computed from; offered to the remote cache too.
fn record_remote(
    env: &Env<'_>,
    action: &dyn Action,
    pending: &Pending,
    result: ActionResult,
) -> Result<ActionResult, ActionError> {
    if result.outputs.len() != action.output_count() {
        return Err(ActionError::new(format!(
            "the remote executor returned {} outputs, the action has {}",
            result.outputs.len(),
            action.output_count()
        )));
    }
    for file in &pending.files {
        env.sources
            .check_unchanged(file)
            .map_err(|e| ActionError::new(e.to_string()))?;
    }
    env.store
        .put_action(&pending.key, &result)
        .map_err(|e| ActionError::new(format!("cannot record the result: {e}")))?;
    if let Some(remote) = env.remote {
        remote.upload(&pending.key, &result, env.store);
    }
    Ok(result)
}

/// Runs the action; if it succeeded and every source file it read is still the version its
/// key was computed from, stores the outputs, records the result and offers it to the remote.
fn run_and_store(
    env: &Env<'_>,
    action: &dyn Action,
    pending: Pending,
    threads: usize,
) -> Result<(ActionResult, String), ActionError> {
    let Pending {
        key, inputs, files, ..
    } = pending;
    let work = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(env.store.tmp_dir())
        .map_err(|e| ActionError::new(format!("cannot create a temporary directory: {e}")))?;
    let scratch = work.path().join("scratch");
    fs::create_dir(&scratch)
        .map_err(|e| ActionError::new(format!("cannot create a scratch directory: {e}")))?;
    let outputs: Vec<PathBuf> = (0..action.output_count())
        .map(|i| work.path().join(format!("out-{i}")))
        .collect();
    let mut ctx = RunContext::new(inputs, outputs.clone(), scratch, threads);

    let outcome =
        catch_unwind(AssertUnwindSafe(|| action.run(&mut ctx))).unwrap_or_else(|payload| {
            Err(ActionError::new(format!(
                "panicked: {}",
                panic_text(&*payload)
            )))
        });
    let log = ctx.take_log();
    let with_log = |mut error: ActionError| {
        error.output = match (log.is_empty(), error.output.is_empty()) {
            (true, _) => error.output,
            (false, true) => log.clone(),
            (false, false) => format!("{log}{}", error.output),
        };
        error
    };
    outcome.map_err(with_log)?;
    // The key names the versions digested before the run; outputs made from any other
    // version must never be stored under it (nor uploaded).
    for file in &files {
        env.sources
            .check_unchanged(file)
            .map_err(|e| with_log(ActionError::new(e.to_string())))?;
    }

    let result = store_outputs(env.store, &outputs).map_err(with_log)?;
    env.store
        .put_action(&key, &result)
        .map_err(|e| with_log(ActionError::new(format!("cannot record the result: {e}"))))?;
    if let Some(remote) = env.remote {
        remote.upload(&key, &result, env.store);
    }
    Ok((result, log))
}

/// Moves every output file into the store; `Err` if one is missing or not a regular file.
fn store_outputs(store: &dyn Store, outputs: &[PathBuf]) -> Result<ActionResult, ActionError> {
    let mut result = ActionResult::default();
    for (i, path) in outputs.iter().enumerate() {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(ActionError::new(format!(
                    "output {i} is not a regular file"
                )));
            }
            Err(_) => return Err(ActionError::new(format!("did not produce output {i}"))),
        }
        let stored = store
            .put_blob(path)
            .map_err(|e| ActionError::new(format!("cannot store output {i}: {e}")))?;
        result.outputs.push(stored);
    }
    Ok(result)
}
