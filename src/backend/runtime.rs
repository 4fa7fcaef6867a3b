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

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use super::acker::acker;
use super::options::WorkerOptions;
use super::process::WorkerProcess;
use crate::error::Result;
use crate::policy::record;
use crate::queue::Queue;
use crate::rdb::{MAX_BATCH, OutcomeEntry};

/// What [`Runtime::shutdown`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ShutdownReport {
    /// Jobs given back to the ready list (their attempt refunded).
    pub released: usize,
    /// Outcomes that could not be recorded (Redis unreachable); those jobs run again after
    /// their lease expires.
    pub unrecorded: usize,
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
        self.rdb.publish_budget(self.cfg.retry.max_attempts).await?;
        self.register().await?;
        let (inner, rx) = WorkerProcess::new(self.clone(), opts);
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
