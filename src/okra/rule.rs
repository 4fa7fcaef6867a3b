//! What a class of failure does, and one row of a classification: the vocabulary every
//! provider's table is written in. Apart from `classify` so that an answer's reader (the
//! client, a provider's table) can name a rule without importing the classifier.

/// What a class of failure does to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Retry with exponential backoff.
    Retry,
    /// Dead letter now.
    Terminal,
    /// Retry after the rate-limit wait without spending an attempt; the fleet stops calling.
    RateLimited,
    /// Retry after Okra's "short delay"; a paid verify looks for the profile first.
    OkraTimeout,
    /// The circuit breaker: the failure is the account's, not the job's (every job would fail
    /// the same way). The queue pauses with a reason; the job goes back without spending an
    /// attempt.
    Pause,
}

impl Action {
    /// Every action, as `[classification]` overrides name them.
    pub const NAMES: [&'static str; 5] =
        ["retry", "terminal", "rate_limited", "okra_timeout", "pause"];

    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "retry" => Self::Retry,
            "terminal" => Self::Terminal,
            "rate_limited" => Self::RateLimited,
            "okra_timeout" => Self::OkraTimeout,
            "pause" => Self::Pause,
            other => {
                return Err(format!(
                    "unknown action `{other}` (expected {})",
                    Self::NAMES.join(", ")
                ));
            }
        })
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Class recorded with the attempt.
    pub class: String,
    /// What happens.
    pub action: Action,
}
