//! Running a graph: [`build`] schedules actions on a dedicated rayon pool, reuses cached
//! results, and returns a [`Report`]; progress is reported as [`Event`]s.
//!
//! Each needed action goes through two steps, both on the pool:
//!
//! 1. **check** (one thread of budget): digest its inputs (source files through
//!    [`SourceDigests`], action outputs by the digests their producers reported), compute its
//!    [`action_key`], and look the key up in the store. A hit finishes the action there.
//! 2. **run** (`threads()` of budget, capped at `jobs`): on a miss, start the action once
//!    enough of the budget is free, move its outputs into the CAS, record the result.
//!
//! The budget is `jobs` threads; the sum of what checks and runs in flight reserve never
//! exceeds it. A failed action marks every action that depends on it, transitively, as
//! skipped; independent actions still run to the end.

use std::collections::VecDeque;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    ActionError, ActionId, ActionResult, Digest, Graph, Input, RunContext, SourceDigests, Store,
    action_key,
};

/// What to build and how.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    /// Thread budget; 0 means the machine's available parallelism.
    pub jobs: usize,
    /// Build only these actions and what they depend on; `None` builds the whole graph.
    /// Ids not in the graph are ignored.
    pub targets: Option<Vec<ActionId>>,
    /// Run every action even if the action cache has its key (results are recorded anew).
    pub force: bool,
}

/// Progress of a build, emitted from the worker threads as it happens.
#[derive(Clone, Debug)]
pub enum Event {
    /// A cache miss: the action starts running (not emitted for cache hits).
    Started {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
    },
    /// The action's outputs are in the store.
    Finished {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// True if the result came from the action cache and the action did not run.
        cached: bool,
        /// Time taken (cache lookup, or run plus storing the outputs).
        duration: Duration,
        /// Total size of its outputs.
        output_bytes: u64,
    },
    /// The action failed; its dependents will be skipped.
    Failed {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// What went wrong, with the captured output.
        error: ActionError,
    },
    /// The action was not run because an action it depends on failed.
    Skipped {
        /// The action.
        id: ActionId,
        /// Its label.
        label: String,
        /// The failed action it (transitively) depends on.
        because: ActionId,
    },
}

/// How one action ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// It ran and its outputs are in the store.
    Built,
    /// Its outputs came from the action cache.
    Cached,
    /// It (or reading its inputs, or storing its outputs) failed.
    Failed(ActionError),
    /// It did not run because an action it depends on failed.
    Skipped {
        /// The failed action.
        because: ActionId,
    },
}

/// One action's part of a [`Report`].
#[derive(Clone, Debug)]
pub struct ActionReport {
    /// The action.
    pub id: ActionId,
    /// Its kind.
    pub kind: &'static str,
    /// Its label.
    pub label: String,
    /// Its action key, once its inputs were digested.
    pub key: Option<Digest>,
    /// How it ended.
    pub status: Status,
    /// Time it took (zero if skipped).
    pub duration: Duration,
    /// Digest and size of each output (empty unless built or cached).
    pub outputs: Vec<(Digest, u64)>,
    /// What a successful run logged (failed runs carry it in their error's `output`).
    pub log: String,
}

/// What a build did: one [`ActionReport`] per action it considered, in id order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every needed action, in id order.
    pub actions: Vec<ActionReport>,
    /// Wall-clock time of the whole build.
    pub duration: Duration,
}

impl Report {
    /// How many actions ran.
    pub fn built(&self) -> usize {
        self.count(|s| matches!(s, Status::Built))
    }

    /// How many actions were satisfied from the action cache.
    pub fn cached(&self) -> usize {
        self.count(|s| matches!(s, Status::Cached))
    }

    /// How many actions were skipped because a dependency failed.
    pub fn skipped(&self) -> usize {
        self.count(|s| matches!(s, Status::Skipped { .. }))
    }

    /// Every failed action.
    pub fn failed(&self) -> Vec<&ActionReport> {
        self.actions
            .iter()
            .filter(|a| matches!(a.status, Status::Failed(_)))
            .collect()
    }

    /// True if every action was built or cached.
    pub fn is_ok(&self) -> bool {
        self.actions
            .iter()
            .all(|a| matches!(a.status, Status::Built | Status::Cached))
    }

    /// The report of action `id`, if the build considered it.
    pub fn get(&self, id: ActionId) -> Option<&ActionReport> {
        self.actions
            .binary_search_by_key(&id, |a| a.id)
            .ok()
            .and_then(|i| self.actions.get(i))
    }

    /// The digest of output `i` of action `id`, if it was built or cached.
    pub fn output(&self, id: ActionId, i: usize) -> Option<Digest> {
        self.get(id)?.outputs.get(i).map(|(digest, _)| *digest)
    }

    /// The report as JSON, for `--json` and tests.
    pub fn to_json(&self) -> serde_json::Value {
        let actions: Vec<serde_json::Value> = self
            .actions
            .iter()
            .map(|a| {
                let mut v = json!({
                    "id": a.id.0,
                    "kind": a.kind,
                    "label": a.label,
                    "key": a.key.map(|k| k.to_hex()),
                    "status": match a.status {
                        Status::Built => "built",
                        Status::Cached => "cached",
                        Status::Failed(_) => "failed",
                        Status::Skipped { .. } => "skipped",
                    },
                    "duration_ms": a.duration.as_secs_f64() * 1000.0,
                    "outputs": a.outputs.iter()
                        .map(|(d, size)| json!({ "digest": d.to_hex(), "size": size }))
                        .collect::<Vec<_>>(),
                });
                match &a.status {
                    Status::Failed(e) => {
                        v["error"] = json!({ "message": e.message, "output": e.output });
                    }
                    Status::Skipped { because } => v["because"] = json!(because.0),
                    Status::Built | Status::Cached => {}
                }
                if !a.log.is_empty() {
                    v["log"] = json!(a.log);
                }
                v
            })
            .collect();
        json!({
            "ok": self.is_ok(),
            "built": self.built(),
            "cached": self.cached(),
            "failed": self.failed().len(),
            "skipped": self.skipped(),
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
            "actions": actions,
        })
    }

    fn count(&self, pred: impl Fn(&Status) -> bool) -> usize {
        self.actions.iter().filter(|a| pred(&a.status)).count()
    }
}

/// Builds `graph` (or `options.targets` and their dependencies) into `store`, emitting
/// `events` from the worker threads, and reports what happened to every action.
///
/// Never panics on a failing or panicking action: that action is reported as failed.
pub fn build(
    graph: &Graph,
    store: &dyn Store,
    sources: &SourceDigests,
    options: &BuildOptions,
    events: &(dyn Fn(Event) + Sync),
) -> Report {
    let start = Instant::now();
    let jobs = match options.jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let needed = match &options.targets {
        Some(targets) => graph.closure(targets),
        None => graph.ids().collect(),
    };
    let mut sched = Scheduler::new(graph, &needed, jobs);
    match rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("flavor-build-{i}"))
        .build()
    {
        Ok(pool) => {
            let env = Env {
                graph,
                store,
                sources,
                force: options.force,
                events,
            };
            sched.run(&pool, &env);
        }
        Err(e) => sched.fail_all(&format!("cannot start the build threads: {e}")),
    }
    Report {
        actions: sched.finish(),
        duration: start.elapsed(),
    }
}

/// What the worker tasks share.
struct Env<'a> {
    graph: &'a Graph,
    store: &'a dyn Store,
    sources: &'a SourceDigests,
    force: bool,
    events: &'a (dyn Fn(Event) + Sync),
}

/// Where an input's bytes are, as the scheduler knows it when an action becomes ready.
enum Source {
    File(PathBuf),
    Blob(Digest),
}

/// A cache miss, ready to run.
struct Pending {
    id: ActionId,
    key: Digest,
    inputs: Vec<PathBuf>,
}

/// What a worker reports back to the scheduler.
enum Message {
    Hit {
        id: ActionId,
        key: Digest,
        result: ActionResult,
        duration: Duration,
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not part of this build.
    NotNeeded,
    /// Waiting for dependencies.
    Waiting,
    /// Check queued or in flight, or run queued or in flight.
    Active,
    /// Has its report.
    Done,
}

struct Scheduler<'g> {
    graph: &'g Graph,
    jobs: usize,
    state: Vec<State>,
    /// Unfinished dependencies of each needed action.
    pending_deps: Vec<usize>,
    /// Outputs of finished actions.
    outputs: Vec<Option<Vec<(Digest, u64)>>>,
    reports: Vec<Option<ActionReport>>,
    check_queue: VecDeque<ActionId>,
    run_queue: VecDeque<Pending>,
    /// Budget not reserved by checks and runs in flight.
    free: usize,
    in_flight: usize,
}

impl<'g> Scheduler<'g> {
    fn new(graph: &'g Graph, needed: &[ActionId], jobs: usize) -> Scheduler<'g> {
        let n = graph.len();
        let mut state = vec![State::NotNeeded; n];
        let mut pending_deps = vec![0; n];
        let mut check_queue = VecDeque::new();
        for &id in needed {
            let deps = graph.dependencies(id).len();
            if let (Some(s), Some(p)) = (state.get_mut(id.0), pending_deps.get_mut(id.0)) {
                *p = deps;
                if deps == 0 {
                    *s = State::Active;
                    check_queue.push_back(id);
                } else {
                    *s = State::Waiting;
                }
            }
        }
        Scheduler {
            graph,
            jobs,
            state,
            pending_deps,
            outputs: vec![None; n],
            reports: vec![None; n],
            check_queue,
            run_queue: VecDeque::new(),
            free: jobs,
            in_flight: 0,
        }
    }

    /// The scheduling loop: runs on the calling thread, work goes to `pool`.
    fn run(&mut self, pool: &rayon::ThreadPool, env: &Env<'_>) {
        let (tx, rx) = mpsc::channel::<Message>();
        pool.in_place_scope(|scope| {
            loop {
                // Start checks first: they are cheap and find cache hits that unblock more.
                while self.free >= 1 {
                    let Some(id) = self.check_queue.pop_front() else {
                        break;
                    };
                    let Some(sources) = self.input_sources(id) else {
                        let error =
                            ActionError::new("internal error: an input's digest is unknown");
                        self.fail(id, None, error, Duration::ZERO);
                        self.skip_dependents(id, env);
                        continue;
                    };
                    self.free -= 1;
                    self.in_flight += 1;
                    let tx = tx.clone();
                    scope.spawn(move |_| {
                        let message = guard(
                            || check(env, id, sources),
                            |error| Message::CheckFailed {
                                id,
                                key: None,
                                error,
                                duration: Duration::ZERO,
                            },
                        );
                        let _ = tx.send(message);
                    });
                }
                // Then every queued run that fits in the remaining budget, oldest first.
                let mut waiting = VecDeque::new();
                while let Some(pending) = self.run_queue.pop_front() {
                    let weight = self.weight(pending.id);
                    if weight > self.free {
                        waiting.push_back(pending);
                        continue;
                    }
                    self.free -= weight;
                    self.in_flight += 1;
                    let tx = tx.clone();
                    scope.spawn(move |_| {
                        let (id, key) = (pending.id, pending.key);
                        let message = guard(
                            || execute(env, pending, weight),
                            |error| Message::Ran {
                                id,
                                key,
                                result: Err(error),
                                duration: Duration::ZERO,
                            },
                        );
                        let _ = tx.send(message);
                    });
                }
                self.run_queue = waiting;

                if self.in_flight == 0 {
                    break;
                }
                let Ok(message) = rx.recv() else {
                    break;
                };
                self.in_flight -= 1;
                self.handle(message, env);
            }
        });
    }

    fn handle(&mut self, message: Message, env: &Env<'_>) {
        match message {
            Message::Hit {
                id,
                key,
                result,
                duration,
            } => {
                self.free += 1;
                self.succeed(id, key, Status::Cached, result, duration, String::new());
            }
            Message::Miss(pending) => {
                self.free += 1;
                self.run_queue.push_back(pending);
            }
            Message::CheckFailed {
                id,
                key,
                error,
                duration,
            } => {
                self.free += 1;
                self.fail(id, key, error, duration);
                self.skip_dependents(id, env);
            }
            Message::Ran {
                id,
                key,
                result,
                duration,
            } => {
                self.free += self.weight(id);
                match result {
                    Ok((result, log)) => {
                        self.succeed(id, key, Status::Built, result, duration, log);
                    }
                    Err(error) => {
                        self.fail(id, Some(key), error, duration);
                        self.skip_dependents(id, env);
                    }
                }
            }
        }
    }

    /// How much of the budget a run of `id` reserves.
    fn weight(&self, id: ActionId) -> usize {
        self.graph
            .get(id)
            .map_or(1, |a| a.threads())
            .clamp(1, self.jobs)
    }

    fn input_sources(&self, id: ActionId) -> Option<Vec<Source>> {
        let action = self.graph.get(id)?;
        action
            .inputs()
            .into_iter()
            .map(|input| match input {
                Input::File(path) => Some(Source::File(path)),
                Input::Output { action, index } => {
                    let outputs = self.outputs.get(action.0)?.as_ref()?;
                    outputs.get(index).map(|(d, _)| Source::Blob(*d))
                }
            })
            .collect()
    }

    fn report(
        &mut self,
        id: ActionId,
        key: Option<Digest>,
        status: Status,
        duration: Duration,
    ) -> ActionReport {
        let (kind, label) = self
            .graph
            .get(id)
            .map_or(("?", String::new()), |a| (a.kind(), a.label()));
        if let Some(s) = self.state.get_mut(id.0) {
            *s = State::Done;
        }
        ActionReport {
            id,
            kind,
            label,
            key,
            status,
            duration,
            outputs: Vec::new(),
            log: String::new(),
        }
    }

    fn succeed(
        &mut self,
        id: ActionId,
        key: Digest,
        status: Status,
        result: ActionResult,
        duration: Duration,
        log: String,
    ) {
        let mut report = self.report(id, Some(key), status, duration);
        report.outputs.clone_from(&result.outputs);
        report.log = log;
        if let Some(slot) = self.reports.get_mut(id.0) {
            *slot = Some(report);
        }
        if let Some(slot) = self.outputs.get_mut(id.0) {
            *slot = Some(result.outputs);
        }
        for dependent in self.graph.dependents(id) {
            if self.state.get(dependent.0) != Some(&State::Waiting) {
                continue;
            }
            if let Some(p) = self.pending_deps.get_mut(dependent.0) {
                *p = p.saturating_sub(1);
                if *p == 0 {
                    if let Some(s) = self.state.get_mut(dependent.0) {
                        *s = State::Active;
                    }
                    self.check_queue.push_back(dependent);
                }
            }
        }
    }

    fn fail(&mut self, id: ActionId, key: Option<Digest>, error: ActionError, duration: Duration) {
        let report = self.report(id, key, Status::Failed(error), duration);
        if let Some(slot) = self.reports.get_mut(id.0) {
            *slot = Some(report);
        }
    }

    /// Marks every waiting action that depends on `failed`, transitively, as skipped.
    fn skip_dependents(&mut self, failed: ActionId, env: &Env<'_>) {
        let mut stack = self.graph.dependents(failed);
        while let Some(id) = stack.pop() {
            if self.state.get(id.0) != Some(&State::Waiting) {
                continue;
            }
            let report = self.report(
                id,
                None,
                Status::Skipped { because: failed },
                Duration::ZERO,
            );
            (env.events)(Event::Skipped {
                id,
                label: report.label.clone(),
                because: failed,
            });
            if let Some(slot) = self.reports.get_mut(id.0) {
                *slot = Some(report);
            }
            stack.extend(self.graph.dependents(id));
        }
    }

    /// Used when no worker can be started: every needed action fails with `message`.
    fn fail_all(&mut self, message: &str) {
        for i in 0..self.state.len() {
            if matches!(self.state[i], State::Waiting | State::Active) {
                self.fail(ActionId(i), None, ActionError::new(message), Duration::ZERO);
            }
        }
    }

    /// The reports of every needed action, in id order.
    fn finish(mut self) -> Vec<ActionReport> {
        // Anything not finished here would be a scheduler bug; report it rather than drop it.
        self.fail_all("internal error: the scheduler never ran this action");
        self.reports.into_iter().flatten().collect()
    }
}

/// Runs `body`, turning a panic into `on_panic(error)`: a worker must always report back.
fn guard(body: impl FnOnce() -> Message, on_panic: impl FnOnce(ActionError) -> Message) -> Message {
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
fn check(env: &Env<'_>, id: ActionId, sources: Vec<Source>) -> Message {
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
        let duration = start.elapsed();
        (env.events)(Event::Finished {
            id,
            label: action.label(),
            cached: true,
            duration,
            output_bytes: result.outputs.iter().map(|(_, s)| *s).sum(),
        });
        return Message::Hit {
            id,
            key,
            result,
            duration,
        };
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
    Message::Miss(Pending { id, key, inputs })
}

/// Step 2 on a worker: run the action in a fresh temporary directory and store its outputs.
fn execute(env: &Env<'_>, pending: Pending, threads: usize) -> Message {
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
            duration,
            output_bytes: stored.outputs.iter().map(|(_, s)| *s).sum(),
        }),
        Err(error) => (env.events)(Event::Failed {
            id,
            label,
            error: error.clone(),
        }),
    }
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

    let mut stored = Vec::with_capacity(count);
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
        let blob = env
            .store
            .put_blob(path)
            .map_err(|e| with_log(ActionError::new(format!("cannot store output {i}: {e}"))))?;
        stored.push(blob);
    }
    let result = ActionResult { outputs: stored };
    env.store
        .put_action(&key, &result)
        .map_err(|e| with_log(ActionError::new(format!("cannot record the result: {e}"))))?;
    Ok((result, log))
}
