//! Our apalis 1.0 backend: `WorkerBuilder::new(..).backend(runtime.backend()).build(handler)`.
//!
//! Each worker loop claims up to its free capacity in one round trip, decodes the payloads (a
//! payload that does not decode goes straight to dead letters as `invalid_payload`), and hands
//! the tasks to apalis. The backend's own middleware ([`outcome::OutcomeLayer`] behind a
//! concurrency limit) sees every result with its error chain, asks the retry policy, and sends
//! the decision to the process's acker. Idle loops wait on a wake-up, not on a timer. The
//! backend never returns an error to apalis: Redis trouble is logged and retried, so a worker
//! pool cannot die silently.

mod acker;
mod context;
mod heartbeat;
mod janitor;
mod lease;
mod lease_keeper;
mod liveness;
mod options;
mod outage;
mod outcome;
mod process;
mod reaper;
mod runtime;
mod scheduler;
mod waker;

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use apalis_core::backend::{Backend, BackendConfig, finalize::Ephemeral};
use apalis_core::task::{Task, builder::TaskBuilder, task_id::TaskId};
use apalis_core::worker::context::WorkerContext;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use tokio::sync::futures::OwnedNotified;
use tower::layer::util::Stack;
use tower::limit::ConcurrencyLimitLayer;
use tracing::warn;

pub use context::{JobContext, MissingJobContext};
pub use options::WorkerOptions;
pub use outcome::{OutcomeLayer, OutcomeService};
pub use runtime::{Runtime, ShutdownReport};

use crate::error::{QueueError, Result};
use crate::job::Failure;
use crate::job::{JobMeta, Lease, split_record};
use crate::policy::record::{invalid_payload, unreadable_payload};
use crate::rdb::ClaimReply;
use crate::seal::{self, Column, Place, Sealer};
use outage::{Backoff, OutageLog};
use process::WorkerProcess;

/// A worker loop's source of jobs. Clone it once per worker loop; each clone has its own
/// buffer and capacity, and all clones share their [`Runtime`].
pub struct RedisBackend<Args> {
    inner: Arc<WorkerProcess>,
    held: Arc<AtomicUsize>,
    name: Arc<str>,
    // In a mutex only so the backend is `Sync` (apalis's worker factories must be); it is
    // reached through `get_mut`, never locked.
    state: Mutex<LoopState<Args>>,
    _args: PhantomData<fn() -> Args>,
}

struct LoopState<Args> {
    buffer: VecDeque<Task<Args>>,
    fetch: Fetch<Args>,
    closing: Option<BoxFuture<'static, ()>>,
    backoff: Backoff,
    outage: OutageLog,
}

enum Fetch<Args> {
    Idle,
    Claiming(BoxFuture<'static, Result<Claimed<Args>>>),
    Waiting(BoxFuture<'static, ()>),
}

enum Claimed<Args> {
    Tasks(Vec<Task<Args>>),
    Empty(Pin<Box<OwnedNotified>>),
    Paused(Pin<Box<OwnedNotified>>),
    Throttled(Duration),
}

impl<Args> std::fmt::Debug for RedisBackend<Args> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("queue", &self.inner.queue.name())
            .field("held", &self.held.load(Ordering::Relaxed))
            .finish()
    }
}

// Nothing in the backend is structurally pinned; the buffered tasks are plain values.
impl<Args> Unpin for RedisBackend<Args> {}

impl<Args> Clone for RedisBackend<Args> {
    fn clone(&self) -> Self {
        Self::new(self.inner.clone())
    }
}

impl Runtime {
    /// A backend for one worker loop.
    pub fn backend<Args: DeserializeOwned + Send + 'static>(&self) -> RedisBackend<Args> {
        RedisBackend::new(self.inner.clone())
    }
}

impl<Args> RedisBackend<Args> {
    fn new(inner: Arc<WorkerProcess>) -> Self {
        inner.loops.fetch_add(1, Ordering::Relaxed);
        let outage = inner.outage_log("claiming jobs");
        Self {
            inner,
            held: Arc::new(AtomicUsize::new(0)),
            name: Arc::from("worker"),
            state: Mutex::new(LoopState {
                buffer: VecDeque::new(),
                fetch: Fetch::Idle,
                closing: None,
                backoff: Backoff::new(),
                outage,
            }),
            _args: PhantomData,
        }
    }
}

impl<Args: DeserializeOwned + Send + 'static> RedisBackend<Args> {
    fn start_claim(&self) -> BoxFuture<'static, Result<Claimed<Args>>> {
        let inner = self.inner.clone();
        let held = self.held.clone();
        let room = inner
            .opts
            .concurrency
            .saturating_sub(held.load(Ordering::Relaxed))
            .clamp(1, inner.opts.batch);
        let worker = format!("{}/{}", inner.node, self.name);
        async move {
            // Listen before asking, so a wake-up between the claim and the wait is not lost.
            let mut notified = Box::pin(inner.wake.clone().notified_owned());
            notified.as_mut().enable();
            // An account's slots come first (its keys live in a slot of their own), then at
            // most that many jobs are claimed; slots no job took go back.
            let mut slots: Vec<String> = Vec::new();
            let room = match inner.queue.account() {
                Some(account) => {
                    let taken = account.take(room).await?;
                    if taken.held.is_some() {
                        return Ok(Claimed::Paused(notified));
                    }
                    if taken.granted == 0 {
                        return Ok(Claimed::Throttled(taken.wait));
                    }
                    slots = taken.slots;
                    taken.granted
                }
                None => room,
            };
            let rate = inner.queue.cfg.rate_limit;
            let reply = inner.queue.rdb.claim(&worker, room, inner.opts.lease, rate).await;
            let (jobs, now, orphans) = match reply {
                Ok(ClaimReply::Claimed { now, jobs, orphans }) => (jobs, now, orphans),
                other => {
                    inner.give_back(&slots).await;
                    return match other? {
                        ClaimReply::Paused => Ok(Claimed::Paused(notified)),
                        ClaimReply::Throttled(d) => Ok(Claimed::Throttled(d)),
                        _ => Ok(Claimed::Empty(notified)),
                    };
                }
            };
            let unused = slots.split_off(jobs.len().min(slots.len()));
            inner.give_back(&unused).await;
            let mut slots = slots.into_iter();
            if !orphans.is_empty() {
                metrics::counter!("okq_orphans_total", "queue" => inner.queue.name().to_string())
                    .increment(orphans.len() as u64);
                warn!(count = orphans.len(), jobs = ?orphans.iter().take(5).collect::<Vec<_>>(), "dropped ids found in the ready list without a job record (written by another tool, or their record was removed)");
            }
            let claimed_at = Instant::now();
            let fleet_max = inner.queue.cfg.retry.max_attempts;
            let mut tasks = Vec::with_capacity(jobs.len());
            let mut buried = Vec::new();
            let mut unreadable = Vec::new();
            let sealer = inner.queue.sealer();
            for job in jobs {
                let (meta, payload) = split_record(&job.record);
                let meta = serde_json::from_str::<JobMeta>(meta);
                // A payload sealed with a key this worker lacks never reaches the handler.
                let place = Place::job(inner.queue.name(), &job.lease.id, Column::Payload);
                let args = match seal::open(sealer, &place, payload)
                    .map(|p| serde_json::from_str::<Args>(&p))
                {
                    Ok(args) => args,
                    Err(e) => {
                        inner.leases.hold(job.lease.clone(), true);
                        if let Some(slot) = slots.next() {
                            inner.give_back(&[slot]).await;
                        }
                        warn!(job = %job.lease.id, error = %e, "payload cannot be opened; moving to dead letters (requeue it once the key is back)");
                        unreadable.push((job, meta.ok(), e.to_string()));
                        continue;
                    }
                };
                match (meta, args) {
                    (Ok(mut meta), Ok(args)) => {
                        // A record written without a window start (another producer) starts it now.
                        if meta.window_start == 0 {
                            meta.window_start = now;
                        }
                        let lost = inner.leases.hold(job.lease.clone(), false);
                        held.fetch_add(1, Ordering::Relaxed);
                        let ctx = JobContext {
                            slot: slots.next(),
                            attempt: job.attempts,
                            last_error: opened_failure(
                                sealer,
                                inner.queue.name(),
                                &job.lease.id,
                                &job.last_error,
                            ),
                            claimed_at,
                            claimed_at_ms: now,
                            lost,
                            max_attempts: meta.budget(fleet_max),
                            meta: Arc::new(meta),
                            lease: job.lease.clone(),
                            attached: Arc::default(),
                        };
                        tasks.push(
                            TaskBuilder::new(args)
                                .task_id(TaskId::from_string(job.lease.id))
                                .attempt(ctx.attempt.saturating_sub(1) as usize)
                                .max_attempts(ctx.max_attempts as usize)
                                .run_at_timestamp(now / 1000)
                                .data(ctx)
                                .build(),
                        );
                    }
                    (meta, args) => {
                        inner.leases.hold(job.lease.clone(), true);
                        // It will never call upstream.
                        if let Some(slot) = slots.next() {
                            inner.give_back(&[slot]).await;
                        }
                        // serde's messages quote the offending value (an identifier, maybe):
                        // keep only where it failed.
                        let (meta, problem) = match (meta, args) {
                            (Err(e), _) => (None, format!("job metadata does not decode ({})", crate::job::json_error_rule(&e))),
                            (Ok(m), Err(e)) => (Some(m), format!("payload does not decode as a known job ({})", crate::job::json_error_rule(&e))),
                            (Ok(_), Ok(_)) => unreachable!("decoded jobs are tasks"),
                        };
                        warn!(job = %job.lease.id, kind = %crate::job::kind_for_log(meta.as_ref().map_or("", |m| m.kind.as_str())), error = %problem, "invalid payload; moving to dead letters");
                        buried.push((job, meta, problem));
                    }
                }
            }
            for (job, meta, problem) in buried {
                let outcome = invalid_payload(problem, split_record(&job.record).1);
                inner
                    .record(job.lease, meta.as_ref(), job.attempts, now, None, outcome, Default::default())
                    .await;
            }
            for (job, meta, why) in unreadable {
                inner
                    .record(job.lease, meta.as_ref(), job.attempts, now, None, unreadable_payload(why), Default::default())
                    .await;
            }
            Ok(Claimed::Tasks(tasks))
        }
        .boxed()
    }

    fn state(&mut self) -> &mut LoopState<Args> {
        self.state.get_mut().unwrap_or_else(|e| e.into_inner())
    }
}

impl<Args> LoopState<Args> {
    /// Takes a claim's result: buffer the tasks, or decide how long to wait before the next.
    fn settle(
        &mut self,
        claimed: Result<Claimed<Args>>,
        poll: Duration,
    ) -> Option<BoxFuture<'static, ()>> {
        match claimed {
            Ok(Claimed::Tasks(tasks)) => {
                self.outage.ok();
                self.backoff.reset();
                self.buffer.extend(tasks);
                None
            }
            Ok(Claimed::Empty(n) | Claimed::Paused(n)) => {
                self.outage.ok();
                self.backoff.reset();
                Some(
                    async move {
                        let _ = tokio::time::timeout(poll, n).await;
                    }
                    .boxed(),
                )
            }
            Ok(Claimed::Throttled(d)) => {
                Some(tokio::time::sleep(d.min(Duration::from_secs(5))).boxed())
            }
            Err(e) => {
                let pause = self.backoff.next();
                self.outage.fail(&e, pause);
                Some(tokio::time::sleep(pause).boxed())
            }
        }
    }
}

impl<Args: DeserializeOwned + Send + 'static> Backend for RedisBackend<Args> {
    type Task = Task<Args>;
    type Error = QueueError;

    fn poll_ready(&mut self, _cx: &mut Context<'_>, _worker: &WorkerContext) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        _worker: &WorkerContext,
    ) -> Poll<Option<Result<Task<Args>>>> {
        let poll = self.inner.opts.poll_interval;
        let inner = self.inner.clone();
        loop {
            if let Some(task) = self.state().buffer.pop_front() {
                return Poll::Ready(Some(Ok(task)));
            }
            if matches!(self.state().fetch, Fetch::Idle) {
                let claim = self.start_claim();
                self.state().fetch = Fetch::Claiming(claim);
            }
            let state = self.state();
            match &mut state.fetch {
                Fetch::Idle => unreachable!("a claim was just started"),
                Fetch::Claiming(f) => {
                    let claimed = futures::ready!(f.poll_unpin(cx));
                    match &claimed {
                        Ok(_) => inner.liveness.claimed(),
                        Err(_) => inner.liveness.beat(liveness::Loop::Claim),
                    }
                    state.fetch = match state.settle(claimed, poll) {
                        Some(w) => Fetch::Waiting(w),
                        None => Fetch::Idle,
                    };
                }
                Fetch::Waiting(f) => {
                    futures::ready!(f.poll_unpin(cx));
                    state.fetch = Fetch::Idle;
                }
            }
        }
    }

    /// Gives back what this loop claimed but never started, then waits until every outcome it
    /// sent is recorded.
    fn poll_close(&mut self, cx: &mut Context<'_>, _worker: &WorkerContext) -> Poll<Result<()>> {
        let inner = self.inner.clone();
        let held = self.held.clone();
        let state = self.state();
        if state.closing.is_none() {
            let claiming = match std::mem::replace(&mut state.fetch, Fetch::Idle) {
                Fetch::Claiming(f) => Some(f),
                _ => None,
            };
            let unstarted_tasks: Vec<Task<Args>> = state.buffer.drain(..).collect();
            let mut unstarted: Vec<Lease> = unstarted_tasks.iter().filter_map(lease_of).collect();
            let mut unused: Vec<String> = unstarted_tasks.iter().filter_map(slot_of).collect();
            state.closing = Some(
                async move {
                    if let Some(f) = claiming
                        && let Ok(Claimed::Tasks(tasks)) = f.await
                    {
                        unstarted.extend(tasks.iter().filter_map(lease_of));
                        unused.extend(tasks.iter().filter_map(slot_of));
                    }
                    held.fetch_sub(unstarted.len(), Ordering::Relaxed);
                    inner.release(unstarted).await;
                    inner.give_back(&unused).await;
                    inner.flush().await;
                }
                .boxed(),
            );
        }
        let closing = state.closing.as_mut().expect("set above");
        futures::ready!(closing.poll_unpin(cx));
        Poll::Ready(Ok(()))
    }
}

fn slot_of<Args>(task: &Task<Args>) -> Option<String> {
    task.ctx()
        .data()
        .get::<JobContext>()
        .and_then(|c| c.slot.clone())
}

fn lease_of<Args>(task: &Task<Args>) -> Option<Lease> {
    task.ctx()
        .data()
        .get::<JobContext>()
        .map(|c| c.lease.clone())
}

/// The job's last failure as the handler sees it: opened, when its messages are sealed (a
/// failure that does not decode is none).
fn opened_failure(sealer: Option<&Sealer>, queue: &str, id: &str, text: &str) -> Option<Failure> {
    let mut f: Failure = serde_json::from_str(text).ok()?;
    f.message = seal::shown(
        sealer,
        &Place::job(queue, id, Column::ErrorMessage),
        &f.message,
    )
    .into_owned();
    f.body = f
        .body
        .map(|b| seal::shown(sealer, &Place::job(queue, id, Column::ErrorBody), &b).into_owned());
    Some(f)
}

impl<Args: DeserializeOwned + Send + 'static> BackendConfig for RedisBackend<Args> {
    type Args = Args;
    type Id = String;
    type Kind = Ephemeral;
    type Config = WorkerOptions;
    type Layer = Stack<OutcomeLayer, ConcurrencyLimitLayer>;

    fn config(&self) -> &WorkerOptions {
        &self.inner.opts
    }

    fn middleware(&mut self, worker: &mut WorkerContext) -> Self::Layer {
        self.name = Arc::from(worker.name());
        Stack::new(
            OutcomeLayer::new(self.inner.clone(), self.held.clone()),
            ConcurrencyLimitLayer::new(self.inner.opts.concurrency),
        )
    }
}
