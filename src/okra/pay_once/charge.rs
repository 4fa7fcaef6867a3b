//! One job's walk through paying once: [`PayOnce::charge`] takes the claim's rate slot,
//! [`Charge::begin`] reuses a paid answer or takes the person's pay lock (waiting while another
//! job pays for the same person) and says whether to look first, [`Charge::take_budget`] and
//! [`Charge::calling`] take what a paid call needs, and [`Charge::settle`] stores the answer for
//! reuse or notes that it never came. Whatever was taken and not spent goes back by itself
//! when the charge is dropped, on every path.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::slots::{BudgetSlot, RateSlot};
use super::{Gate, Lock, PayOnce, Settled};
use crate::JobContext;
use crate::job::Job;
use crate::okra::{OkraJob, OkraResult};
use crate::policy::JobError;
use crate::rdb::Spent;

/// What [`Charge::begin`] found.
pub enum Begin {
    /// An answer the account paid for within `okra.reuse_window`: the job's result, no call.
    Reused(OkraResult),
    /// Go on: the charge holds the person's pay lock (when reuse is on).
    Go(Charge),
}

/// One job's charge: its pay lock, its slots, and whether its last charge is uncertain.
pub struct Charge {
    pay: Arc<PayOnce>,
    lock: Option<Lock>,
    /// Look-first mode: the latest moment the uncertain call can have started (ms, Redis).
    since: Option<u64>,
    /// The slot for the next call (the claim's first).
    rate: Option<RateSlot>,
    budget: Option<BudgetSlot>,
    /// A call was made: a charge dropped unsettled leaves the "no answer came" note.
    called: bool,
    /// Redis time, from the claim.
    now: Clock,
}

/// Redis time (ms) from a job's claim, without asking Redis.
#[derive(Clone, Copy)]
struct Clock {
    at_ms: u64,
    at: std::time::Instant,
}

impl Clock {
    fn now(self) -> u64 {
        self.at_ms + self.at.elapsed().as_millis() as u64
    }
}

impl PayOnce {
    /// Starts `ctx`'s charge, holding the rate-limit slot its claim took (given back unless a
    /// call is made).
    pub fn charge(self: &Arc<Self>, ctx: &JobContext) -> Charge {
        // The last attempt may have been charged without its answer reaching us.
        let now = Clock {
            at_ms: ctx.claimed_at_ms,
            at: ctx.claimed_at,
        };
        // A lost lease too: the holder may have been mid-call.
        let since = ctx
            .last_error
            .as_ref()
            .and_then(|f| f.unseen_effect_since(now.now()));
        Charge {
            pay: self.clone(),
            lock: None,
            since,
            rate: Some(RateSlot::claimed(&self.queue, ctx.slot.clone())),
            budget: None,
            called: false,
            now,
        }
    }
}

impl Charge {
    /// Before anything is paid: a profile to reuse (unless the job asked for a fresh one), or
    /// the person's pay lock. A job that finds another paying for the same person waits for
    /// its answer (at most a lease) and then goes back to `ready` without spending an attempt.
    pub async fn begin(mut self, job: &OkraJob, ctx: &JobContext) -> Result<Begin, JobError> {
        let Some(lock) = self.pay.lock(job, ctx) else {
            return Ok(Begin::Go(self));
        };
        let gate = self
            .pay
            .begin(&lock, ctx.meta.fresh)
            .await
            .map_err(unavailable)?;
        match gate {
            Gate::Reused(result) => {
                info!("profile paid for within okra.reuse_window; reused, no call");
                self.pay
                    .count(self.now.now(), job.kind(), Spent::SavedReuse, 0.0);
                Ok(Begin::Reused(result.reused()))
            }
            Gate::Busy => Err(JobError::retryable(
                "coalesced",
                "another job is still paying for this person; waiting for its answer",
            )
            .without_attempt()
            .with_delay(Duration::from_secs(1))),
            Gate::Go { look_first } => {
                // Another job's paid call for this person got no answer (when: unknown, so
                // now, the latest it can have been).
                if look_first {
                    let now = self.now.now();
                    self.since.get_or_insert(now);
                }
                self.lock = Some(lock);
                Ok(Begin::Go(self))
            }
        }
    }

    /// Look-first mode: the last paid call may have been charged without its answer
    /// arriving; the latest moment it can have started (ms, Redis time).
    pub fn look_first(&self) -> Option<u64> {
        self.since
    }

    /// A failure of this run: while the charge is uncertain, the next attempt looks first too.
    pub fn keep(&self, e: JobError) -> JobError {
        match self.since {
            Some(since) => e.uncertain_since(since),
            None => e,
        }
    }

    /// Takes a slot of the daily budget before a paid call (none needed without a budget);
    /// when it is spent, the account's queues are held and the job goes back to `ready`
    /// without spending an attempt.
    pub async fn take_budget(&mut self) -> Result<(), JobError> {
        let slot = self.pay.take_budget().await.map_err(unavailable)?;
        match slot {
            Some(slot) => {
                self.budget = Some(slot);
                Ok(())
            }
            None => {
                warn!(
                    "okra.daily_budget is spent: the account's queues are held until the next UTC day or `okra-admin queue resume`"
                );
                Err(
                    JobError::retryable("budget", "okra.daily_budget is spent for today")
                        .without_attempt(),
                )
            }
        }
    }

    /// A call is about to be made: it spends the run's rate-limit slot. The first call uses
    /// the claim's; a second one (a paid verify after a free lookup) takes one more, or the
    /// job waits for one without spending an attempt.
    pub async fn calling(&mut self) -> Result<(), JobError> {
        let mut slot = match self.rate.take() {
            Some(slot) => slot,
            None => match RateSlot::permit(&self.pay.queue)
                .await
                .map_err(unavailable)?
            {
                Ok(slot) => slot,
                Err(wait) => {
                    return Err(JobError::retryable(
                        "rate_limited",
                        "waiting for a slot of okra.requests_per_minute",
                    )
                    .with_delay(wait)
                    .without_attempt());
                }
            },
        };
        slot.spend();
        self.called = true;
        Ok(())
    }

    /// The paid call was (or may have been) charged: its budget slot stays taken.
    pub fn charged(&mut self) {
        if let Some(b) = &mut self.budget {
            b.spend();
        }
    }

    /// Redis time now (ms), from the claim.
    pub fn now(&self) -> u64 {
        self.now.now()
    }

    /// The unit this charge belongs to (its ledger, its lookup routes).
    pub fn pay_once(&self) -> &PayOnce {
        &self.pay
    }

    /// Ends the charge: a profile is stored for reuse, an answer that never came leaves the
    /// note that makes the person's next job look first, anything else releases the lock.
    /// Slots not spent go back. The settle goes with the pay-once unit's next round trip
    /// whether or not the returned future is awaited; hand it to
    /// [`JobContext::record_after`] instead, and the job's outcome is written once it is
    /// settled without the handler waiting for it (a job shown finished has settled).
    pub fn settle(mut self, settled: Settled<'_>) -> impl Future<Output = ()> + Send + use<> {
        let lock = self.lock.take();
        let sent = lock.map(|lock| self.pay.end(&lock, settled));
        async move {
            if let Some(settling) = sent {
                settling.await;
            }
        }
    }
}

impl Drop for Charge {
    /// A charge dropped without [`Charge::settle`] (an early return, a cancelled task) still
    /// releases the person's pay lock: after a call, with the note that its answer never came.
    fn drop(&mut self) {
        let Some(lock) = self.lock.take() else {
            return;
        };
        let settled = if self.called {
            Settled::Unsure
        } else {
            Settled::Nothing
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(self.pay.end(&lock, settled));
        }
    }
}

fn unavailable(e: crate::QueueError) -> JobError {
    JobError::retryable(
        "queue_unavailable",
        format!("could not reach the queue's rate limiter: {e}"),
    )
}
