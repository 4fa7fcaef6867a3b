//! Webhooks, [Standard Webhooks 1.0](https://www.standardwebhooks.com/): an app registers an
//! HTTPS endpoint for a queue's outcomes (`job.completed`, `job.dead`, `job.retrying`) and gets
//! each one as a signed POST.
//!
//! How an outcome becomes a request, with nothing lost on the way (at least once):
//!
//! 1. `outcome.lua` writes a reference (`c|id|ms`) into the queue's outbox in the same script
//!    that records the outcome, but only while an enabled endpoint takes that event
//!    (`hooks_on`): no window in which an outcome is recorded and its webhook forgotten.
//! 2. [`Forwarder`] (in every `okra-worker` of the queue) moves references to a held list,
//!    enqueues one delivery job per endpoint on the companion queue `<queue>.webhooks`
//!    ([`companion`]) under an idempotency key made of the reference and the endpoint, then
//!    removes them. A forwarder that dies midway leaves them held; any forwarder's sweep takes
//!    them back later, and the idempotency key keeps the repeat from delivering twice.
//! 3. The delivery job ([`Delivery`], only a reference: job id, event, endpoint) runs on the
//!    same workers under the retry schedule ([`WebhookSettings::policy`]); [`Deliverer`] builds
//!    the body at send time from the stored (sealed) record, signs it, checks the address
//!    ([`guard`]) and posts it. A delivery is indexed under its job's person, so erasing the
//!    person erases pending deliveries too.

mod deliver;
mod endpoints;
mod event;
mod forward;
pub mod guard;
pub mod signing;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use deliver::{Delivered, Deliverer};
pub use endpoints::{Endpoint, NewEndpoint};
pub use event::body;
pub use forward::Forwarder;

use crate::policy::RetryPolicy;

/// The failure class of a delivery that failed for good (`okra-admin dlq` lists and requeues
/// it like any other).
pub const FAILED_CLASS: &str = "webhook_failed";

/// The delivery jobs' kind.
pub const DELIVERY_KIND: &str = "webhook";

/// The companion queue that delivers queue `queue`'s webhooks.
pub fn companion(queue: &str) -> String {
    format!("{queue}.webhooks")
}

/// An event an endpoint can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// The job completed; its result is in full events.
    #[serde(rename = "job.completed")]
    Completed,
    /// The job became a dead letter.
    #[serde(rename = "job.dead")]
    Dead,
    /// An attempt failed and the job will run again.
    #[serde(rename = "job.retrying")]
    Retrying,
}

impl EventType {
    /// Every event, in the order shown.
    pub const ALL: [EventType; 3] = [Self::Completed, Self::Dead, Self::Retrying];

    /// The name in events and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "job.completed",
            Self::Dead => "job.dead",
            Self::Retrying => "job.retrying",
        }
    }

    /// The letter `outcome.lua` writes.
    pub fn letter(self) -> char {
        match self {
            Self::Completed => 'c',
            Self::Dead => 'd',
            Self::Retrying => 'r',
        }
    }

    /// From its name.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == name)
            .ok_or_else(|| {
                format!("unknown event `{name}` (expected job.completed, job.dead or job.retrying)")
            })
    }

    fn from_letter(c: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|e| c.len() == 1 && c.starts_with(e.letter()))
    }
}

/// One outcome to deliver, as the outbox holds it: `c|id|ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The event.
    pub event: EventType,
    /// The job.
    pub job_id: String,
    /// When the outcome was recorded (Redis time, ms).
    pub at_ms: u64,
}

impl Reference {
    /// Reads `c|id|ms`.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.splitn(3, '|');
        let event = EventType::from_letter(it.next()?)?;
        let job_id = it.next()?.to_string();
        let at_ms = it.next()?.parse().ok()?;
        (!job_id.is_empty()).then_some(Self {
            event,
            job_id,
            at_ms,
        })
    }

    /// The `webhook-id`: the same on every retry of this event.
    pub fn webhook_id(&self) -> String {
        format!("evt_{}_{}{}", self.job_id, self.event.letter(), self.at_ms)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}|{}|{}", self.event.letter(), self.job_id, self.at_ms)
    }
}

/// A delivery job: only references (the body is built and signed when it is sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The outcome ([`Reference`] as text).
    pub event: String,
    /// The endpoint's id.
    pub endpoint: String,
}

impl crate::job::Job for Delivery {
    fn kind(&self) -> &str {
        DELIVERY_KIND
    }
}

/// `[webhooks]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The waits before each retry after the first, immediate try (jitter at most 10 %); the
    /// delivery is a dead letter of class `webhook_failed` when they are spent.
    #[serde(with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// Hosts (as written in the URL: `127.0.0.1`, `[::1]`, a name) that may be reached over
    /// plain `http` and at any address: a local test receiver. Empty in production.
    pub allow_insecure_hosts: Vec<String>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        let m = 60;
        let h = 3600;
        Self {
            retry_schedule: [
                5,
                5 * m,
                30 * m,
                2 * h,
                5 * h,
                10 * h,
                14 * h,
                20 * h,
                24 * h,
            ]
            .map(Duration::from_secs)
            .to_vec(),
            allow_insecure_hosts: Vec::new(),
        }
    }
}

impl WebhookSettings {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), String> {
        if self.retry_schedule.is_empty() || self.retry_schedule.len() > 50 {
            return Err("webhooks.retry_schedule needs 1 to 50 waits".into());
        }
        if self
            .retry_schedule
            .iter()
            .any(|d| *d > crate::job::MAX_DELAY)
        {
            return Err("webhooks.retry_schedule: a wait is longer than 365 days".into());
        }
        Ok(())
    }

    /// The delivery queue's retry policy: the schedule instead of `[retry]`'s budget.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.retry_schedule.len() as u32 + 1,
            schedule: self.retry_schedule.clone(),
            ..RetryPolicy::default()
        }
    }
}

/// A list of durations written like `"5s"`, `"2h"`.
mod durations {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Duration], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|d| humantime::format_duration(*d).to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| humantime::parse_duration(s).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_read_back() {
        let r = Reference::parse("d|01JABC|1733400000123").unwrap();
        assert_eq!(r.event, EventType::Dead);
        assert_eq!(r.to_string(), "d|01JABC|1733400000123");
        assert_eq!(r.webhook_id(), "evt_01JABC_d1733400000123");
        assert!(Reference::parse("x|a|1").is_none());
        assert!(Reference::parse("c||1").is_none());
    }
}
