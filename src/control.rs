//! Steering a queue: pause and resume, the throttle after an upstream 429, and the rate-limit
//! slots a job takes for its calls (the Okra account's, when the queue has one, whose daily
//! budget can hold every queue on it).

use std::time::Duration;

use crate::error::Result;
use crate::queue::Queue;

impl Queue {
    /// Stops every worker from claiming (running jobs finish).
    pub async fn pause(&self) -> Result<()> {
        self.rdb.set_paused(true).await
    }

    /// Pauses with a reason unless already paused (the circuit breaker and the drain guard);
    /// true if this call paused it.
    pub async fn pause_because(&self, reason: &str) -> Result<bool> {
        self.rdb.pause_because(reason).await
    }

    /// Lifts a rate-limit throttle at once (the queue's and its account's); true if one was
    /// in place.
    pub async fn unthrottle(&self) -> Result<bool> {
        let queue = self.rdb.unthrottle().await?;
        let account = match &self.account {
            Some(a) => a.unthrottle().await?,
            None => false,
        };
        Ok(queue || account)
    }

    /// Lets workers claim again: lifts the queue's pause (an operator's, the circuit
    /// breaker's or the drain guard's) and its Okra account's budget hold for the rest of the
    /// UTC day.
    pub async fn resume(&self) -> Result<()> {
        self.rdb.set_paused(false).await?;
        if let Some(a) = &self.account {
            a.lift_hold().await?;
        }
        Ok(())
    }

    /// Stops every worker from claiming for `d` (upstream asked the fleet to back off): every
    /// queue on the account, when the queue has one.
    pub async fn throttle(&self, d: Duration) -> Result<Duration> {
        match &self.account {
            Some(a) => a.throttle(d).await,
            None => self.rdb.throttle(d).await,
        }
    }

    /// Takes one extra slot of the rate limit (the account's, when the queue has one) for a
    /// second upstream call inside a job; `Some(wait)` when none is free.
    pub async fn permit(&self) -> Result<Option<Duration>> {
        match &self.account {
            Some(a) => {
                let t = a.take(1).await?;
                Ok(match (t.granted, t.held) {
                    // Held by the daily budget: ask again later (the claims are held too).
                    (0, Some(_)) => Some(Duration::from_secs(1)),
                    (0, None) => Some(t.wait),
                    _ => None,
                })
            }
            None => self.rdb.permit(self.cfg.rate_limit).await,
        }
    }

    /// Gives back rate-limit slots that were not spent on a call (an invalid job, a job given
    /// back unstarted).
    pub async fn give_back(&self, slots: &[String]) -> Result<()> {
        match &self.account {
            Some(a) => a.give_back(slots).await,
            None => Ok(()),
        }
    }
}
