//! From a handler's result to an [`Outcome`]: our [`JobError`] (class, retry or terminal,
//! explicit delay, whether the attempt counts, upstream details), or apalis's `AbortError` /
//! `RetryAfterError` / `DeferredError`, found anywhere in the error's `source()` chain.

use std::error::Error as StdError;
use std::time::Duration;

use apalis_core::error::{AbortError, DeferredError, RetryAfterError};

use crate::job::{Failure, excerpt};

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

    /// Says the attempt may have taken effect upstream without its answer arriving (a paid
    /// call that timed out): the next attempt should look before acting again.
    pub fn uncertain(mut self) -> Self {
        self.failure.uncertain = true;
        self
    }

    /// Says the attempt may have taken effect upstream, by an action started at `at` (ms,
    /// Redis time) at the latest: see [`Failure::uncertain_at`].
    pub fn uncertain_since(mut self, at: u64) -> Self {
        self.failure.uncertain = true;
        self.failure.uncertain_at = Some(at);
        self
    }

    /// Records the upstream service the attempt called.
    pub fn provider(mut self, name: &str) -> Self {
        self.failure.provider = Some(name.to_string());
        self
    }

    /// Says the upstream service certainly did not take the call: the next attempt may go to
    /// another one.
    pub fn unavailable(mut self) -> Self {
        self.failure.unavailable = true;
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
            self.failure.body = Some(excerpt(body));
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
    /// The handler succeeded with this result, as JSON text (serialised once, where the
    /// handler's value is: no tree of it is built on the way to Redis).
    Success(String),
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
pub fn chain_message(err: &(dyn StdError + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
