//! Running a graph: [`build`] schedules actions on a dedicated rayon pool, reuses cached
//! results, and returns a [`Report`]; progress is reported as [`Event`]s.
//!
//! Each needed action goes through two steps, both on the pool:
//!
//! 1. **check** (one thread of budget): digest its inputs (source files through
//!    [`SourceDigests`], action outputs by the digests their producers reported), compute its
//!    [`action_key`](crate::action_key), and look the key up in the store. A hit finishes the action there.
//! 2. **run** (`threads()` of budget, capped at `jobs`): on a miss, start the action once
//!    enough of the budget is free, move its outputs into the CAS, record the result.
//!
//! In a cold store (no results at all, or `force`) and without a remote cache or executor, an
//! action ready at the start that [digests while reading](crate::Action::digests_while_reading)
//! and reads source files not digested yet skips step 1: it runs first
//! (`worker::speculate`), and its key comes from the bytes it read.
//!
//! The budget is `jobs` threads; the sum of what checks and runs in flight reserve never
//! exceeds it. A failed action marks every action that depends on it, transitively, as
//! skipped; independent actions still run to the end.
//!
//! This module holds the scheduler: what is ready, what fits in the budget, what a result
//! unblocks or a failure skips. The steps themselves run in [`crate::worker`]; what they
//! produce is described in [`crate::report`] and [`crate::event`].

use std::collections::VecDeque;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::inputs::{Source, sources_of};
use crate::worker::{Env, Message, Pending, check, execute, execute_remote, guard, speculate};
use crate::{
    ActionError, ActionId, ActionReport, ActionResult, Digest, Event, Graph, Output, RemoteCache,
    RemoteExecutor, RemoteFacts, Report, SourceDigests, Status, Store,
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
    /// A shared cache to look local misses up in and to upload results to.
    pub remote: Option<Arc<dyn RemoteCache>>,
    /// A remote execution cluster for actions that can run there
    /// ([`Action::remote_command`](crate::Action::remote_command)). Its runs take none of
    /// the `jobs` budget: they are limited by [`RemoteExecutor::jobs`] instead, each
    /// waiting on a thread of its own.
    pub executor: Option<Arc<dyn RemoteExecutor>>,
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
    sched.remote_free = options.executor.as_ref().map_or(0, |e| e.jobs().max(1));
    let cold = options.remote.is_none()
        && options.executor.is_none()
        && (options.force || store.has_no_results());
    if cold {
        sched.speculate_where_cold(sources);
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .thread_name(|i| format!("flavor-build-{i}"))
        .build()
    {
        Ok(pool) => {
            // Nothing runs yet: digest every source file on the whole budget at once, rather
            // than one by one in each action's check (except those that actions run first
            // will digest as they read them).
            let checked: Vec<ActionId> = (needed.iter().copied())
                .filter(|id| !sched.speculate_queue.contains(id))
                .collect();
            let files = source_files(graph, &checked);
            pool.install(|| sources.prefetch(&files));
            let env = Env {
                graph,
                store,
                sources,
                force: options.force,
                remote: options.remote.as_deref(),
                executor: options.executor.as_deref(),
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

/// The source files the actions `needed` read, each once.
fn source_files(graph: &Graph, needed: &[ActionId]) -> Vec<std::path::PathBuf> {
    let mut seen = std::collections::HashSet::new();
    needed
        .iter()
        .filter_map(|&id| graph.get(id))
        .flat_map(|action| action.inputs())
        .filter_map(|input| match input {
            crate::Input::File(path) => seen.insert(path.clone()).then_some(path),
            crate::Input::Output { .. } => None,
        })
        .collect()
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
    outputs: Vec<Option<Vec<Output>>>,
    reports: Vec<Option<ActionReport>>,
    check_queue: VecDeque<ActionId>,
    /// Actions to run before their key is known ([`speculate`]).
    speculate_queue: VecDeque<ActionId>,
    /// Budget reserved by each action in flight, when it is not the usual (1 for a check,
    /// its weight for a run): a speculative run's weight until it reports back.
    reserved: Vec<Option<usize>>,
    run_queue: VecDeque<Pending>,
    /// Budget not reserved by checks and runs in flight.
    free: usize,
    /// Remote runs that may still start.
    remote_free: usize,
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
            speculate_queue: VecDeque::new(),
            reserved: vec![None; n],
            run_queue: VecDeque::new(),
            free: jobs,
            remote_free: 0,
            in_flight: 0,
        }
    }

    /// Moves the actions ready to start that [digest while
    /// reading](crate::Action::digests_while_reading) and read only source files, some of
    /// which are not digested yet, from the check queue to the speculation queue. Only for
    /// a cold cache: their keys would miss anyway.
    fn speculate_where_cold(&mut self, sources: &SourceDigests) {
        let graph = self.graph;
        let (speculate, check): (VecDeque<ActionId>, VecDeque<ActionId>) =
            self.check_queue.drain(..).partition(|&id| {
                let Some(action) = graph.get(id) else {
                    return false;
                };
                let inputs = action.inputs();
                action.digests_while_reading()
                    && inputs.iter().all(|i| matches!(i, crate::Input::File(_)))
                    && inputs.iter().any(|i| match i {
                        crate::Input::File(path) => !sources.is_known(path),
                        crate::Input::Output { .. } => false,
                    })
            });
        self.speculate_queue = speculate;
        self.check_queue = check;
    }

    /// The budget `id` held while in flight, `usual` unless it was a speculative run.
    fn release(&mut self, id: ActionId, usual: usize) -> usize {
        self.reserved
            .get_mut(id.0)
            .and_then(Option::take)
            .unwrap_or(usual)
    }

    /// Starts every queued speculative run that fits in the budget.
    fn start_speculation<'s>(
        &mut self,
        scope: &rayon::Scope<'s>,
        env: &'s Env<'s>,
        tx: &mpsc::Sender<Message>,
    ) {
        while let Some(&id) = self.speculate_queue.front() {
            let weight = self.weight(id);
            if weight > self.free {
                break;
            }
            self.speculate_queue.pop_front();
            self.free -= weight;
            self.in_flight += 1;
            if let Some(r) = self.reserved.get_mut(id.0) {
                *r = Some(weight);
            }
            let files: Vec<std::path::PathBuf> = (self.graph.action(id).inputs().into_iter())
                .filter_map(|input| match input {
                    crate::Input::File(path) => Some(path),
                    crate::Input::Output { .. } => None,
                })
                .collect();
            let tx = tx.clone();
            scope.spawn(move |_| {
                let message = guard(
                    || speculate(env, id, files, weight),
                    |_| Message::Unsure(id),
                );
                let _ = tx.send(message);
            });
        }
    }

    /// The scheduling loop: runs on the calling thread, work goes to `pool`.
    fn run(&mut self, pool: &rayon::ThreadPool, env: &Env<'_>) {
        let (tx, rx) = mpsc::channel::<Message>();
        std::thread::scope(|threads| {
            pool.in_place_scope(|scope| {
                loop {
                    // Runs before their keys go first: they are what the build waits for.
                    self.start_speculation(scope, env, &tx);
                    // Then checks: they are cheap and find cache hits that unblock more.
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
                    while let Some(mut pending) = self.run_queue.pop_front() {
                        if pending.remote.is_some() {
                            match env.executor.filter(|e| e.available()) {
                                Some(executor) if self.remote_free > 0 => {
                                    self.remote_free -= 1;
                                    self.in_flight += 1;
                                    let tx = tx.clone();
                                    let spawned = std::thread::Builder::new()
                                        .name("flavor-remote-run".into())
                                        .spawn_scoped(threads, move || {
                                            let (id, key) = (pending.id, pending.key);
                                            let message = guard(
                                                || execute_remote(env, executor, pending),
                                                |error| Message::Ran {
                                                    id,
                                                    key,
                                                    result: Err(error),
                                                    duration: Duration::ZERO,
                                                    remote: RemoteFacts::default(),
                                                },
                                            );
                                            let _ = tx.send(message);
                                        });
                                    if spawned.is_err() {
                                        // No thread for it (the pending run went with the
                                        // closure): the report says it never ran.
                                        self.remote_free += 1;
                                        self.in_flight -= 1;
                                    }
                                    continue;
                                }
                                Some(_) => {
                                    waiting.push_back(pending);
                                    continue;
                                }
                                None => pending.remote = None,
                            }
                        }
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
                                    remote: RemoteFacts::default(),
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
        });
    }

    fn handle(&mut self, message: Message, env: &Env<'_>) {
        match message {
            Message::Hit {
                id,
                key,
                result,
                duration,
                remote,
            } => {
                self.free += self.release(id, 1);
                let status = if remote {
                    Status::Remote
                } else {
                    Status::Cached
                };
                self.succeed(id, key, status, result, duration, String::new());
            }
            Message::Miss(pending) => {
                self.free += self.release(pending.id, 1);
                self.run_queue.push_back(pending);
            }
            Message::CheckFailed {
                id,
                key,
                error,
                duration,
            } => {
                self.free += self.release(id, 1);
                self.fail(id, key, error, duration);
                self.skip_dependents(id, env);
            }
            Message::Fallback(pending) => {
                self.remote_free += 1;
                self.run_queue.push_back(pending);
            }
            Message::Unsure(id) => {
                let weight = self.weight(id);
                self.free += self.release(id, weight);
                self.check_queue.push_back(id);
            }
            Message::Ran {
                id,
                key,
                result,
                duration,
                remote,
            } => {
                if remote.executed {
                    self.remote_free += 1;
                } else {
                    let weight = self.weight(id);
                    self.free += self.release(id, weight);
                }
                match result {
                    Ok((result, log)) => {
                        self.succeed(id, key, Status::Built, result, duration, log);
                        if let Some(Some(report)) = self.reports.get_mut(id.0) {
                            report.remote = remote;
                        }
                    }
                    Err(error) => {
                        self.fail(id, Some(key), error, duration);
                        if let Some(Some(report)) = self.reports.get_mut(id.0) {
                            report.remote = remote;
                        }
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
        sources_of(self.graph.get(id)?, |action, index| {
            let outputs = self.outputs.get(action.0)?.as_ref()?;
            outputs.get(index).copied()
        })
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
            remote: RemoteFacts::default(),
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
