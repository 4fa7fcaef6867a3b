//! The per-process side of the workers: what every worker loop of a process shares, and the
//! background loops that keep it honest, one per file:
//!
//! - [`super::lease`]: the registry of claims this process holds, keyed by [`Lease`];
//! - [`super::acker`]: batches outcomes into one fenced script call per batch;
//! - [`super::lease_keeper`]: extends held leases and stamps the process alive;
//! - [`super::reaper`]: takes back leases whose holder is gone (never its own);
//! - [`super::waker`]: blocks on the queue's wake-up key and wakes idle loops at once;
//! - [`super::scheduler`]: moves due jobs to ready exactly when they are due;
//! - [`super::janitor`]: trims dead letters and completed jobs;
//! - [`super::heartbeat`]: publishes what this process is.
//!
//! None of these ever gives up on Redis: failures are logged (once per streak, then every 30 s),
//! retried with a short backoff, and recovery is logged too.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::acker::{AckMsg, acker};
use super::backoff::{Backoff, Health, Streak};
use super::lease::Registry;
use crate::error::Result;
use crate::job::{Failure, JobMeta, Lease, now_ms};
use crate::policy::record::{self, Writer};
use crate::policy::{Budget, Decision, Outcome};
use crate::queue::Queue;
use crate::rdb::{MAX_BATCH, OutcomeEntry};

/// A worker process whose liveness stamp is older than this is not counted as alive.
pub const WORKER_TTL: Duration = Duration::from_secs(30);

/// How a process runs its workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerOptions {
    /// Jobs one worker loop runs at once.
    pub concurrency: usize,
    /// Most jobs claimed per round trip (≤ 1,000); a loop never claims more than it has room for.
    pub batch: usize,
    /// Lease (visibility timeout); extended every third of it while the job runs.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Longest an idle loop waits before looking again (a wake-up usually comes much sooner).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often expired leases are reaped.
    #[serde(with = "humantime_serde")]
    pub reap_interval: Duration,
    /// How often the dead set and completed jobs are trimmed.
    #[serde(with = "humantime_serde")]
    pub trim_interval: Duration,
    /// How long running jobs may finish at shutdown before they are given back.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 100,
            batch: 100,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            reap_interval: Duration::from_secs(1),
            trim_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

impl WorkerOptions {
    /// Checks the values make sense.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.concurrency == 0 {
            return Err("worker.concurrency must be at least 1".into());
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(format!("worker.batch must be between 1 and {MAX_BATCH}"));
        }
        if self.lease < Duration::from_millis(300) {
            return Err("worker.lease must be at least 300ms".into());
        }
        if self.poll_interval.is_zero()
            || self.reap_interval.is_zero()
            || self.trim_interval.is_zero()
        {
            return Err("worker intervals must be positive".into());
        }
        Ok(())
    }
}

/// What a handler can know about the job it runs. Take it as a handler argument.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The claim this run holds (job id and fencing token).
    pub lease: Lease,
    /// This attempt's number in the current budget (1 = first).
    pub attempt: u32,
    /// The attempt budget in force: the job's own, or the fleet's `retry.max_attempts`.
    pub max_attempts: u32,
    /// Kind and timestamps.
    pub meta: Arc<JobMeta>,
    /// The failure of the previous attempt, if it failed.
    pub last_error: Option<Failure>,
    /// When this process claimed the job.
    pub claimed_at: Instant,
    /// Redis server time of the claim (ms); with `claimed_at` it gives Redis time without asking.
    pub claimed_at_ms: u64,
    pub(crate) lost: Arc<AtomicBool>,
    /// The upstream account's rate-limit slot taken for this run's call (when the queue has an
    /// account with a limit). Give it back with [`Queue::give_back`] if no call is made.
    pub slot: Option<String>,
}

impl JobContext {
    /// Job id.
    pub fn id(&self) -> &str {
        &self.lease.id
    }

    /// True once Redis has said this run's claim is gone (its lease expired and was taken back
    /// while this process could not reach Redis). The job will run again elsewhere and this
    /// run's outcome will be rejected: a handler should make no further upstream call.
    pub fn lease_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Redis server time now (ms), from the claim's time and this process's monotonic clock.
    pub fn redis_now_ms(&self) -> u64 {
        self.claimed_at_ms + self.claimed_at.elapsed().as_millis() as u64
    }
}

/// What [`Runtime::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// Jobs given back to the ready list (their attempt refunded).
    pub released: usize,
    /// Outcomes that could not be recorded (Redis unreachable); those jobs run again after
    /// their lease expires.
    pub unrecorded: usize,
}

pub(crate) struct Inner {
    pub(crate) queue: Queue,
    pub(crate) opts: WorkerOptions,
    pub(crate) node: String,
    pub(crate) wake: Arc<Notify>,
    /// Re-arms the scheduler's timer (a job was scheduled sooner than all others).
    pub(crate) resched: Arc<Notify>,
    pub(crate) loops: AtomicUsize,
    pub(crate) registry: Registry,
    pub(crate) health: Arc<Health>,
    pub(crate) started_at: u64,
    acker: mpsc::Sender<AckMsg>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    acker_task: Mutex<Option<JoinHandle<()>>>,
}

/// The workers' shared machinery in one process. Make one per queue per process with
/// [`Queue::runtime`], hand out backends with [`Runtime::backend`], and call
/// [`Runtime::shutdown`] after the `Monitor` returns.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("queue", &self.inner.queue.name())
            .field("node", &self.inner.node)
            .finish()
    }
}

impl Queue {
    /// Starts the per-process worker machinery (acker, lease keeper, reaper, waker,
    /// scheduler, janitor, heartbeat). Needs a Tokio runtime.
    pub async fn runtime(&self, opts: WorkerOptions) -> Result<Runtime> {
        opts.validate().map_err(crate::error::QueueError::Config)?;
        self.check_server().await?;
        self.rdb.publish_budget(self.cfg.retry.max_attempts).await?;
        self.register().await?;
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            queue: self.clone(),
            opts,
            node: node_id(),
            wake: Arc::new(Notify::new()),
            resched: Arc::new(Notify::new()),
            loops: AtomicUsize::new(0),
            registry: Registry::default(),
            health: Arc::new(Health::new()),
            started_at: now_ms(),
            acker: tx,
            stop,
            tasks: Mutex::new(Vec::new()),
            acker_task: Mutex::new(None),
        });
        let blocking = self
            .blocking_rdb(inner.opts.poll_interval)
            .await
            .transpose()?;
        *inner.acker_task.lock().unwrap() = Some(tokio::spawn(acker(inner.clone(), rx)));
        let tasks = vec![
            tokio::spawn(super::lease_keeper::run(inner.clone())),
            tokio::spawn(super::reaper::run(inner.clone())),
            tokio::spawn(super::waker::run(inner.clone(), blocking)),
            tokio::spawn(super::scheduler::run(inner.clone())),
            tokio::spawn(super::janitor::run(inner.clone())),
            tokio::spawn(super::heartbeat::run(inner.clone())),
        ];
        *inner.tasks.lock().unwrap() = tasks;
        info!(queue = self.name(), node = %inner.node, "worker runtime started");
        Ok(Runtime { inner })
    }
}

impl Runtime {
    /// This process's worker id (`host:pid:suffix`), as seen in leases and heartbeats.
    pub fn node_id(&self) -> &str {
        &self.inner.node
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// Jobs this process holds (claimed and not yet recorded).
    pub fn in_flight(&self) -> usize {
        self.inner.registry.len()
    }

    /// Stops the machinery: records every outcome still queued, gives unfinished jobs back to
    /// the head of the ready list with their attempt refunded, and removes the heartbeat.
    /// Call it after the `Monitor` (and its grace period) has returned.
    pub async fn shutdown(&self) -> ShutdownReport {
        let inner = &self.inner;
        let _ = inner.stop.send(true);
        let tasks: Vec<_> = inner.tasks.lock().unwrap().drain(..).collect();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        if tokio::time::timeout(Duration::from_secs(10), inner.flush())
            .await
            .is_err()
        {
            warn!("shutdown: outcomes could not all be recorded within 10s");
        }
        let unfinished = inner.registry.unfinished();
        let mut report = ShutdownReport::default();
        for chunk in unfinished.chunks(MAX_BATCH) {
            let entries: Vec<OutcomeEntry> = chunk
                .iter()
                .map(|l| record::release(l.clone(), "", &inner.node))
                .collect();
            match inner
                .apply_retrying(&entries, Some(Duration::from_secs(10)))
                .await
            {
                Some(applied) => report.released += applied,
                None => report.unrecorded += entries.len(),
            }
        }
        if let Some(acker) = inner.acker_task.lock().unwrap().take() {
            acker.abort();
        }
        report.unrecorded += inner.registry.finishing_count();
        if let Err(e) = inner.queue.rdb.deregister(&inner.node).await {
            warn!(error = %e, "shutdown: could not remove the heartbeat");
        }
        info!(
            released = report.released,
            unrecorded = report.unrecorded,
            "worker runtime stopped"
        );
        report
    }
}

impl Inner {
    /// Records an attempt's outcome: the policy decides (on Redis time), the acker writes it.
    pub(crate) async fn finish(&self, ctx: &JobContext, outcome: Outcome, ran: Duration) {
        let policy = &self.queue.cfg.retry;
        let decision = policy.decide(
            outcome,
            Budget {
                attempts: ctx.attempt,
                max_attempts: ctx.meta.budget(policy.max_attempts),
                window_start: ctx.meta.window_start,
                now: ctx.redis_now_ms(),
            },
        );
        let entry = record::entry(
            ctx.lease.clone(),
            &ctx.meta.kind,
            ctx.attempt,
            decision,
            Some(ran),
            &self.node,
            Writer::Worker,
        );
        self.send(entry).await;
    }

    /// Sends a job straight to dead letters (e.g. its payload cannot be decoded).
    pub(crate) async fn bury(&self, lease: Lease, kind: &str, attempt: u32, failure: Failure) {
        let entry = record::entry(
            lease,
            kind,
            attempt,
            Decision::Dead(failure),
            None,
            &self.node,
            Writer::Worker,
        );
        self.send(entry).await;
    }

    /// Gives claimed, unstarted jobs back.
    pub(crate) async fn release(&self, leases: Vec<Lease>) {
        for lease in leases {
            let entry = record::release(lease, "", &self.node);
            self.send(entry).await;
        }
    }

    /// Gives rate-limit slots back to the account (best effort: a slot not given back only
    /// ages out of the window).
    pub(crate) async fn give_back(&self, slots: &[String]) {
        if let Err(e) = self.queue.give_back(slots).await {
            debug!(error = %e, count = slots.len(), "could not give rate-limit slots back");
        }
    }

    /// Waits until every outcome sent so far is recorded (or given up on).
    pub(crate) async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.acker.send(AckMsg::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    async fn send(&self, entry: OutcomeEntry) {
        self.registry.finishing(&entry.lease);
        if self
            .acker
            .send(AckMsg::Outcome(Box::new(entry)))
            .await
            .is_err()
        {
            warn!(
                "outcome dropped: the worker runtime is shut down (the job runs again after its lease expires)"
            );
        }
    }

    /// Applies a batch, retrying through Redis outages; `give_up` bounds the retrying.
    /// Returns how many outcomes were applied, or `None` when it gave up.
    pub(crate) async fn apply_retrying(
        &self,
        entries: &[OutcomeEntry],
        give_up: Option<Duration>,
    ) -> Option<usize> {
        let started = Instant::now();
        let mut backoff = Backoff::new();
        let mut streak = Streak::new("recording outcomes", self.health.clone());
        // After a failed try the script may have run with its reply lost: a rejection is then
        // no proof the lease was lost.
        let mut maybe_applied = false;
        loop {
            match self
                .queue
                .rdb
                .apply(entries, self.queue.cfg.history_cap, maybe_applied)
                .await
            {
                Ok(statuses) => {
                    streak.ok();
                    self.registry.settle(entries.iter().map(|e| &e.lease));
                    return Some(super::acker::report(
                        self,
                        entries,
                        &statuses,
                        maybe_applied,
                    ));
                }
                Err(e) => {
                    maybe_applied = true;
                    let wait = backoff.next();
                    streak.fail(&e, wait);
                    if give_up.is_some_and(|g| started.elapsed() >= g) {
                        tracing::error!(count = entries.len(), error = %e, "gave up recording outcomes; those jobs run again after their lease expires");
                        return None;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn streak(&self, what: &'static str) -> Streak {
        Streak::new(what, self.health.clone())
    }
}

/// Runs `step` every `every` until the runtime stops; a failed step is retried after a short
/// backoff instead of a whole interval. Every periodic loop of the runtime is one of these.
pub(crate) async fn every<F, Fut>(inner: Arc<Inner>, what: &'static str, every: Duration, step: F)
where
    F: Fn(Arc<Inner>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut stop = inner.stopping();
    let mut streak = inner.streak(what);
    let mut backoff = Backoff::new();
    loop {
        let pause = match step(inner.clone()).await {
            Ok(()) => {
                streak.ok();
                backoff.reset();
                every
            }
            Err(e) => {
                let pause = backoff.next().min(every);
                streak.fail(&e, pause);
                pause
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn node_id() -> String {
    let suffix = ulid::Ulid::new().to_string();
    format!(
        "{}:{}:{}",
        host_name(),
        std::process::id(),
        &suffix[suffix.len() - 6..]
    )
}
