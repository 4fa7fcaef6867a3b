//! What a queue looks like right now: counts per state, lifetime totals, flags, the latency,
//! per-minute throughput and the worker processes.

use serde::Serialize;

use super::handle::Queue;
use crate::error::Result;
use crate::job::now_ms;
use crate::rdb::{AccountUsage, Minute, RawStats, WORKER_TTL, WorkerInfo};

/// Counts per state, lifetime totals and flags of one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Queue name.
    pub queue: String,
    /// Jobs waiting for a due time (delayed jobs and retries).
    pub scheduled: u64,
    /// Jobs waiting for a worker.
    pub ready: u64,
    /// Jobs under a lease.
    pub running: u64,
    /// Dead letters.
    pub dead: u64,
    /// Completed jobs still kept for their result.
    pub completed: u64,
    /// Cancelled jobs still kept (until the completed retention ends).
    pub cancelled: u64,
    /// Attempts finished (succeeded + retried + died).
    pub processed: u64,
    /// Attempts that succeeded.
    pub succeeded: u64,
    /// Attempts that failed and were scheduled again.
    pub retried: u64,
    /// Jobs that became dead letters.
    pub died: u64,
    /// Jobs enqueued.
    pub enqueued: u64,
    /// Enqueues refused as duplicates of an idempotency key.
    pub duplicates: u64,
    /// Dead letters requeued.
    pub requeued: u64,
    /// Jobs cancelled by operators.
    pub cancels: u64,
    /// Dead letters deleted by operators.
    pub deleted: u64,
    /// Dead letters trimmed by the cap or the TTL.
    pub dead_trimmed: u64,
    /// Jobs erased with their person (`okra-admin erase`).
    pub erased: u64,
    /// Jobs given back unfinished at shutdown.
    pub released: u64,
    /// Expired leases the reaper took back.
    pub lease_expired: u64,
    /// Outcomes of runs whose lease was lost (taken back after expiring), rejected.
    pub late_outcomes: u64,
    /// Reaper decisions not applied because the holder extended or finished first (harmless).
    pub reap_races: u64,
    /// Ids found in the ready list without a job record, dropped by a claim.
    pub orphans: u64,
    /// Queue is paused.
    pub paused: bool,
    /// Why: `paused by an operator`, or what the circuit breaker or the drain guard saw.
    pub pause_reason: Option<String>,
    /// Claims are throttled for this many more ms.
    pub throttled_ms: u64,
    /// Worker processes with a recent heartbeat.
    pub workers: u64,
    /// How long the oldest ready job has waited, ms (0 when none is ready): the queue latency.
    pub latency_ms: u64,
    /// The upstream account's shared limit: calls in the window, the limit, its throttle.
    pub account: Option<AccountUsage>,
}

impl Stats {
    fn from_raw(queue: &str, raw: RawStats, latency_ms: u64) -> Self {
        let c = |name: &str| raw.counters.get(name).copied().unwrap_or(0);
        Self {
            queue: queue.to_string(),
            scheduled: raw.scheduled,
            ready: raw.ready,
            running: raw.running,
            dead: raw.dead,
            completed: raw.completed,
            cancelled: raw.cancelled,
            processed: c("processed"),
            succeeded: c("succeeded"),
            retried: c("retried"),
            died: c("dead"),
            enqueued: c("enqueued"),
            duplicates: c("duplicates"),
            requeued: c("requeued"),
            cancels: c("cancelled"),
            deleted: c("deleted"),
            dead_trimmed: c("dead_trimmed"),
            erased: c("erased"),
            released: c("released"),
            lease_expired: c("lease_expired"),
            late_outcomes: c("late_outcomes"),
            reap_races: c("reap_races"),
            orphans: c("orphans"),
            paused: raw.paused.is_some(),
            pause_reason: raw.paused,
            throttled_ms: raw.throttle_ms,
            workers: raw.workers,
            latency_ms,
            account: None,
        }
    }

    /// Jobs not finished yet (scheduled + ready + running).
    pub fn pending(&self) -> u64 {
        self.scheduled + self.ready + self.running
    }
}

impl Queue {
    /// Counts per state, lifetime totals, live workers, flags and the latency.
    pub async fn stats(&self) -> Result<Stats> {
        let live_since = now_ms().saturating_sub(WORKER_TTL.as_millis() as u64);
        let raw = self.rdb.stats(live_since).await?;
        let latency = self.rdb.latency_ms().await?;
        let mut stats = Stats::from_raw(&self.cfg.name, raw, latency);
        if let Some(a) = &self.account {
            let usage = a.usage().await?;
            stats.throttled_ms = stats.throttled_ms.max(usage.throttled_ms);
            // The account's daily budget holds every queue on it: to workers it is a pause.
            if let (None, Some(reason)) = (&stats.pause_reason, &usage.held) {
                stats.paused = true;
                stats.pause_reason = Some(reason.clone());
            }
            stats.account = Some(usage);
        }
        Ok(stats)
    }

    /// Attempts processed and failed per minute over the last `minutes` (at most 120), oldest
    /// first.
    pub async fn throughput(&self, minutes: u64) -> Result<Vec<Minute>> {
        self.rdb.throughput(minutes).await
    }

    /// Registered worker processes, most recently stamped first.
    pub async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        self.rdb.workers(now_ms()).await
    }
}
