//! The acker: batches outcomes (up to 1,000 per script call) in the order they were sent, and
//! reports what the script applied. Metrics and the dead-letter log come from here, after the
//! fenced write decided, so they count what happened rather than what was asked for.

use std::sync::Arc;

use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::liveness::Loop;
use super::outage::{Backoff, OutageLog};
use super::process::{AckMsg, WorkerProcess};
use crate::rdb::{Applied, MAX_BATCH, OutcomeEntry, Transition};

/// A batch this large is written without lingering.
const LINGER_BELOW: usize = 64;

/// Lingering is for a busy acker only: one that wrote within this long. An outcome that finds
/// it idle is written at once, so an idle fleet's `wait` and retries are not delayed.
const BUSY_WITHIN: std::time::Duration = std::time::Duration::from_millis(20);

/// Batches applied but not yet confirmed at `redis.durability` before the acker stops taking
/// new outcomes (the workers then wait: no progress without durability).
const MAX_UNCONFIRMED: usize = 16;

/// A batch the script applied, waiting for its confirmation.
struct Unconfirmed {
    entries: Vec<OutcomeEntry>,
    statuses: Vec<Applied>,
    maybe_applied: bool,
}

pub(crate) async fn acker(inner: Arc<WorkerProcess>, mut rx: mpsc::Receiver<AckMsg>) {
    let mut batch: Vec<OutcomeEntry> = Vec::with_capacity(MAX_BATCH);
    // What the batch's handlers left to finish before their outcomes are written.
    let mut after: Vec<BoxFuture<'static, ()>> = Vec::new();
    let mut flushes = Vec::new();
    let linger = inner.opts.ack_linger;
    // An idle acker still goes round every poll interval, so `/healthz` can tell idle from stuck.
    let idle = inner.opts.poll_interval;
    let mut last_write: Option<tokio::time::Instant> = None;
    // With `redis.durability`, applied batches wait here while later ones are applied: one
    // confirmation covers every write before it, and a stalled replica does not stall writes.
    let durable = inner.queue.rdb.durable().is_some();
    let mut unconfirmed: std::collections::VecDeque<Unconfirmed> = Default::default();
    let mut confirming: Option<(usize, BoxFuture<'static, crate::error::Result<()>>)> = None;
    let mut backoff = Backoff::new();
    let mut outage = inner.outage_log("confirming outcomes (redis.durability)");
    loop {
        inner.liveness.beat(super::liveness::Loop::Acker);
        if confirming.is_none() && !unconfirmed.is_empty() {
            let process = inner.clone();
            confirming = Some((
                unconfirmed.len(),
                Box::pin(async move { process.queue.rdb.confirm().await }),
            ));
        }
        let full = unconfirmed.len() >= MAX_UNCONFIRMED;
        let confirmation = async {
            match confirming.as_mut() {
                Some((_, f)) => f.await,
                None => std::future::pending().await,
            }
        };
        let first = tokio::select! {
            done = confirmation => {
                let covered = confirming.take().map_or(0, |c| c.0);
                match done {
                    Ok(()) => {
                        outage.ok();
                        backoff.reset();
                        for b in unconfirmed.drain(..covered) {
                            inner.acknowledged(&b.entries, &b.statuses, b.maybe_applied);
                        }
                    }
                    Err(e) => {
                        let wait = backoff.next();
                        outage.fail(&e, wait);
                        tokio::time::sleep(wait).await;
                    }
                }
                continue;
            }
            m = tokio::time::timeout(idle, rx.recv()), if !full => match m {
                Ok(Some(first)) => first,
                Ok(None) => break,
                Err(_) => continue,
            },
        };
        let now = tokio::time::Instant::now();
        let until = now + linger;
        let busy = last_write.is_some_and(|t| now.duration_since(t) < BUSY_WITHIN);
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                AckMsg::Outcome(e, then) => {
                    batch.push(*e);
                    after.extend(then);
                }
                AckMsg::Flush(tx) => flushes.push(tx),
            }
            next = if batch.len() >= MAX_BATCH {
                None
            } else if let Ok(msg) = rx.try_recv() {
                Some(msg)
            } else if busy && batch.len() < LINGER_BELOW && flushes.is_empty() && !linger.is_zero()
            {
                // A small batch waits a moment for company; a flush (shutdown) never waits.
                tokio::time::timeout_at(until, rx.recv())
                    .await
                    .ok()
                    .flatten()
            } else {
                None
            };
        }
        if !after.is_empty() {
            // Usually done already: they went out while the batch gathered.
            futures::future::join_all(after.drain(..)).await;
        }
        if !batch.is_empty() {
            let started = std::time::Instant::now();
            if let Some((statuses, maybe_applied)) = inner.apply_only(&batch, started, None).await {
                if durable {
                    unconfirmed.push_back(Unconfirmed {
                        entries: std::mem::take(&mut batch),
                        statuses,
                        maybe_applied,
                    });
                } else {
                    inner.acknowledged(&batch, &statuses, maybe_applied);
                }
            }
            batch.clear();
            last_write = Some(tokio::time::Instant::now());
        }
        if !flushes.is_empty() {
            // A flush (shutdown) returns once everything sent before it is recorded.
            confirming = None;
            if !unconfirmed.is_empty()
                && inner
                    .confirm_retrying(std::time::Instant::now(), Some(Duration::from_secs(10)))
                    .await
            {
                for b in unconfirmed.drain(..) {
                    inner.acknowledged(&b.entries, &b.statuses, b.maybe_applied);
                }
            }
            for tx in flushes.drain(..) {
                let _ = tx.send(());
            }
        }
    }
}

/// Metrics and logs for one applied batch; returns how many entries were applied.
pub(crate) fn report(
    inner: &WorkerProcess,
    entries: &[OutcomeEntry],
    statuses: &[Applied],
    maybe_applied: bool,
) -> usize {
    let queue = inner.queue.name().to_string();
    let (mut applied, mut late, mut races, mut erased) = (0, Vec::new(), 0u64, 0u64);
    for (e, status) in entries.iter().zip(statuses) {
        match status {
            Applied::Applied => {
                applied += 1;
                let outcome = e.transition.history().as_str();
                metrics::counter!("okq_jobs_total", "queue" => queue.clone(), "kind" => crate::job::kind_for_metrics(&e.kind).to_string(), "outcome" => outcome, "class" => e.class().to_string())
                    .increment(1);
                if e.fence {
                    metrics::counter!("okq_leases_reaped_total", "queue" => queue.clone())
                        .increment(1);
                }
                if e.transition == Transition::Dead {
                    warn!(job = %e.lease.id, kind = %crate::job::kind_for_log(&e.kind), class = e.class(), reason = e.reason.as_deref().unwrap_or(""), attempt = e.history.attempt, "job moved to dead letters");
                }
            }
            Applied::Late => late.push(&e.lease),
            Applied::Race => races += 1,
            Applied::Erased => erased += 1,
        }
    }
    if erased > 0 {
        debug!(
            count = erased,
            "outcomes dropped: their jobs were erased while they ran"
        );
    }
    if races > 0 {
        metrics::counter!("okq_reap_races_total", "queue" => queue.clone()).increment(races);
        debug!(
            count = races,
            "reaper lost the race to the holders (they extended or finished first)"
        );
    }
    if !late.is_empty() {
        if maybe_applied {
            debug!(
                count = late.len(),
                "outcomes already recorded by a try whose reply was lost"
            );
        } else {
            metrics::counter!("okq_late_outcomes_total", "queue" => queue)
                .increment(late.len() as u64);
            warn!(
                count = late.len(),
                leases = ?late.iter().take(5).map(|l| l.to_string()).collect::<Vec<_>>(),
                "late outcomes rejected: those leases were lost (taken back after expiring) and the jobs run again"
            );
        }
    }
    applied
}

/// Writing outcomes: apply a batch through Redis outages, confirm it at `redis.durability`,
/// and count what was applied.
impl WorkerProcess {
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
}
