//! The per-process side of the workers: what every worker loop of a process shares, and the
//! background loops that keep it honest, one per file:
//!
//! - [`super::lease`]: the claims this process holds, keyed by [`Lease`];
//! - [`super::acker`]: batches outcomes into one fenced script call per batch;
//! - [`super::lease_keeper`]: extends held leases and stamps the process alive;
//! - [`super::reaper`]: takes back leases whose holder is gone (never its own);
//! - [`super::waker`]: blocks on the queue's wake-up key and wakes idle loops at once;
//! - [`super::scheduler`]: moves due jobs to ready exactly when they are due;
//! - [`super::janitor`]: trims dead letters and completed jobs;
//! - [`super::heartbeat`]: publishes what this process is.
//!
//! None of these ever gives up on Redis: failures are logged (once per outage, then every 30 s),
//! retried with a short backoff, and recovery is logged too.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::acker::{AckMsg, acker};
use super::lease::HeldLeases;
use super::liveness::{Liveness, Loop};
use super::options::WorkerOptions;
use super::outage::{Backoff, Health, OutageLog};
use crate::error::Result;
use crate::job::{JobMeta, Lease, host_name, now_ms};
use crate::policy::Outcome;
use crate::policy::record::{self, Attempt, Writer};
use crate::queue::Queue;
use crate::rdb::{Applied, MAX_BATCH, OutcomeEntry};

/// What [`Runtime::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// Jobs given back to the ready list (their attempt refunded).
    pub released: usize,
    /// Outcomes that could not be recorded (Redis unreachable); those jobs run again after
    /// their lease expires.
    pub unrecorded: usize,
}

pub(crate) struct WorkerProcess {
    pub(crate) queue: Queue,
    pub(crate) opts: WorkerOptions,
    pub(crate) node: String,
    pub(crate) wake: Arc<Notify>,
    /// Re-arms the scheduler's timer (a job was scheduled sooner than all others).
    pub(crate) resched: Arc<Notify>,
    pub(crate) loops: AtomicUsize,
    pub(crate) leases: HeldLeases,
    pub(crate) health: Arc<Health>,
    /// When each loop last went round, for `/healthz` and `/readyz`.
    pub(crate) liveness: Liveness,
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
    pub(crate) inner: Arc<WorkerProcess>,
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
        // Sealing is the queue's: a worker with keys marks it, one without refuses a sealed one.
        self.check_writable().await?;
        self.rdb.publish_budget(self.cfg.retry.max_attempts).await?;
        self.register().await?;
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(WorkerProcess {
            queue: self.clone(),
            opts,
            node: node_id(),
            wake: Arc::new(Notify::new()),
            resched: Arc::new(Notify::new()),
            loops: AtomicUsize::new(0),
            leases: HeldLeases::default(),
            health: Arc::new(Health::new()),
            liveness: Liveness::new(),
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
        self.inner.leases.len()
    }

    /// One pass of the reaper, as its loop runs every `worker.reap_interval`: returns how many
    /// expired leases it took back. For tests and tools that should not wait for the interval.
    pub async fn reap_once(&self) -> Result<usize> {
        super::reaper::reap(&self.inner).await
    }

    /// One pass of the janitor, as its loop runs every `worker.trim_interval`: dead letters
    /// over the cap or past their TTL, completed jobs past their retention, and Okra's answers
    /// in dead letters past `dead.answer_retention`.
    pub async fn trim_once(&self) -> Result<()> {
        super::janitor::trim(&self.inner).await
    }

    /// One pass of the lease keeper, as its loop runs every third of the lease: extends every
    /// lease this process holds and stamps it alive.
    pub async fn extend_once(&self) -> Result<()> {
        super::lease_keeper::keep(self.inner.clone()).await
    }

    /// Stops the machinery: records every outcome still queued, gives unfinished jobs back to
    /// the head of the ready list with their attempt refunded, and removes the heartbeat.
    /// Call it after the `Monitor` (and its grace period) has returned.
    pub async fn shutdown(&self) -> ShutdownReport {
        let inner = &self.inner;
        inner.liveness.stop();
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
        let unfinished = inner.leases.unfinished();
        let mut report = ShutdownReport::default();
        for chunk in unfinished.chunks(MAX_BATCH) {
            let entries: Vec<OutcomeEntry> = chunk
                .iter()
                .map(|l| record::release(l.clone(), &inner.node))
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
        report.unrecorded += inner.leases.finishing_count();
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

impl WorkerProcess {
    /// Records an ended attempt through the policy's one entrance ([`record::attempt`]);
    /// the acker writes it. `meta` is `None` for a record that does not decode.
    pub(crate) async fn record(
        &self,
        lease: Lease,
        meta: Option<&JobMeta>,
        attempt: u32,
        now: u64,
        ran: Option<Duration>,
        outcome: Outcome,
    ) {
        let policy = &self.queue.cfg.retry;
        let a = Attempt::of(
            lease,
            meta,
            attempt,
            policy,
            now,
            ran,
            &self.node,
            Writer::Worker,
            (self.queue.name(), self.queue.sealer()),
        )
        .indexing(self.queue.cfg.index_key.as_ref());
        self.send(record::attempt(policy, a, outcome)).await;
    }

    /// Gives claimed, unstarted jobs back.
    pub(crate) async fn release(&self, leases: Vec<Lease>) {
        for lease in leases {
            let entry = record::release(lease, &self.node);
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
        self.leases.finishing(&entry.lease);
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
    /// Returns how many outcomes were applied, or `None` when it gave up. The outcomes count
    /// as recorded once `redis.durability` confirms them (retried until then).
    pub(crate) async fn apply_retrying(
        &self,
        entries: &[OutcomeEntry],
        give_up: Option<Duration>,
    ) -> Option<usize> {
        let started = Instant::now();
        let (statuses, maybe_applied) = self.apply_only(entries, started, give_up).await?;
        // Recorded only once `redis.durability` holds: until then the leases stay held (and
        // extended), and the confirmation is tried again.
        if !self.confirm_retrying(started, give_up).await {
            return None;
        }
        Some(self.acknowledged(entries, &statuses, maybe_applied))
    }

    /// Applies a batch, retrying through Redis outages (until `give_up` after `started`):
    /// what the script decided for each entry, and whether an earlier try may have applied it.
    pub(crate) async fn apply_only(
        &self,
        entries: &[OutcomeEntry],
        started: Instant,
        give_up: Option<Duration>,
    ) -> Option<(Vec<Applied>, bool)> {
        let mut backoff = Backoff::new();
        let mut outage = OutageLog::new("recording outcomes", self.health.clone());
        // After a failed try the script may have run with its reply lost: a rejection is then
        // no proof the lease was lost.
        let mut maybe_applied = false;
        loop {
            self.liveness.beat(Loop::Acker);
            match self
                .queue
                .rdb
                .apply(entries, self.queue.cfg.history_cap, maybe_applied)
                .await
            {
                Ok(statuses) => {
                    outage.ok();
                    return Some((statuses, maybe_applied));
                }
                Err(e) => {
                    maybe_applied = true;
                    let wait = backoff.next();
                    outage.fail(&e, wait);
                    if give_up.is_some_and(|g| started.elapsed() >= g) {
                        tracing::error!(count = entries.len(), error = %e, "gave up recording outcomes; those jobs run again after their lease expires");
                        return None;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Applied (and confirmed): the leases end, and metrics and logs count what was applied.
    pub(crate) fn acknowledged(
        &self,
        entries: &[OutcomeEntry],
        statuses: &[Applied],
        maybe_applied: bool,
    ) -> usize {
        self.leases.settle(entries.iter().map(|e| &e.lease));
        super::acker::report(self, entries, statuses, maybe_applied)
    }

    /// Confirms the writes so far at `redis.durability`, retrying (the acker's liveness goes
    /// round meanwhile); false when `give_up` ran out first.
    pub(crate) async fn confirm_retrying(
        &self,
        started: Instant,
        give_up: Option<Duration>,
    ) -> bool {
        let mut backoff = Backoff::new();
        let mut outage = OutageLog::new(
            "confirming outcomes (redis.durability)",
            self.health.clone(),
        );
        loop {
            self.liveness.beat(Loop::Acker);
            match self.queue.rdb.confirm().await {
                Ok(()) => {
                    outage.ok();
                    return true;
                }
                Err(e) => {
                    let wait = backoff.next();
                    outage.fail(&e, wait);
                    if give_up.is_some_and(|g| started.elapsed() >= g) {
                        tracing::error!(error = %e, "gave up confirming outcomes at redis.durability; those jobs may run again after a failover");
                        return false;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    pub(crate) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    pub(crate) fn outage_log(&self, what: &'static str) -> OutageLog {
        OutageLog::new(what, self.health.clone())
    }
}

/// Runs `step` every `every` until the runtime stops; a failed step is retried after a short
/// backoff instead of a whole interval. Every periodic loop of the runtime is one of these.
pub(crate) async fn every<F, Fut>(
    inner: Arc<WorkerProcess>,
    what: &'static str,
    pulse: Option<Loop>,
    every: Duration,
    step: F,
) where
    F: Fn(Arc<WorkerProcess>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut stop = inner.stopping();
    let mut outage = inner.outage_log(what);
    let mut backoff = Backoff::new();
    loop {
        let result = step(inner.clone()).await;
        if let Some(l) = pulse {
            inner.liveness.beat(l);
        }
        let pause = match result {
            Ok(()) => {
                outage.ok();
                backoff.reset();
                every
            }
            Err(e) => {
                let pause = backoff.next().min(every);
                outage.fail(&e, pause);
                pause
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
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
