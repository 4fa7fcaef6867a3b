//! What a handler can know about the job it runs: take a [`JobContext`] as a handler argument.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use apalis_core::task::{Task, from_request::FromRequest};
use futures::future::BoxFuture;

use crate::job::{Failure, JobMeta, Lease};

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
    /// The last failure recorded for the job: the previous attempt's, or after a requeue the
    /// one it died of (a handler can see that its charge was left uncertain).
    pub last_error: Option<Failure>,
    /// When this process claimed the job.
    pub claimed_at: Instant,
    /// Redis server time of the claim (ms); with `claimed_at` it gives Redis time without asking.
    pub claimed_at_ms: u64,
    pub(crate) lost: Arc<AtomicBool>,
    /// The upstream account's rate-limit slot taken for this run's call (when the queue has an
    /// account with a limit). Give it back with [`crate::Queue::give_back`] if no call is made.
    pub slot: Option<String>,
    /// What the handler leaves for its outcome ([`JobContext::trace_under`],
    /// [`JobContext::record_after`]); the backend takes it once the handler has returned.
    /// Shared by the context's clones.
    pub(crate) attached: Arc<Mutex<Attached>>,
}

/// What a handler leaves with its outcome: the span its decision goes under, and what must
/// finish before the outcome is written.
#[derive(Default)]
pub(crate) struct Attached {
    pub(crate) span: Option<tracing::Span>,
    pub(crate) after: Vec<BoxFuture<'static, ()>>,
}

impl std::fmt::Debug for Attached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("span", &self.span)
            .field("after", &self.after.len())
            .finish()
    }
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

    /// Puts the spans of what this attempt's outcome leads to (its retry being scheduled, its
    /// dead letter) under `span`, the handler's span of the attempt (`process {queue}`). The
    /// backend holds it until the outcome is decided, so it ends after them. Without it they
    /// are linked to the job's stored trace context.
    pub fn trace_under(&self, span: &tracing::Span) {
        self.attached().span = Some(span.clone());
    }

    /// Writes this attempt's outcome only once `done` has finished, without the handler
    /// waiting for it: for writes that must be in Redis before anyone sees the job finished
    /// (the reuse store's profile, [`crate::okra::pay_once::Charge::settle`]), while the
    /// handler returns and its concurrency slot takes the next job. The outcome waits for
    /// `done` however long it takes: give it a future that ends (a Redis call does, with an
    /// error when Redis cannot be reached).
    pub fn record_after(&self, done: impl Future<Output = ()> + Send + 'static) {
        self.attached().after.push(Box::pin(done));
    }

    /// What [`JobContext::trace_under`] and [`JobContext::record_after`] left, taken (so no
    /// clone of the context keeps the span open).
    pub(crate) fn take_attached(&self) -> Attached {
        std::mem::take(&mut *self.attached())
    }

    fn attached(&self) -> std::sync::MutexGuard<'_, Attached> {
        self.attached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Redis server time now (ms), from the claim's time and this process's monotonic clock.
    pub fn redis_now_ms(&self) -> u64 {
        self.claimed_at_ms + self.claimed_at.elapsed().as_millis() as u64
    }
}

impl<Args: Sync> FromRequest<Task<Args>> for JobContext {
    type Error = MissingJobContext;

    async fn from_request(task: &Task<Args>) -> std::result::Result<Self, Self::Error> {
        task.ctx()
            .data()
            .get::<JobContext>()
            .cloned()
            .ok_or(MissingJobContext)
    }
}

/// The task did not come from [`RedisBackend`].
#[derive(Debug, thiserror::Error)]
#[error("no okra-queue job context on this task (it did not come from RedisBackend)")]
pub struct MissingJobContext;
