//! The spans of what an ended attempt leads to: `retry {queue}` (the retry is scheduled: the
//! failure's class, the attempt, the delay chosen and when the job runs next) and
//! `dead_letter {queue}` (the class and why it is dead). They are children of the attempt's
//! `process` span when the handler gave it ([`crate::JobContext::trace_under`]); otherwise
//! (a lease taken back by the reaper, a handler without one) roots linked to the job's stored
//! trace context, and no span at all for a job without one. They say what the policy decided:
//! the write is still fenced by the claim's lease, and a lost lease refuses it. Plain `tracing`
//! spans, so the library records them with or without the `otel` feature; only the binaries'
//! exporter sends them anywhere. Classes and reasons are codes, never a message or an id of a
//! person.

use tracing::Span;

use super::TARGET;
use crate::job::TraceContext;

/// What was decided, in the span's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided<'a> {
    /// Scheduled to run again after `delay_ms`, at `next_run_ms` (Unix ms, Redis's clock).
    Retry {
        class: &'a str,
        delay_ms: u64,
        next_run_ms: u64,
        /// The attempt was given back (a rate limit, not the job's fault).
        refunded: bool,
    },
    /// Moved to the dead letters; `reason` is the policy's (`terminal`, `attempts_exhausted`,
    /// `retry_window_exceeded`).
    Dead { class: &'a str, reason: &'a str },
}

/// Where a decision's span goes: under the attempt's span, or linked to the job's trace.
#[derive(Debug, Clone, Copy)]
pub struct Under<'a> {
    /// The attempt's `process` span, when the handler gave one.
    pub attempt_span: Option<&'a Span>,
    /// The trace context stored with the job.
    pub stored: Option<&'a TraceContext>,
}

/// The span of `decided` for attempt `attempt` of job `job_id` in `queue`; ended when dropped.
pub fn span(
    queue: &str,
    job_id: &str,
    attempt: u32,
    decided: Decided<'_>,
    under: Under<'_>,
) -> Span {
    let parent = under.attempt_span.filter(|s| !s.is_disabled());
    if parent.is_none() && under.stored.is_none() {
        return Span::none();
    }
    let span = match decided {
        Decided::Retry {
            class,
            delay_ms,
            next_run_ms,
            refunded,
        } => tracing::info_span!(target: TARGET, parent: parent.and_then(Span::id), "retry",
            otel.name = format!("retry {queue}"), otel.kind = "internal",
            messaging.destination.name = queue, messaging.message.id = job_id,
            okra.decision = "retry", okra.class = class, okra.attempt = attempt,
            okra.retry.delay_ms = delay_ms, okra.retry.next_run_ms = next_run_ms,
            okra.retry.refunded = refunded),
        Decided::Dead { class, reason } => {
            tracing::info_span!(target: TARGET, parent: parent.and_then(Span::id), "dead_letter",
            otel.name = format!("dead_letter {queue}"), otel.kind = "internal",
            otel.status_code = "ERROR",
            messaging.destination.name = queue, messaging.message.id = job_id,
            okra.decision = "dead", okra.class = class, okra.attempt = attempt,
            okra.dead.reason = reason)
        }
    };
    #[cfg(feature = "otel")]
    if parent.is_none()
        && let Some(t) = under.stored
    {
        super::spans::link(&span, t);
    }
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_without_a_trace_or_an_attempt_span_gets_no_span() {
        let dead = Decided::Dead {
            class: "not_found",
            reason: "terminal",
        };
        let none = Under {
            attempt_span: None,
            stored: None,
        };
        assert!(span("q", "j", 1, dead, none).is_none());
    }
}
