//! The per-process side of the workers: what every worker loop of a process shares.
//!
//! - the **registry** of leases this process holds (id → fencing token), the source of truth for
//!   lease extension and for giving jobs back at shutdown;
//! - the **acker**, which batches outcomes into one fenced script call per batch;
//! - the **lease keeper**, which extends held leases every third of the lease;
//! - the **waker**, which blocks on the queue's wake-up key and wakes idle loops at once;
//! - **maintenance**: reaping expired leases, trimming dead letters and completed jobs, and the
//!   heartbeat. Every process runs it; the scripts are atomic, so running it twice is harmless.
//!
//! None of these ever gives up on Redis: failures are logged (once per streak, then every 30 s),
//! retried with backoff, and recovery is logged too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};

use crate::dlq::index_dims;
use crate::error::Result;
use crate::job::{Failure, HistoryEntry, JobMeta, now_ms, split_record, truncate};
use crate::policy::{Budget, Decision, Outcome};
use crate::queue::{Queue, WorkerInfo};
use crate::rdb::{Action, MAX_BATCH, OutcomeEntry, Rdb, RedisConn};

/// A worker process whose heartbeat is older than this is not counted as alive.
pub const WORKER_TTL: Duration = Duration::from_secs(30);
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const MESSAGE_MAX: usize = 2048;
const HISTORY_MESSAGE_MAX: usize = 512;

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
    /// Job id.
    pub id: String,
    /// Fencing token of this claim.
    pub token: u64,
    /// This attempt's number in the current budget (1 = first).
    pub attempt: u32,
    /// Kind and timestamps.
    pub meta: Arc<JobMeta>,
    /// The failure of the previous attempt, if it failed.
    pub last_error: Option<Failure>,
    /// When this process claimed the job.
    pub claimed_at: Instant,
}

#[derive(Debug)]
struct Held {
    token: u64,
    finishing: bool,
}

enum AckMsg {
    Outcome(Box<OutcomeEntry>),
    Flush(oneshot::Sender<()>),
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
    pub(crate) loops: AtomicUsize,
    registry: Mutex<HashMap<String, Held>>,
    acker: mpsc::Sender<AckMsg>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    acker_task: Mutex<Option<JoinHandle<()>>>,
    started_at: u64,
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
    /// Starts the per-process worker machinery (acker, lease keeper, waker, maintenance,
    /// heartbeat). Needs a Tokio runtime.
    pub async fn runtime(&self, opts: WorkerOptions) -> Result<Runtime> {
        opts.validate().map_err(crate::error::QueueError::Config)?;
        let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
        let (stop, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            queue: self.clone(),
            opts,
            node: node_id(),
            wake: Arc::new(Notify::new()),
            loops: AtomicUsize::new(0),
            registry: Mutex::new(HashMap::new()),
            acker: tx,
            stop,
            tasks: Mutex::new(Vec::new()),
            acker_task: Mutex::new(None),
            started_at: now_ms(),
        });
        let blocking = match &self.redis {
            Some(settings) => Some(Rdb::new(
                RedisConn::connect_blocking(settings, inner.opts.poll_interval).await?,
                self.rdb.keys().clone(),
            )),
            None => None,
        };
        *inner.acker_task.lock().unwrap() = Some(tokio::spawn(acker(inner.clone(), rx)));
        let tasks = vec![
            tokio::spawn(lease_keeper(inner.clone())),
            tokio::spawn(waker(inner.clone(), blocking)),
            tokio::spawn(maintenance(inner.clone())),
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
        self.inner.registry.lock().unwrap().len()
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
        let held: Vec<(String, u64)> = inner
            .registry
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, h)| !h.finishing)
            .map(|(id, h)| (id.clone(), h.token))
            .collect();
        let mut report = ShutdownReport::default();
        for chunk in held.chunks(MAX_BATCH) {
            let entries: Vec<OutcomeEntry> = chunk
                .iter()
                .map(|(id, token)| inner.release_entry(id, *token))
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
        report.unrecorded += inner
            .registry
            .lock()
            .unwrap()
            .values()
            .filter(|h| h.finishing)
            .count();
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
    pub(crate) fn hold(&self, id: &str, token: u64, finishing: bool) {
        self.registry
            .lock()
            .unwrap()
            .insert(id.to_string(), Held { token, finishing });
    }

    /// Records an attempt's outcome: the policy decides, the acker writes it.
    pub(crate) async fn finish(&self, ctx: &JobContext, outcome: Outcome, ran: Duration) {
        let decision = self.queue.cfg.retry.decide(
            outcome,
            Budget {
                attempts: ctx.attempt,
                max_attempts: ctx.meta.max_attempts,
                window_start: ctx.meta.window_start,
                now: now_ms(),
            },
        );
        let entry = self.entry(
            &ctx.id,
            ctx.token,
            &ctx.meta.kind,
            ctx.attempt,
            decision,
            Some(ran),
            false,
        );
        self.send(entry).await;
    }

    /// Sends a job straight to dead letters (e.g. its payload cannot be decoded).
    pub(crate) async fn bury(
        &self,
        id: &str,
        token: u64,
        kind: &str,
        attempt: u32,
        failure: Failure,
    ) {
        let entry = self.entry(
            id,
            token,
            kind,
            attempt,
            Decision::Dead(failure),
            None,
            false,
        );
        self.send(entry).await;
    }

    /// Gives claimed, unstarted jobs back.
    pub(crate) async fn release(&self, jobs: Vec<(String, u64)>) {
        for (id, token) in jobs {
            let entry = self.release_entry(&id, token);
            self.send(entry).await;
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
        if let Some(h) = self.registry.lock().unwrap().get_mut(&entry.id) {
            h.finishing = true;
        }
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

    fn release_entry(&self, id: &str, token: u64) -> OutcomeEntry {
        OutcomeEntry {
            id: id.to_string(),
            token,
            action: Action::Release,
            delay_ms: 0,
            refund: true,
            history: HistoryEntry {
                outcome: "released".into(),
                class: Some("shutdown".into()),
                worker: Some(self.node.clone()),
                ..HistoryEntry::default()
            },
            data: String::new(),
            dims: Vec::new(),
            require_expired: false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &self,
        id: &str,
        token: u64,
        kind: &str,
        attempt: u32,
        decision: Decision,
        ran: Option<Duration>,
        require_expired: bool,
    ) -> OutcomeEntry {
        let mut history = HistoryEntry {
            attempt,
            worker: Some(self.node.clone()),
            duration_ms: ran.map(|d| d.as_millis() as u64),
            ..HistoryEntry::default()
        };
        let mut entry = OutcomeEntry {
            id: id.to_string(),
            token,
            action: Action::Complete,
            delay_ms: 0,
            refund: false,
            history: HistoryEntry::default(),
            data: String::new(),
            dims: Vec::new(),
            require_expired,
        };
        let queue = self.queue.name().to_string();
        let failure = match decision {
            Decision::Complete(result) => {
                history.outcome = "success".into();
                entry.data = result.to_string();
                metrics::counter!("okq_jobs_total", "queue" => queue.clone(), "outcome" => "success", "class" => "")
                    .increment(1);
                None
            }
            Decision::Retry {
                delay,
                refund,
                failure,
            } => {
                history.outcome = "retry".into();
                history.retry_in_ms = Some(delay.as_millis() as u64);
                entry.action = Action::Retry;
                entry.delay_ms = delay.as_millis() as u64;
                entry.refund = refund;
                Some(failure)
            }
            Decision::Dead(failure) => {
                history.outcome = "dead".into();
                entry.action = Action::Dead;
                entry.dims = index_dims(kind, &failure);
                warn!(job = id, kind, class = %failure.class, reason = failure.reason.as_deref().unwrap_or(""), attempt, "job moved to dead letters");
                Some(failure)
            }
        };
        if let Some(mut f) = failure {
            f.message = truncate(&f.message, MESSAGE_MAX).to_string();
            f.attempt = attempt;
            history.class = Some(f.class.clone());
            history.message = Some(truncate(&f.message, HISTORY_MESSAGE_MAX).to_string());
            history.http_status = f.http_status;
            history.error_type = f.error_type.clone();
            metrics::counter!("okq_jobs_total", "queue" => queue, "outcome" => history.outcome.clone(), "class" => f.class.clone())
                .increment(1);
            entry.data = serde_json::to_string(&f).unwrap_or_else(|_| "{}".into());
        }
        entry.history = history;
        entry
    }

    /// Applies a batch, retrying through Redis outages; `give_up` bounds the retrying.
    /// Returns how many outcomes were applied, or `None` when it gave up.
    async fn apply_retrying(
        &self,
        entries: &[OutcomeEntry],
        give_up: Option<Duration>,
    ) -> Option<usize> {
        let started = Instant::now();
        let mut backoff = Backoff::new();
        let mut streak = Streak::new("recording outcomes");
        loop {
            match self
                .queue
                .rdb
                .apply(entries, self.queue.cfg.history_cap)
                .await
            {
                Ok(applied) => {
                    streak.ok();
                    let mut reg = self.registry.lock().unwrap();
                    for e in entries {
                        reg.remove(&e.id);
                    }
                    drop(reg);
                    if !applied.rejected.is_empty() {
                        metrics::counter!("okq_late_outcomes_total", "queue" => self.queue.name().to_string())
                            .increment(applied.rejected.len() as u64);
                        warn!(
                            count = applied.rejected.len(),
                            jobs = ?applied.rejected.iter().take(5).collect::<Vec<_>>(),
                            "late outcomes rejected: those leases had expired and the jobs were taken back"
                        );
                    }
                    return Some(applied.applied);
                }
                Err(e) => {
                    let wait = backoff.next();
                    streak.fail(&e, wait);
                    if give_up.is_some_and(|g| started.elapsed() >= g) {
                        error!(count = entries.len(), error = %e, "gave up recording outcomes; those jobs run again after their lease expires");
                        return None;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    fn held_tokens(&self) -> Vec<(String, u64, bool)> {
        self.registry
            .lock()
            .unwrap()
            .iter()
            .map(|(id, h)| (id.clone(), h.token, h.finishing))
            .collect()
    }

    async fn heartbeat(&self) -> Result<()> {
        let info = WorkerInfo {
            id: self.node.clone(),
            host: host_name(),
            pid: std::process::id(),
            started_at: self.started_at,
            concurrency: self.opts.concurrency,
            loops: self.loops.load(Ordering::Relaxed),
            in_flight: self.registry.lock().unwrap().len(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..WorkerInfo::default()
        };
        let rdb = &self.queue.rdb;
        rdb.heartbeat(
            &self.node,
            &serde_json::to_string(&info).unwrap_or_default(),
        )
        .await?;
        let pruned = rdb
            .prune_workers(now_ms().saturating_sub(10 * WORKER_TTL.as_millis() as u64))
            .await?;
        if pruned > 0 {
            info!(
                pruned,
                "removed registrations of workers gone for 5 minutes"
            );
        }
        Ok(())
    }

    /// Takes back expired leases: retry with backoff, or dead (class `lease_expired`) when the
    /// attempts are spent. Each decision is fenced by the claim's token and the deadline.
    async fn reap(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            let (now, expired) = self.queue.rdb.expired(MAX_BATCH).await?;
            if expired.is_empty() {
                return Ok(total);
            }
            let full = expired.len() == MAX_BATCH;
            let policy = &self.queue.cfg.retry;
            let entries: Vec<OutcomeEntry> = expired
                .iter()
                .map(|e| {
                    let meta: JobMeta = serde_json::from_str(split_record(&e.record).0).unwrap_or(JobMeta {
                        kind: "unknown".into(),
                        max_attempts: policy.max_attempts,
                        created_at: now,
                        window_start: now,
                        idempotency_key: None,
                        requeues: 0,
                    });
                    let failure = Failure {
                        class: "lease_expired".into(),
                        message: format!(
                            "lease expired: worker {} stopped renewing it (crashed, killed or hung)",
                            e.worker
                        ),
                        ..Failure::default()
                    };
                    let decision = policy.decide(
                        Outcome::Retry {
                            failure,
                            delay: None,
                            spend_attempt: true,
                        },
                        Budget {
                            attempts: e.attempts,
                            max_attempts: meta.max_attempts,
                            window_start: meta.window_start,
                            now,
                        },
                    );
                    self.entry(&e.id, e.token, &meta.kind, e.attempts, decision, None, true)
                })
                .collect();
            let applied = self
                .queue
                .rdb
                .apply(&entries, self.queue.cfg.history_cap)
                .await?;
            total += applied.applied;
            if applied.applied > 0 {
                metrics::counter!("okq_leases_reaped_total", "queue" => self.queue.name().to_string())
                    .increment(applied.applied as u64);
                warn!(count = applied.applied, "took back expired leases");
            }
            if !full {
                return Ok(total);
            }
        }
    }

    async fn trim(&self) -> Result<()> {
        let cfg = &self.queue.cfg;
        loop {
            let (ttl, cap, completed) = self
                .queue
                .rdb
                .trim(
                    cfg.dead_max,
                    cfg.dead_ttl,
                    cfg.completed_retention,
                    MAX_BATCH,
                )
                .await?;
            if ttl + cap > 0 {
                metrics::counter!("okq_dead_trimmed_total", "queue" => cfg.name.clone())
                    .increment(ttl + cap);
                warn!(
                    by_ttl = ttl,
                    by_cap = cap,
                    dead_max = cfg.dead_max,
                    dead_ttl = %humantime::format_duration(cfg.dead_ttl),
                    "trimmed dead letters"
                );
            }
            if completed > 0 {
                debug!(completed, "removed completed jobs past their retention");
            }
            if ttl.max(cap).max(completed) < MAX_BATCH as u64 {
                return Ok(());
            }
        }
    }
}

/// Batches outcomes (up to 1,000 per script call) in the order they were sent.
async fn acker(inner: Arc<Inner>, mut rx: mpsc::Receiver<AckMsg>) {
    let mut batch: Vec<OutcomeEntry> = Vec::with_capacity(MAX_BATCH);
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                AckMsg::Outcome(e) => batch.push(*e),
                AckMsg::Flush(tx) => flushes.push(tx),
            }
            next = if batch.len() < MAX_BATCH {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() {
            inner.apply_retrying(&batch, None).await;
            batch.clear();
        }
        for tx in flushes.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// Extends every held lease each third of the lease.
async fn lease_keeper(inner: Arc<Inner>) {
    let mut stop = inner.stopping();
    let every = (inner.opts.lease / 3).max(Duration::from_millis(100));
    let mut streak = Streak::new("extending leases");
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let held = inner.held_tokens();
        for chunk in held.chunks(MAX_BATCH) {
            let pairs: Vec<(String, u64)> =
                chunk.iter().map(|(id, t, _)| (id.clone(), *t)).collect();
            match inner.queue.rdb.extend(inner.opts.lease, &pairs).await {
                Ok(lost) => {
                    streak.ok();
                    let finishing: Vec<&String> =
                        chunk.iter().filter(|c| c.2).map(|c| &c.0).collect();
                    let lost: Vec<String> = lost
                        .into_iter()
                        .filter(|id| !finishing.contains(&id))
                        .collect();
                    // A lease can also end between the snapshot and the script (outcome applied).
                    let still_held: Vec<String> = {
                        let reg = inner.registry.lock().unwrap();
                        lost.into_iter()
                            .filter(|id| reg.get(id).is_some_and(|h| !h.finishing))
                            .collect()
                    };
                    if !still_held.is_empty() {
                        warn!(
                            count = still_held.len(),
                            jobs = ?still_held.iter().take(5).collect::<Vec<_>>(),
                            "lost leases of running jobs (taken back after expiring); their outcomes will be rejected"
                        );
                    }
                }
                Err(e) => streak.fail(&e, every),
            }
        }
    }
}

/// Blocks on the wake-up key and wakes idle loops; wakes them anyway every poll interval (and
/// in time for the earliest scheduled job), so pause, resume and due jobs are noticed.
async fn waker(inner: Arc<Inner>, blocking: Option<Rdb>) {
    let mut stop = inner.stopping();
    let mut streak = Streak::new("waiting for work");
    let mut backoff = Backoff::new();
    let poll = inner.opts.poll_interval;
    loop {
        let wait = async {
            match &blocking {
                Some(rdb) => rdb.wait_for_wake(poll).await.map(|_| ()),
                None => {
                    tokio::time::sleep(poll).await;
                    Ok(())
                }
            }
        };
        let result = tokio::select! {
            _ = stop.changed() => return,
            r = wait => r,
        };
        match result {
            Ok(()) => {
                streak.ok();
                backoff.reset();
                inner.wake.notify_waiters();
            }
            Err(e) => {
                let pause = backoff.next();
                streak.fail(&e, pause);
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}

/// Reaping, trimming and the heartbeat.
async fn maintenance(inner: Arc<Inner>) {
    let mut stop = inner.stopping();
    let tick = inner.opts.reap_interval.min(HEARTBEAT_EVERY);
    let (mut next_reap, mut next_trim, mut next_beat) =
        (Instant::now(), Instant::now(), Instant::now());
    let mut streak = Streak::new("maintenance");
    loop {
        let now = Instant::now();
        let mut result = Ok(());
        if now >= next_beat {
            result = result.and(inner.heartbeat().await);
            next_beat = now + HEARTBEAT_EVERY;
        }
        if now >= next_reap {
            result = result.and(inner.reap().await.map(|_| ()));
            next_reap = now + inner.opts.reap_interval;
        }
        if now >= next_trim {
            result = result.and(inner.trim().await);
            next_trim = now + inner.opts.trim_interval;
        }
        match result {
            Ok(()) => streak.ok(),
            Err(e) => streak.fail(&e, tick),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// Exponential backoff from 50 ms to 5 s.
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(Duration::ZERO)
    }

    pub(crate) fn next(&mut self) -> Duration {
        self.0 = (self.0 * 2).clamp(Duration::from_millis(50), Duration::from_secs(5));
        self.0
    }

    pub(crate) fn reset(&mut self) {
        self.0 = Duration::ZERO;
    }
}

/// Logs the first failure of a streak, then at most every 30 s, and the recovery.
pub(crate) struct Streak {
    what: &'static str,
    failures: u32,
    last_log: Option<Instant>,
}

impl Streak {
    pub(crate) fn new(what: &'static str) -> Self {
        Self {
            what,
            failures: 0,
            last_log: None,
        }
    }

    pub(crate) fn fail(&mut self, e: &dyn std::fmt::Display, retry_in: Duration) {
        self.failures += 1;
        metrics::counter!("okq_redis_errors_total", "during" => self.what).increment(1);
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            warn!(
                during = self.what,
                failures = self.failures,
                retry_in = %humantime::format_duration(retry_in),
                error = %e,
                "Redis unavailable; retrying"
            );
            self.last_log = Some(Instant::now());
        }
    }

    pub(crate) fn ok(&mut self) {
        if self.failures > 0 {
            info!(
                during = self.what,
                failures = self.failures,
                "Redis reachable again"
            );
        }
        self.failures = 0;
        self.last_log = None;
    }
}

fn host_name() -> String {
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
