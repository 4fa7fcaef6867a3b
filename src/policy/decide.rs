//! From an [`Outcome`] to a [`Decision`], purely: the attempt budget, exponential backoff with
//! full jitter, an explicit delay as a floor, and the retry window that also bounds retries
//! which spend no attempt. No I/O; `record.rs` turns the decision into its write.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Outcome;
use crate::job::Failure;

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
    /// Completed with this result (JSON text).
    Complete(String),
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

/// Retry budget and backoff shape: a settings file's `[retry]` section deserializes into it
/// (the section also holds the Okra delays, so unknown keys are checked by the settings
/// loader, not here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
    /// A fixed schedule instead of the budget, backoff and window (webhook deliveries,
    /// `[webhooks] retry_schedule`): the waits before each retry after the first try, with
    /// at most 10 % jitter; the job dies when it is spent. Empty = the budget applies.
    #[serde(skip)]
    pub schedule: Vec<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_delay: Duration::from_secs(5),
            factor: 2.0,
            max_delay: Duration::from_secs(3600),
            retry_window: Duration::from_secs(24 * 3600),
            schedule: Vec::new(),
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
        if self.max_delay > crate::job::MAX_DELAY {
            return Err(format!(
                "retry.max_delay must be at most {} days (the longest delay a job may have)",
                crate::job::MAX_DELAY.as_secs() / 86_400
            ));
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
                if !self.schedule.is_empty() {
                    return self.by_schedule(failure, delay, b);
                }
                if spend_attempt && b.attempts >= b.max_attempts {
                    return Decision::Dead(dead(failure, DeadReason::AttemptsExhausted, b));
                }
                // An explicit wait (an upstream's Retry-After) is capped like every delay:
                // the retry window below then decides whether the job may wait that long.
                let floor = delay.unwrap_or_default().min(crate::job::MAX_DELAY);
                let wait = if spend_attempt {
                    floor.max(self.backoff(b.attempts))
                } else {
                    floor
                };
                let window_end = b.window_start + self.retry_window.as_millis() as u64;
                if b.now.saturating_add(wait.as_millis() as u64) > window_end {
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

impl RetryPolicy {
    /// A retry on the fixed schedule: its wait for this attempt (jittered up to 10 %, an
    /// explicit delay as a floor), or dead once the schedule is spent.
    fn by_schedule(&self, failure: Failure, delay: Option<Duration>, b: Budget) -> Decision {
        let Some(wait) = self.schedule.get(b.attempts.saturating_sub(1) as usize) else {
            return Decision::Dead(dead(failure, DeadReason::AttemptsExhausted, b));
        };
        let wait = wait.mul_f64(0.9 + fastrand::f64() * 0.2);
        Decision::Retry {
            delay: wait
                .max(delay.unwrap_or_default())
                .min(crate::job::MAX_DELAY),
            refund: false,
            failure: Failure {
                attempt: b.attempts,
                ..failure
            },
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
    use crate::policy::JobError;

    fn budget(attempts: u32, max: u32) -> Budget {
        Budget {
            attempts,
            max_attempts: max,
            window_start: 1_000_000,
            now: 1_000_000,
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
    fn a_far_retry_after_is_capped_at_the_longest_delay() {
        let p = RetryPolicy {
            retry_window: Duration::from_secs(2 * 365 * 86_400),
            ..RetryPolicy::default()
        };
        // An upstream's Retry-After of ~585 million years (u64::MAX ms).
        let e = JobError::retryable("rate_limited", "429")
            .with_delay(Duration::from_millis(u64::MAX))
            .without_attempt();
        match p.decide(Outcome::from_job_error(&e), budget(1, 10)) {
            Decision::Retry { delay, .. } => assert_eq!(delay, crate::job::MAX_DELAY),
            other => panic!("{other:?}"),
        }
        let too_long = RetryPolicy {
            max_delay: crate::job::MAX_DELAY * 2,
            ..RetryPolicy::default()
        };
        assert!(too_long.validate().unwrap_err().contains("365 days"));
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
    fn a_schedule_bounds_retries_instead_of_the_budget() {
        let p = RetryPolicy {
            schedule: vec![Duration::from_secs(5), Duration::from_secs(300)],
            ..RetryPolicy::default()
        };
        let out = Outcome::from_job_error(&JobError::retryable("webhook_failed", "500"));
        for _ in 0..50 {
            // Attempt 1 failed: the first wait, jittered at most 10 %, whatever the budget.
            match p.decide(out.clone(), budget(1, 1)) {
                Decision::Retry { delay, .. } => {
                    assert!(
                        delay >= Duration::from_millis(4500)
                            && delay <= Duration::from_millis(5500)
                    )
                }
                other => panic!("{other:?}"),
            }
        }
        // Far past the 24 h window is fine on a schedule; its end is not.
        let late = Budget {
            now: 10_000_000_000,
            ..budget(2, 1)
        };
        assert!(matches!(
            p.decide(out.clone(), late),
            Decision::Retry { .. }
        ));
        match p.decide(out, budget(3, 100)) {
            Decision::Dead(f) => assert_eq!(f.reason.as_deref(), Some("attempts_exhausted")),
            other => panic!("{other:?}"),
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
