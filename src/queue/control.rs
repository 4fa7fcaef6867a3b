//! Steering a queue: pause and resume, the throttle after an upstream 429, and the rate-limit
//! slots a job takes for its calls (the Okra account's, when the queue has one, whose daily
//! budget can hold every queue on it).

use std::time::Duration;

use serde_json::json;

use super::handle::Queue;
use crate::error::{QueueError, Result};

impl Queue {
    /// Stops every worker from claiming (running jobs finish). Audited.
    pub async fn pause(&self) -> Result<()> {
        let r = self.rdb.set_paused(true).await;
        self.audited("pause", "", r, |_| json!({})).await
    }

    /// Pauses with a reason unless already paused (the circuit breaker and the drain guard);
    /// true if this call paused it.
    pub async fn pause_because(&self, reason: &str) -> Result<bool> {
        self.rdb.pause_because(reason).await
    }

    /// Lifts a rate-limit throttle at once (the queue's and its account's); true if one was
    /// in place. Audited.
    pub async fn unthrottle(&self) -> Result<bool> {
        let r = async {
            let queue = self.rdb.unthrottle().await?;
            let account = match &self.account {
                Some(a) => a.unthrottle().await?,
                None => false,
            };
            Ok(queue || account)
        }
        .await;
        self.audited("unthrottle", "", r, |l| json!({ "lifted": l }))
            .await
    }

    /// Sets the calls per minute every worker on the queue's Okra account shares. Audited.
    pub async fn set_rate_limit(&self, per_minute: u32) -> Result<()> {
        let r = match &self.account {
            Some(a) => a.set_limit(per_minute).await,
            None => Err(QueueError::Config(format!(
                "queue {} has no Okra account configured",
                self.name()
            ))),
        };
        self.audited("rate-limit", "", r, |_| json!({ "per_minute": per_minute }))
            .await
    }

    /// Lets workers claim again: lifts the queue's pause (an operator's, the circuit
    /// breaker's or the drain guard's) and its Okra account's budget hold for the rest of the
    /// UTC day.
    /// Audited.
    pub async fn resume(&self) -> Result<()> {
        let r = async {
            self.rdb.set_paused(false).await?;
            if let Some(a) = &self.account {
                a.lift_hold().await?;
            }
            Ok(())
        }
        .await;
        self.audited("resume", "", r, |_| json!({})).await
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
    /// second upstream call inside a job: [`Permit::Granted`] with the slot's id (to give it
    /// back if the call is not made), or [`Permit::Wait`] when none is free.
    pub async fn permit(&self) -> Result<Permit> {
        match &self.account {
            Some(a) => {
                let t = a.take(1).await?;
                Ok(match (t.granted, t.held) {
                    // Held by the daily budget: ask again later (the claims are held too).
                    (0, Some(_)) => Permit::Wait(Duration::from_secs(1)),
                    (0, None) => Permit::Wait(t.wait),
                    _ => Permit::Granted(t.slots.into_iter().next()),
                })
            }
            None => Ok(match self.rdb.permit(self.cfg.rate_limit).await? {
                Some(wait) => Permit::Wait(wait),
                None => Permit::Granted(None),
            }),
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

/// What [`Queue::permit`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    /// A slot: its id when the account has a limit (none to give back otherwise).
    Granted(Option<String>),
    /// None is free for this long.
    Wait(Duration),
}
