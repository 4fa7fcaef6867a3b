//! The reaper: takes back leases whose holder is gone, as a retry with backoff (or a dead letter,
//! class `lease_expired`, when the attempts are spent). Each decision is fenced in Redis by the
//! claim's token and its deadline, so a holder that extends or finishes first always wins.
//!
//! A lease past its deadline is not enough. It is taken back only when
//! - this process does not hold that very claim itself (its lease keeper will extend it), and
//! - this process has been reaching Redis for a whole lease (after an outage every live holder
//!   gets that long to re-extend what it holds), and
//! - its holder is gone: not stamped alive for a whole lease, or stamped after the deadline
//!   (alive, but it does not hold that claim: the claim's reply never reached it).

use std::sync::Arc;

use tracing::debug;

use super::process::{WorkerProcess, every};
use crate::error::Result;
use crate::job::{Failure, JobMeta, split_record};
use crate::policy::Outcome;
use crate::policy::record::{self, Attempt, Writer};
use crate::rdb::{ExpiredLease, MAX_BATCH, OutcomeEntry};
use crate::telemetry::decision::Under;

pub(crate) async fn run(inner: Arc<WorkerProcess>) {
    let interval = inner.opts.reap_interval;
    every(
        inner,
        "reaping expired leases",
        Some(super::liveness::Loop::Reaper),
        interval,
        |inner| async move { reap(&inner).await.map(|_| ()) },
    )
    .await;
}

/// One pass; returns how many leases were taken back.
pub(crate) async fn reap(inner: &WorkerProcess) -> Result<usize> {
    let lease = inner.opts.lease;
    if inner.health.failed_within(lease) {
        debug!(
            "not reaping: Redis was unreachable within the last lease; holders may still be re-extending"
        );
        return Ok(0);
    }
    let stale_ms = lease.as_millis() as u64;
    let mut total = 0;
    loop {
        let (now, expired) = inner.queue.rdb.expired(MAX_BATCH).await?;
        let full = expired.len() == MAX_BATCH;
        let gone: Vec<&ExpiredLease> = expired
            .iter()
            .filter(|e| !inner.leases.holds(&e.lease))
            .filter(|e| {
                e.holder_stamp > e.deadline || now.saturating_sub(e.holder_stamp) >= stale_ms
            })
            .collect();
        if gone.is_empty() {
            return Ok(total);
        }
        let entries: Vec<OutcomeEntry> = gone.iter().map(|e| take_back(inner, e, now)).collect();
        let statuses = inner
            .queue
            .rdb
            .apply(&entries, inner.queue.cfg.history_cap, false)
            .await?;
        let applied = super::acker::report(inner, &entries, &statuses, false);
        if applied > 0 {
            tracing::warn!(
                count = applied,
                "took back expired leases of workers that are gone"
            );
        }
        total += applied;
        // Another full page may wait behind this one; a page of live holders ends the pass.
        if !full || applied == 0 {
            return Ok(total);
        }
    }
}

/// The write that takes back one expired lease: a failed attempt of class `lease_expired`,
/// through the policy like any other (retried with backoff, or dead when the budget is spent).
fn take_back(inner: &WorkerProcess, e: &ExpiredLease, now: u64) -> OutcomeEntry {
    let policy = &inner.queue.cfg.retry;
    let meta: Option<JobMeta> = serde_json::from_str(split_record(&e.record).0).ok();
    let failure = Failure {
        class: "lease_expired".into(),
        message: format!(
            "lease expired: worker {} stopped renewing it (crashed, killed, hung or cut off from Redis)",
            e.worker
        ),
        // The holder may have been mid-call: whatever it did upstream is unknown, and it did
        // nothing after now. The handler decides what that means.
        lease_lost_at: Some(now),
        ..Failure::default()
    };
    let attempt = Attempt::of(
        e.lease.clone(),
        meta.as_ref(),
        e.attempts,
        policy,
        now,
        None,
        &inner.node,
        Writer::Reaper,
        (inner.queue.name(), inner.queue.sealer()),
    );
    let entry = record::attempt(
        policy,
        attempt,
        Outcome::Retry {
            failure,
            delay: None,
            spend_attempt: true,
        },
    );
    // No attempt span here (its holder is gone): linked to the job's trace, if it has one.
    let under = Under {
        attempt_span: None,
        stored: meta.as_ref().and_then(|m| m.trace.as_ref()),
    };
    drop(inner.trace_decision(&entry, now, under));
    entry
}
