//! Per-job options at enqueue, and the checks they pass before anything is written.

use std::time::{Duration, SystemTime};

use super::{TraceContext, check_delay, json_error_rule};

/// Per-job options at enqueue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueOptions {
    /// Run no earlier than this long from now.
    pub delay: Option<Duration>,
    /// Run no earlier than this time (wins over `delay`).
    pub run_at: Option<SystemTime>,
    /// Attempt budget. Unset: the fleet's `retry.max_attempts` at the time of each decision.
    pub max_attempts: Option<u32>,
    /// A second enqueue with the same key (within the idempotency TTL) enqueues nothing and
    /// returns the first job's id.
    pub idempotency_key: Option<String>,
    /// Ask for a fresh answer: never hand this job an answer stored for reuse (`okra-worker`
    /// then makes the paid call even within `okra.reuse_window`).
    pub fresh: bool,
    /// The W3C trace context to store with the job (e.g. an HTTP request's `traceparent`);
    /// unset, enqueue stores the current span's, if there is one.
    pub trace: Option<TraceContext>,
    /// The app's own reference (a JSON object's text, at most [`METADATA_MAX`] bytes), stored
    /// with the job (sealed like the payload on a sealed queue), echoed where the job is read
    /// back ([`JobRecord::metadata`](super::JobRecord::metadata)), never logged. Keep identifiers out of it.
    pub metadata: Option<String>,
}

/// Longest `metadata` an enqueue takes, in bytes of JSON text.
pub const METADATA_MAX: usize = 1024;

/// Checks `metadata`: a JSON object of at most [`METADATA_MAX`] bytes. Names the rule, never
/// the value.
pub fn check_metadata(text: &str) -> Result<(), String> {
    if text.len() > METADATA_MAX {
        return Err(format!(
            "metadata is longer than the maximum of {METADATA_MAX} bytes"
        ));
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(_)) => Ok(()),
        Ok(_) => Err("metadata must be a JSON object".into()),
        Err(e) => Err(format!("metadata is not JSON: {}", json_error_rule(&e))),
    }
}

impl EnqueueOptions {
    /// Checks the options: a delay or run-at time within [`MAX_DELAY`](super::MAX_DELAY), a W3C trace context,
    /// metadata as [`check_metadata`] wants it.
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.trace {
            TraceContext::parse(&t.traceparent, None)?;
        }
        check_delay(self.delay, self.run_at)?;
        self.metadata.as_deref().map_or(Ok(()), check_metadata)
    }

    /// Sets the trace context from `traceparent` and `tracestate` headers. An invalid
    /// `traceparent` is refused at enqueue (see [`TraceContext::parse`] to check it first).
    pub fn traceparent(mut self, traceparent: &str, tracestate: Option<&str>) -> Self {
        self.trace = Some(
            TraceContext::parse(traceparent, tracestate).unwrap_or(TraceContext {
                traceparent: traceparent.to_string(),
                tracestate: None,
            }),
        );
        self
    }

    /// Options with a delay.
    pub fn delay(delay: Duration) -> Self {
        Self {
            delay: Some(delay),
            ..Self::default()
        }
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the attempt budget.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Sets an absolute run time.
    pub fn run_at(mut self, at: SystemTime) -> Self {
        self.run_at = Some(at);
        self
    }

    /// Asks for a fresh answer (no reuse of a stored one).
    pub fn fresh(mut self) -> Self {
        self.fresh = true;
        self
    }

    /// Sets the app's metadata (a JSON object; see [`EnqueueOptions::metadata`]).
    pub fn metadata(mut self, value: &serde_json::Value) -> Self {
        self.metadata = Some(value.to_string());
        self
    }
}
