//! The two steps a needed action goes through on the build pool's worker threads:
//! [`check`] (digest the inputs, compute the key, look it up) and, on a miss, [`execute`]
//! (run the action in a fresh temporary directory and store its outputs). Each step reports
//! back to the scheduler with one [`Message`]; [`guard`] makes sure a panic does too.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::{
    ActionError, ActionId, ActionResult, Digest, Event, Graph, RemoteCache, RunContext,
    SourceDigests, Store, action_key,
};

/// What the worker tasks share.
pub(crate) struct Env<'a> {
    pub(crate) graph: &'a Graph,
    pub(crate) store: &'a dyn Store,
    pub(crate) sources: &'a SourceDigests,
    pub(crate) force: bool,
    pub(crate) remote: Option<&'a RemoteCache>,
    pub(crate) events: &'a (dyn Fn(Event) + Sync),
}

/// Where an input's bytes are, as the scheduler knows it when an action becomes ready.
pub(crate) enum Source {
    File(PathBuf),
    Blob(Digest),
}

/// A cache miss, ready to run.
pub(crate) struct Pending {
    pub(crate) id: ActionId,
    pub(crate) key: Digest,
    pub(crate) inputs: Vec<PathBuf>,
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
    },
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

/// Step 1 on a worker: digest the inputs, compute the key, look it up.
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

    let mut digests = Vec::with_capacity(sources.len());
    for source in &sources {
        match source {
            Source::File(path) => match env.sources.digest(path) {
                Ok(d) => digests.push(d),
                Err(e) => {
                    let error = ActionError::new(format!(
                        "cannot read source file {}: {e}",
                        path.display()
                    ));
                    return failed(None, error);
                }
            },
            Source::Blob(d) => digests.push(*d),
        }
    }
    let key = action_key(action, &digests);

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
        let fetched = remote.fetch(&key, action.output_count(), env.store);
        if let Some(result) = fetched {
            let outputs: Option<Vec<PathBuf>> = result
                .outputs
                .iter()
                .map(|(d, _)| env.store.blob_path(d))
                .collect();
            let verdict = match outputs {
                Some(outputs) => action.vet_remote_outputs(&inputs, &outputs),
                None => Err("its outputs vanished from the local store".to_string()),
            };
            match verdict {
                Ok(()) => {
                    remote.hit();
                    // Best effort: the next build would fetch it again.
                    let _ = env.store.put_action(&key, &result);
                    let message = hit(env, id, key, result, start, true);
                    relay_warnings(env);
                    return message;
                }
                Err(why) => remote.reject(&format!(
                    "the result for {} was refused: {why}",
                    action.label()
                )),
            }
        }
        relay_warnings(env);
    }
    Message::Miss(Pending { id, key, inputs })
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

/// Turns the remote cache's pending warning, if any, into an event.
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
    let Pending { id, key, inputs } = pending;
    let action = env.graph.action(id);
    let label = action.label();
    (env.events)(Event::Started {
        id,
        label: label.clone(),
    });
    let result = run_and_store(env, action, key, inputs, threads);
    let duration = start.elapsed();
    match &result {
        Ok((stored, _)) => (env.events)(Event::Finished {
            id,
            label,
            cached: false,
            remote: false,
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
    }
}

fn run_and_store(
    env: &Env<'_>,
    action: &dyn crate::Action,
    key: Digest,
    inputs: Vec<PathBuf>,
    threads: usize,
) -> Result<(ActionResult, String), ActionError> {
    let work = tempfile::Builder::new()
        .prefix("run-")
        .tempdir_in(env.store.tmp_dir())
        .map_err(|e| ActionError::new(format!("cannot create a temporary directory: {e}")))?;
    let scratch = work.path().join("scratch");
    fs::create_dir(&scratch)
        .map_err(|e| ActionError::new(format!("cannot create a scratch directory: {e}")))?;
    let count = action.output_count();
    let outputs: Vec<PathBuf> = (0..count)
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

    let sha256 = env.remote.is_some_and(RemoteCache::wants_sha256);
    let mut result = ActionResult::default();
    for (i, path) in outputs.iter().enumerate() {
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(with_log(ActionError::new(format!(
                    "output {i} is not a regular file"
                ))));
            }
            Err(_) => {
                return Err(with_log(ActionError::new(format!(
                    "did not produce output {i}"
                ))));
            }
        }
        let cannot_store =
            |e: std::io::Error| with_log(ActionError::new(format!("cannot store output {i}: {e}")));
        if sha256 {
            let (digest, size, sha) = env.store.put_blob_sha256(path).map_err(cannot_store)?;
            result.outputs.push((digest, size));
            result.sha256.push(hex::encode(sha));
        } else {
            result
                .outputs
                .push(env.store.put_blob(path).map_err(cannot_store)?);
        }
    }
    env.store
        .put_action(&key, &result)
        .map_err(|e| with_log(ActionError::new(format!("cannot record the result: {e}"))))?;
    if let Some(remote) = env.remote {
        remote.upload(&key, &result, env.store);
    }
    Ok((result, log))
}
