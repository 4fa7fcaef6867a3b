//! The last step of the retry lifecycle: a decision becomes the write that records it, as one
//! `outcome.lua` entry fenced by the claim's [`Lease`]. Metrics and logs come later, from what
//! the script says it applied (see the acker), never from what was merely asked for.

use std::time::Duration;

use super::Decision;
use crate::dlq::index_dims;
use crate::job::{Failure, HistoryEntry, Lease, truncate};
use crate::rdb::{Action, OutcomeEntry};

const MESSAGE_MAX: usize = 2048;
const HISTORY_MESSAGE_MAX: usize = 512;

/// Who is recording an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// The worker that ran the attempt (fenced by its token).
    Worker,
    /// A reaper taking back an expired lease (fenced by the token and the deadline).
    Reaper,
}

/// The write for one decision about the attempt `attempt` of a `kind` job.
pub(crate) fn entry(
    lease: Lease,
    kind: &str,
    attempt: u32,
    decision: Decision,
    ran: Option<Duration>,
    node: &str,
    writer: Writer,
) -> OutcomeEntry {
    let mut history = HistoryEntry {
        attempt,
        worker: Some(node.to_string()),
        duration_ms: ran.map(|d| d.as_millis() as u64),
        ..HistoryEntry::default()
    };
    let mut entry = OutcomeEntry {
        lease,
        action: Action::Complete,
        delay_ms: 0,
        refund: false,
        history: HistoryEntry::default(),
        data: String::new(),
        dims: Vec::new(),
        fence: writer == Writer::Reaper,
        kind: kind.to_string(),
        reason: None,
    };
    let failure = match decision {
        Decision::Complete(result) => {
            history.outcome = "success".into();
            entry.data = result.to_string();
            None
        }
        Decision::Retry {
            delay,
            refund,
            failure,
        } => {
            history.outcome = "retry".into();
            history.retry_in_ms = Some(delay.as_millis() as u64);
            entry.action = Action::Retry;
            entry.delay_ms = delay.as_millis() as u64;
            entry.refund = refund;
            Some(failure)
        }
        Decision::Dead(failure) => {
            history.outcome = "dead".into();
            entry.action = Action::Dead;
            entry.dims = index_dims(kind, &failure);
            Some(failure)
        }
    };
    if let Some(mut f) = failure {
        f.attempt = attempt;
        entry.reason = f.reason.clone();
        f.message = truncate(&f.message, MESSAGE_MAX).to_string();
        history.class = Some(f.class.clone());
        history.message = Some(truncate(&f.message, HISTORY_MESSAGE_MAX).to_string());
        history.http_status = f.http_status;
        history.error_type = f.error_type.clone();
        entry.data = serde_json::to_string(&f).unwrap_or_else(|_| "{}".into());
    }
    entry.history = history;
    entry
}

/// Gives a claimed job back to the head of the ready list with its attempt refunded
/// (unstarted at shutdown, or unfinished when the grace period ended).
pub(crate) fn release(lease: Lease, kind: &str, node: &str) -> OutcomeEntry {
    OutcomeEntry {
        lease,
        action: Action::Release,
        delay_ms: 0,
        refund: true,
        history: HistoryEntry {
            outcome: "released".into(),
            class: Some("shutdown".into()),
            worker: Some(node.to_string()),
            ..HistoryEntry::default()
        },
        data: String::new(),
        dims: Vec::new(),
        fence: false,
        kind: kind.to_string(),
        reason: None,
    }
}

/// Failure, as recorded on a dead letter, of a job the worker could not even decode.
pub(crate) fn invalid_payload(message: String, body: &str) -> Failure {
    Failure {
        class: "invalid_payload".into(),
        reason: Some("terminal".into()),
        message,
        body: Some(truncate(body, crate::job::BODY_EXCERPT_MAX).to_string()),
        ..Failure::default()
    }
}
