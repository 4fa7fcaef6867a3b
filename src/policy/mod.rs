//! The retry policy, in one place: how a handler's result becomes an outcome, and how an outcome
//! becomes a decision (complete, retry at a time, or dead).
//!
//! Handlers say what they know by returning errors: our [`JobError`] (class, retry or terminal,
//! explicit delay, whether the attempt counts, upstream details), or apalis's `AbortError` /
//! `RetryAfterError` / `DeferredError`. [`classify`] walks the whole `source()` chain, so a marker
//! wrapped inside an application error still counts. [`RetryPolicy::decide`] then applies the
//! budget: exponential backoff with full jitter, an explicit delay as a floor, the attempt limit,
//! and the overall retry window that also bounds retries which spend no attempt.

pub(crate) mod record;

use std::error::Error as StdError;
use std::time::Duration;

use apalis_core::error::{AbortError, DeferredError, RetryAfterError};
use serde::{Deserialize, Serialize};

use crate::job::{BODY_EXCERPT_MAX, Failure, truncate};

/// What a failed attempt means for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorAction {
    /// Worth another attempt.
    Retry {
        /// Wait at least this long (e.g. Retry-After, 60 s after a 429).
        delay: Option<Duration>,
        /// False for failures that are not the job's fault (rate limits): the attempt is given
        /// back, and only the retry window bounds them.
        spend_attempt: bool,
    },
    /// Can never succeed; goes to dead letters now.
    Terminal,
}

/// A classified job failure. Return it (or wrap it) from a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// Retry or terminal.
    pub action: ErrorAction,
    /// Class, message and upstream details recorded with the attempt.
    pub failure: Failure,
}

impl JobError {
    /// A failure worth retrying with backoff.
    pub fn retryable(class: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            ErrorAction::Retry {
                delay: None,
                spend_attempt: true,
            },
            class,
            message,
        )
    }

    /// A failure that can never succeed.
    pub fn terminal(class: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorAction::Terminal, class, message)
    }

    fn new(action: ErrorAction, class: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            action,
            failure: Failure {
                class: class.into(),
                message: message.into(),
                ..Failure::default()
            },
        }
    }

    /// Wait at least `delay` before the next attempt.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        if let ErrorAction::Retry { delay: d, .. } = &mut self.action {
            *d = Some(delay);
        }
        self
    }

    /// Give the attempt back (rate limits); the retry window still bounds the job.
    pub fn without_attempt(mut self) -> Self {
        if let ErrorAction::Retry { spend_attempt, .. } = &mut self.action {
            *spend_attempt = false;
        }
        self
    }

    /// Records the upstream HTTP status.
    pub fn http_status(mut self, status: u16) -> Self {
        self.failure.http_status = Some(status);
        self
    }

    /// Records the upstream error type, code and method.
    pub fn upstream(
        mut self,
        error_type: Option<String>,
        code: Option<String>,
        method: Option<String>,
    ) -> Self {
        self.failure.error_type = error_type;
        self.failure.code = code;
        self.failure.method = method;
        self
    }

    /// Records the start of the upstream body (cut to 4 KiB).
    pub fn body(mut self, body: &str) -> Self {
        if !body.is_empty() {
            self.failure.body = Some(truncate(body, BODY_EXCERPT_MAX).to_string());
        }
        self
    }

    /// The failure class.
    pub fn class(&self) -> &str {
        &self.failure.class
    }

    /// True for terminal failures.
    pub fn is_terminal(&self) -> bool {
        self.action == ErrorAction::Terminal
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.failure.message)
    }
}

impl StdError for JobError {}

/// A finished attempt, before the budget is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler succeeded with this result.
    Success(serde_json::Value),
    /// It failed and may be retried.
    Retry {
        /// What went wrong.
        failure: Failure,
        /// Explicit minimum delay.
        delay: Option<Duration>,
        /// Whether the attempt counts against the budget.
        spend_attempt: bool,
    },
    /// It failed for good.
    Terminal(Failure),
}

impl Outcome {
    /// The outcome a job error asks for.
    pub fn from_job_error(e: &JobError) -> Self {
        match e.action {
            ErrorAction::Terminal => Outcome::Terminal(e.failure.clone()),
            ErrorAction::Retry {
                delay,
                spend_attempt,
            } => Outcome::Retry {
                failure: e.failure.clone(),
                delay,
                spend_attempt,
            },
        }
    }
}

/// Turns a handler error into an outcome by walking its `source()` chain.
///
/// The outermost marker decides: `AbortError` → terminal (`aborted`), `RetryAfterError` → retry
/// with its delay as a floor (`retry_after`), `DeferredError` → retry now without spending an
/// attempt (`deferred`), [`JobError`] → its own action. Upstream details come from the first
/// `JobError` anywhere in the chain. Anything else is a plain retryable `error`.
pub fn classify(err: &(dyn StdError + 'static)) -> Outcome {
    let message = chain_message(err);
    let mut job_error: Option<&JobError> = None;
    let mut marker: Option<Outcome> = None;
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let as_job = e.downcast_ref::<JobError>();
        if job_error.is_none() {
            job_error = as_job;
        }
        if marker.is_none() {
            let plain = |class: &str| Failure {
                class: class.into(),
                message: message.clone(),
                ..Failure::default()
            };
            marker = if e.is::<AbortError>() {
                Some(Outcome::Terminal(plain("aborted")))
            } else if let Some(r) = e.downcast_ref::<RetryAfterError>() {
                Some(Outcome::Retry {
                    failure: plain("retry_after"),
                    delay: Some(r.get_duration()),
                    spend_attempt: true,
                })
            } else if e.is::<DeferredError>() {
                Some(Outcome::Retry {
                    failure: plain("deferred"),
                    delay: None,
                    spend_attempt: false,
                })
            } else {
                as_job.map(Outcome::from_job_error)
            };
        }
        cur = e.source();
    }
    let mut outcome = marker.unwrap_or_else(|| Outcome::Retry {
        failure: Failure {
            class: "error".into(),
            message: message.clone(),
            ..Failure::default()
        },
        delay: None,
        spend_attempt: true,
    });
    // The marker decides the action; our own error, wherever it sits, has the better details.
    if let (Some(j), Outcome::Retry { failure, .. } | Outcome::Terminal(failure)) =
        (job_error, &mut outcome)
    {
        *failure = Failure {
            message,
            ..j.failure.clone()
        };
    }
    outcome
}

/// `outer: inner: innermost`, skipping links whose text the outer one already contains.
pub(crate) fn chain_message(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// Why a job became a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadReason {
    /// The failure can never succeed.
    Terminal,
    /// The attempt budget is spent.
    AttemptsExhausted,
    /// The next retry would fall outside the retry window.
    RetryWindowExceeded,
}

impl DeadReason {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Terminal => "terminal",
            Self::AttemptsExhausted => "attempts_exhausted",
            Self::RetryWindowExceeded => "retry_window_exceeded",
        }
    }
}

/// What happens to the job after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Completed with this result.
    Complete(serde_json::Value),
    /// Scheduled again after `delay`; `refund` gives the attempt back.
    Retry {
        /// Delay before the next attempt.
        delay: Duration,
        /// Give the attempt back.
        refund: bool,
        /// What failed.
        failure: Failure,
    },
    /// Moved to dead letters.
    Dead(Failure),
}

/// Where a job stands when its attempt ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Attempts spent, including the one that just ended.
    pub attempts: u32,
    /// The job's attempt budget.
    pub max_attempts: u32,
    /// Start of the retry window (ms).
    pub window_start: u64,
    /// Now (ms).
    pub now: u64,
}

/// Retry budget and backoff shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Default attempt budget for jobs enqueued without one.
    pub max_attempts: u32,
    /// Backoff of the first retry (before jitter).
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// Backoff growth per attempt.
    pub factor: f64,
    /// Longest backoff (before jitter).
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// No retry is scheduled later than this after the job was enqueued (or requeued); the job
    /// dies instead. Also bounds retries that spend no attempt.
    #[serde(with = "humantime_serde")]
    pub retry_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay: Duration::from_secs(5),
            factor: 2.0,
            max_delay: Duration::from_secs(3600),
            retry_window: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// Checks the values make sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("retry.max_attempts must be at least 1".into());
        }
        if !(self.factor.is_finite() && self.factor >= 1.0) {
            return Err(format!("retry.factor must be >= 1, got {}", self.factor));
        }
        if self.max_delay < self.base_delay {
            return Err("retry.max_delay must not be shorter than retry.base_delay".into());
        }
        if self.retry_window.is_zero() {
            return Err("retry.retry_window must be positive".into());
        }
        Ok(())
    }

    /// The backoff ceiling before attempt `attempts + 1`: `base · factor^(attempts-1)`, capped.
    pub fn backoff_ceiling(&self, attempts: u32) -> Duration {
        let exp = self.factor.powi(attempts.saturating_sub(1).min(64) as i32);
        let ms = (self.base_delay.as_millis() as f64 * exp).min(self.max_delay.as_millis() as f64);
        Duration::from_millis(ms as u64)
    }

    /// Full jitter: uniform in `[0, ceiling]`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let ceiling = self.backoff_ceiling(attempts).as_millis() as u64;
        Duration::from_millis(fastrand::u64(0..=ceiling))
    }

    /// Applies the budget to an outcome.
    pub fn decide(&self, outcome: Outcome, b: Budget) -> Decision {
        match outcome {
            Outcome::Success(v) => Decision::Complete(v),
            Outcome::Terminal(f) => Decision::Dead(dead(f, DeadReason::Terminal, b)),
            Outcome::Retry {
                failure,
                delay,
                spend_attempt,
            } => {
                if spend_attempt && b.attempts >= b.max_attempts {
                    return Decision::Dead(dead(failure, DeadReason::AttemptsExhausted, b));
                }
                let floor = delay.unwrap_or_default();
                let wait = if spend_attempt {
                    floor.max(self.backoff(b.attempts))
                } else {
                    floor
                };
                let window_end = b.window_start + self.retry_window.as_millis() as u64;
                if b.now + wait.as_millis() as u64 > window_end {
                    return Decision::Dead(dead(failure, DeadReason::RetryWindowExceeded, b));
                }
                Decision::Retry {
                    delay: wait,
                    refund: !spend_attempt,
                    failure: Failure {
                        attempt: b.attempts,
                        ..failure
                    },
                }
            }
        }
    }
}

fn dead(f: Failure, reason: DeadReason, b: Budget) -> Failure {
    Failure {
        reason: Some(reason.as_str().into()),
        attempt: b.attempts,
        ..f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(attempts: u32, max: u32) -> Budget {
        Budget {
            attempts,
            max_attempts: max,
            window_start: 1_000_000,
            now: 1_000_000,
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("app failed")]
    struct AppError(#[source] Box<dyn StdError + Send + Sync>);

    #[test]
    fn plain_errors_retry_and_spend() {
        let e: Box<dyn StdError + Send + Sync> = "boom".into();
        match classify(e.as_ref()) {
            Outcome::Retry {
                failure,
                spend_attempt,
                delay,
            } => {
                assert_eq!(failure.class, "error");
                assert_eq!(failure.message, "boom");
                assert!(spend_attempt);
                assert_eq!(delay, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn abort_is_terminal_even_when_wrapped() {
        let inner = AbortError::new("bad input");
        let e = AppError(Box::new(inner));
        assert!(matches!(classify(&e), Outcome::Terminal(f) if f.class == "aborted"));
    }

    #[test]
    fn retry_after_delay_is_read_through_wrappers() {
        let e = AppError(Box::new(RetryAfterError::new(
            "http 429",
            Duration::from_secs(60),
        )));
        match classify(&e) {
            Outcome::Retry { delay, .. } => assert_eq!(delay, Some(Duration::from_secs(60))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn job_error_details_survive_wrapping() {
        let je = JobError::terminal("flagged_user", "customer flagged")
            .http_status(200)
            .upstream(Some("FLAGGED_USER".into()), None, None);
        let e = AppError(Box::new(je));
        match classify(&e) {
            Outcome::Terminal(f) => {
                assert_eq!(f.class, "flagged_user");
                assert_eq!(f.http_status, Some(200));
                assert_eq!(f.error_type.as_deref(), Some("FLAGGED_USER"));
                assert!(f.message.contains("customer flagged"));
            }
            other => panic!("{other:?}"),
        }
        // An abort around a retryable job error still aborts, with the job error's details.
        let e = AbortError::new(JobError::retryable("server_error", "502").http_status(502));
        match classify(&e) {
            Outcome::Terminal(f) => {
                assert_eq!(f.class, "server_error");
                assert_eq!(f.http_status, Some(502));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn attempts_exhausted_goes_dead() {
        let p = RetryPolicy::default();
        let out = Outcome::from_job_error(&JobError::retryable("server_error", "500"));
        assert!(matches!(
            p.decide(out.clone(), budget(3, 10)),
            Decision::Retry { refund: false, .. }
        ));
        match p.decide(out, budget(10, 10)) {
            Decision::Dead(f) => assert_eq!(f.reason.as_deref(), Some("attempts_exhausted")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn explicit_delay_is_a_floor_and_rate_limits_refund() {
        let p = RetryPolicy::default();
        let e = JobError::retryable("rate_limited", "429")
            .with_delay(Duration::from_secs(60))
            .without_attempt();
        // Even with the budget spent, a retry that spends nothing is allowed.
        match p.decide(Outcome::from_job_error(&e), budget(10, 10)) {
            Decision::Retry { delay, refund, .. } => {
                assert_eq!(delay, Duration::from_secs(60));
                assert!(refund);
            }
            other => panic!("{other:?}"),
        }
        let e = JobError::retryable("okra_timeout", "503").with_delay(Duration::from_secs(2));
        for _ in 0..50 {
            match p.decide(Outcome::from_job_error(&e), budget(1, 10)) {
                Decision::Retry { delay, .. } => assert!(delay >= Duration::from_secs(2)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_window_bounds_every_retry() {
        let p = RetryPolicy {
            retry_window: Duration::from_secs(30),
            ..RetryPolicy::default()
        };
        let e = JobError::retryable("rate_limited", "429")
            .with_delay(Duration::from_secs(60))
            .without_attempt();
        match p.decide(Outcome::from_job_error(&e), budget(1, 10)) {
            Decision::Dead(f) => assert_eq!(f.reason.as_deref(), Some("retry_window_exceeded")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff_ceiling(1), Duration::from_secs(1));
        assert_eq!(p.backoff_ceiling(3), Duration::from_secs(4));
        assert_eq!(p.backoff_ceiling(20), Duration::from_secs(10));
        for _ in 0..100 {
            assert!(p.backoff(3) <= Duration::from_secs(4));
        }
    }

    #[test]
    fn terminal_is_dead_at_once() {
        let p = RetryPolicy::default();
        let e = JobError::terminal("not_found", "404").http_status(404);
        match p.decide(Outcome::from_job_error(&e), budget(1, 10)) {
            Decision::Dead(f) => {
                assert_eq!(f.reason.as_deref(), Some("terminal"));
                assert_eq!(f.attempt, 1);
            }
            other => panic!("{other:?}"),
        }
    }
}
