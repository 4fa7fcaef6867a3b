//! The Okra settings: the `[okra]` section, the Okra delays of `[retry]`, and the overrides
//! of the failure classification (`[classification]`). They deserialize here directly; the
//! binaries' settings (`crate::config`) compose them with the engine's.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rdb::AccountLimit;

/// How to call Okra (`[okra]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OkraSettings {
    /// API base URL (Okra's sandbox was `https://api.okra.ng/v2/sandbox`; `okra-sandbox` runs
    /// locally).
    pub base_url: String,
    /// Client timeout per request (above Okra's own 60 s, so its 503 arrives first).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Fleet-wide limit: Okra calls per minute across every worker process (0 = none).
    pub requests_per_minute: u32,
    /// Send `"testing": true` in every request body.
    pub testing: bool,
    /// Largest answer body read (bytes); a larger one is class `oversized_body` and its
    /// connection is dropped.
    pub max_body: usize,
    /// The Okra account (one secret key): every queue with the same account shares one rate
    /// limit and one 429 throttle.
    pub account: String,
    /// Pause the queue after this many consecutive `not_found` failures of different jobs with
    /// no success between them (a wrong base URL or path); 0 = off.
    pub drain_guard: u32,
    /// The free lookup that precedes a repeat of each paid kind (`[okra.lookup]`, kind →
    /// path, or `none`); a kind not listed keeps its built-in lookup (its [`super::Kind::lookup`]).
    pub lookup: BTreeMap<String, String>,
    /// What a kind without a free lookup does after an attempt whose charge is uncertain:
    /// `hold` (a dead letter of class `unresolved_charge`: an operator decides) or `verify`
    /// (pay again).
    pub without_lookup: WithoutLookup,
    /// How long Okra may still be finishing a call whose answer never reached us (its
    /// documents: a timed-out verify "eventually finishes successfully"). A free lookup that
    /// finds no identity counts as a definite absence (so paying is safe) only once this long
    /// has passed since the uncertain call started; until then the job waits for it.
    #[serde(with = "humantime_serde")]
    pub answer_deadline: Duration,
    /// A profile verified within this long is reused for a later job of the same kind and
    /// identifier, on any queue of the account, without calling Okra (`0s` = off; needs
    /// `queue.index_key`: the reuse store is keyed by the identity's keyed hash).
    #[serde(with = "humantime_serde")]
    pub reuse_window: Duration,
    /// Paid calls per UTC day for the account, all workers together (0 = no budget). When it
    /// is reached every queue of the account pauses until the next UTC day or `okra-admin
    /// queue resume`.
    pub daily_budget: u32,
}

/// What a kind without a free lookup does after an uncertain attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithoutLookup {
    /// Never pay twice: the job becomes a dead letter of class `unresolved_charge`.
    #[default]
    Hold,
    /// Pay again (a second charge is acceptable for this account).
    Verify,
}

impl Default for OkraSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.okra.ng/v2".into(),
            timeout: Duration::from_secs(90),
            requests_per_minute: 60,
            testing: false,
            max_body: 1024 * 1024,
            account: "default".into(),
            drain_guard: 20,
            lookup: super::KINDS
                .iter()
                .map(|k| {
                    (
                        k.name.to_string(),
                        k.lookup.map_or("none", |l| l.0).to_string(),
                    )
                })
                .collect(),
            without_lookup: WithoutLookup::Hold,
            answer_deadline: Duration::from_secs(120),
            reuse_window: Duration::ZERO,
            daily_budget: 0,
        }
    }
}

/// One classification override: what a status or an Okra `type` means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Class recorded on the attempt and the dead letter.
    pub class: String,
    /// `retry`, `terminal`, `rate_limited`, `okra_timeout` or `pause` (the circuit breaker).
    pub action: String,
}

/// Overrides of the failure classification (`[classification]`), keyed by HTTP status (`"404"`, `"5xx"`, `"4xx"`) or by Okra
/// `type` (`FLAGGED_USER`), plus `transport` and `bad_body`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassificationSettings {
    /// By HTTP status.
    pub status: BTreeMap<String, RuleSettings>,
    /// By Okra error `type`.
    #[serde(rename = "type")]
    pub okra_type: BTreeMap<String, RuleSettings>,
    /// Connect, reset, TLS errors and client timeouts.
    pub transport: Option<RuleSettings>,
    /// A 2xx answer whose body cannot be read.
    pub bad_body: Option<RuleSettings>,
}

impl OkraSettings {
    /// The account's shared rate limit (a 61 s window: a one-second guard so calls counted
    /// upstream in a 60 s window never bunch up).
    pub fn account_limit(&self) -> AccountLimit {
        AccountLimit {
            name: self.account.clone(),
            limit: self.requests_per_minute,
            window: Duration::from_secs(61),
        }
    }

    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(format!(
                "okra.base_url must start with http:// or https://, got `{}`",
                self.base_url
            ));
        }
        if self.timeout.is_zero() {
            return Err("okra.timeout must be positive".into());
        }
        for (kind, path) in &self.lookup {
            if super::kinds::find(kind).is_none() {
                return Err(format!(
                    "okra.lookup.{kind}: unknown kind (expected one of {})",
                    super::kinds::names().collect::<Vec<_>>().join(", ")
                ));
            }
            if path != "none" && !path.starts_with('/') {
                return Err(format!(
                    "okra.lookup.{kind}: `{path}` is neither a path (starting with /) nor `none`"
                ));
            }
        }
        Ok(())
    }

    /// The free lookup before a repeat of `kind`, if it has one.
    pub fn lookup_for(&self, kind: &str) -> Option<&str> {
        let path = match self.lookup.get(kind) {
            Some(p) => p.as_str(),
            None => super::kinds::find(kind)?.lookup?.0,
        };
        (path != "none").then_some(path)
    }
}

/// The waits Okra's answers impose, from a settings file's `[retry]` section (beside the
/// engine's [`crate::RetryPolicy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Delays {
    /// Minimum wait after a 429 (a longer `Retry-After` wins, up to `max_rate_limit_delay`).
    #[serde(with = "humantime_serde")]
    pub rate_limit_delay: Duration,
    /// Minimum wait after Okra's 503 timeout ("a short delay", its docs say).
    #[serde(with = "humantime_serde")]
    pub okra_timeout_delay: Duration,
    /// Longest wait a 429's `Retry-After` can impose on the fleet.
    #[serde(with = "humantime_serde")]
    pub max_rate_limit_delay: Duration,
}

impl Default for Delays {
    fn default() -> Self {
        Self {
            rate_limit_delay: Duration::from_secs(60),
            okra_timeout_delay: Duration::from_secs(2),
            max_rate_limit_delay: Duration::from_secs(600),
        }
    }
}
