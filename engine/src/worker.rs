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
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::action::{Reporter, action_key};
use crate::inputs::{Keyed, Source, key_of};
use crate::reading::ReadLog;
use crate::writing::WriteLog;
use crate::{
    Action, ActionError, ActionId, ActionResult, Digest, Event, Graph, Output, OutputKind,
    RemoteCache, RemoteCommand, RemoteExecutor, RemoteFacts, RemoteRun, ResolvedTree, RunContext,
    SourceDigests, SourceVersion, Store, Tree, store_tree,
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
    /// The inputs that are trees, with their files located.
    pub(crate) trees: Vec<Option<ResolvedTree>>,
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
    /// A run started before its key was known ([`speculate`]) cannot be used: check the
    /// action the usual way.
    Unsure(ActionId),
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

    let inputs = match input_paths(env, action, &sources) {
        Ok(inputs) => inputs,
        Err(error) => return failed(Some(key), error),
    };

    if !env.force
        && action.shareable()
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
    let trees = match input_trees(env.store, &sources) {
        Ok(trees) => trees,
        Err(error) => return failed(Some(key), error),
    };
    let remote = env
        .executor
        .filter(|e| e.available())
        .and_then(|_| action.remote_command(&inputs));
    Message::Miss(Pending {
        id,
        key,
        inputs,
        trees,
        files,
        remote,
    })
}

/// The files holding each input (for a tree, its root directory blob); `Err` if a blob is
/// missing or a tree reaches an input the action reads as a file.
fn input_paths(
    env: &Env<'_>,
    action: &dyn Action,
    sources: &[Source],
) -> Result<Vec<PathBuf>, ActionError> {
    let mut inputs = Vec::with_capacity(sources.len());
    for (i, source) in sources.iter().enumerate() {
        match source {
            Source::File(path) => inputs.push(path.clone()),
            Source::Blob(output) => {
                if output.kind == OutputKind::Tree && !action.accepts_tree(i) {
                    return Err(ActionError::new(format!(
                        "input {i} is a directory (an output that was a directory tree), but \
                         this action reads a single file there"
                    )));
                }
                let path = env.store.blob_path(&output.digest).ok_or_else(|| {
                    ActionError::new(format!(
                        "input {i} (blob {}) is missing from the store",
                        output.digest
                    ))
                })?;
                inputs.push(path);
            }
        }
    }
    Ok(inputs)
}

/// The tree inputs, read from the store with their files located.
fn input_trees(
    store: &dyn Store,
    sources: &[Source],
) -> Result<Vec<Option<ResolvedTree>>, ActionError> {
    sources
        .iter()
        .enumerate()
        .map(|(i, source)| match source {
            Source::Blob(output) if output.kind == OutputKind::Tree => {
                let tree = Tree::read(store, &output.digest)
                    .and_then(|tree| tree.resolve_blobs(store))
                    .map_err(|e| ActionError::new(format!("input {i}: {e}")))?;
                Ok(Some(tree))
            }
            _ => Ok(None),
        })
        .collect()
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
        output_bytes: result.size(),
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
        kind: action.kind(),
        label: label.clone(),
        at: SystemTime::now(),
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
            output_bytes: stored.size(),
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
        kind: action.kind(),
        label: label.clone(),
        at: SystemTime::now(),
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
            output_bytes: stored.size(),
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

/// A fresh temporary directory for one run: the directory (deleted when dropped), and the
/// paths of the action's outputs and scratch directory in it.
fn run_dir(
    env: &Env<'_>,
    action: &dyn Action,
) -> Result<(tempfile::TempDir, Vec<PathBuf>, PathBuf), ActionError> {
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
    Ok((work, outputs, scratch))
}

/// Runs the action in `ctx`; `Err` (with what it logged) if it failed or panicked.
fn run_in(action: &dyn Action, ctx: &mut RunContext<'_>) -> Result<String, ActionError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| action.run(ctx))).unwrap_or_else(|payload| {
        Err(ActionError::new(format!(
            "panicked: {}",
            panic_text(&*payload)
        )))
    });
    let log = ctx.take_log();
    match outcome {
        Ok(()) => Ok(log),
        Err(error) => Err(with_log(&log, error)),
    }
}

/// `error` with the action's `log` in front of its own output.
fn with_log(log: &str, mut error: ActionError) -> ActionError {
    error.output = match (log.is_empty(), error.output.is_empty()) {
        (true, _) => error.output,
        (false, true) => log.to_string(),
        (false, false) => format!("{log}{}", error.output),
    };
    error
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
        id,
        key,
        inputs,
        trees,
        files,
        ..
    } = pending;
    let (_work, outputs, scratch) = run_dir(env, action)?;
    let mut ctx = RunContext::new(inputs, outputs.clone(), scratch, threads)
        .with_trees(trees)
        .with_reporter(Reporter::new(id, action.label(), env.events));
    let log = run_in(action, &mut ctx)?;
    let written = ctx.write_log();
    let result =
        store_run(env, action, &key, &files, &outputs, &written).map_err(|e| with_log(&log, e))?;
    Ok((result, log))
}

/// After a successful run: checks that every source file it read is still the version `key`
/// was computed from (outputs made from any other version must never be stored under it,
/// nor uploaded), then stores the outputs, records the result and offers it to the remote.
fn store_run(
    env: &Env<'_>,
    action: &dyn Action,
    key: &Digest,
    files: &[SourceVersion],
    outputs: &[PathBuf],
    written: &WriteLog,
) -> Result<ActionResult, ActionError> {
    for file in files {
        env.sources
            .check_unchanged(file)
            .map_err(|e| ActionError::new(e.to_string()))?;
    }
    let result = store_outputs(env.store, action, outputs, written)?;
    env.store
        .put_action(key, &result)
        .map_err(|e| ActionError::new(format!("cannot record the result: {e}")))?;
    if let Some(remote) = env.remote
        && action.shareable()
    {
        remote.upload(key, &result, env.store);
    }
    Ok(result)
}

/// Steps 1 and 2 in one, for an action that [digests its source files as it reads
/// them](Action::digests_while_reading) where a cache hit is unlikely: run it first, then
/// take its key from the digests of the bytes it read, look the key up (a hit wins over what
/// was just built) and store the outputs under it. [`Message::Unsure`] if the run failed or
/// did not read every file to its end as one version: the action then goes the usual way,
/// which also reports a failure properly.
pub(crate) fn speculate(
    env: &Env<'_>,
    id: ActionId,
    files: Vec<PathBuf>,
    threads: usize,
) -> Message {
    let start = Instant::now();
    let action = env.graph.action(id);
    let label = action.label();
    (env.events)(Event::Started {
        id,
        kind: action.kind(),
        label: label.clone(),
        at: SystemTime::now(),
    });
    let Ok((_work, outputs, scratch)) = run_dir(env, action) else {
        return Message::Unsure(id);
    };
    let read_log = Arc::new(ReadLog::new(files.len()));
    let mut ctx = RunContext::new(files.clone(), outputs.clone(), scratch, threads)
        .with_reporter(Reporter::new(id, label.clone(), env.events))
        .with_read_log(read_log.clone());
    let Ok(log) = run_in(action, &mut ctx) else {
        return Message::Unsure(id);
    };
    let written = ctx.write_log();
    drop(ctx);
    let Some(versions) = (0..files.len())
        .map(|i| Some(env.sources.record(files.get(i)?, &read_log.seen(i)?)))
        .collect::<Option<Vec<SourceVersion>>>()
    else {
        return Message::Unsure(id);
    };
    let digests: Vec<Digest> = versions.iter().map(SourceVersion::digest).collect();
    let key = action_key(action, &digests);
    if !env.force
        && let Some(result) = env.store.get_action(&key)
        && result.outputs.len() == action.output_count()
    {
        return hit(env, id, key, result, start, false);
    }
    // Else a file changed after it was read: digest it again and run again.
    let Ok(result) = store_run(env, action, &key, &versions, &outputs, &written) else {
        return Message::Unsure(id);
    };
    (env.events)(Event::Finished {
        id,
        label,
        cached: false,
        remote: false,
        remote_exec: RemoteFacts::default(),
        duration: start.elapsed(),
        output_bytes: result.size(),
    });
    Message::Ran {
        id,
        key,
        result: Ok((result, log)),
        duration: start.elapsed(),
        remote: RemoteFacts::default(),
    }
}

/// Moves every output into the store: a regular file as a blob, a directory as a tree; `Err`
/// if one is missing, is something else, or is a directory that cannot be a tree.
fn store_outputs(
    store: &dyn Store,
    action: &dyn Action,
    outputs: &[PathBuf],
    written: &WriteLog,
) -> Result<ActionResult, ActionError> {
    let mut result = ActionResult::default();
    for (i, path) in outputs.iter().enumerate() {
        let name = || action.describe_output(i);
        let stored = match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => match written.digest_of(i, path) {
                Some((digest, size)) => store.put_blob_written(path, digest, size),
                None => store.put_blob(path),
            }
            .map(|(digest, size)| Output::file(digest, size))
            .map_err(|e| ActionError::new(format!("cannot store {}: {e}", name())))?,
            Ok(meta) if meta.is_dir() => store_tree(store, path)
                .map(|(digest, size)| Output::tree(digest, size))
                .map_err(|e| ActionError::new(format!("{}: {e}", name())))?,
            Ok(_) => {
                return Err(ActionError::new(format!(
                    "{} is neither a regular file nor a directory",
                    name()
                )));
            }
            Err(_) => return Err(ActionError::new(format!("did not produce {}", name()))),
        };
        result.outputs.push(stored);
    }
    Ok(result)
}
