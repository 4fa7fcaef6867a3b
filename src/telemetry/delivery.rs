//! The client span of one webhook delivery (`POST webhook`), per the HTTP conventions:
//! `http.request.method`, `server.address` and `server.port`, the receiver's
//! `http.response.status_code`, plus the endpoint's id, the event and the delivery's attempt.
//! It is tied to the delivered job's stored trace context as the attempts are (a link, or with
//! `propagation = "child"` its child), and a root of its own for a job without one. Never the
//! URL: its path or query may hold a token, so only the host is recorded. A plain `tracing`
//! span (see [`super::decision`]).

use tracing::Span;
use tracing::field::Empty;

use super::{Propagation, TARGET};
use crate::job::TraceContext;

/// What a delivery span says about its request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The endpoint's id (`ep_...`).
    pub endpoint: &'a str,
    /// `job.completed`, `job.dead` or `job.retrying`.
    pub event: &'a str,
    /// The delivered job's id.
    pub job_id: &'a str,
    /// The delivery's attempt (1 = first).
    pub attempt: u32,
    /// The receiver's host (a name or an IP literal) and port.
    pub host: &'a str,
    pub port: Option<u16>,
}

/// The span of one delivery; record its answer with [`answered`].
pub fn span(r: Request<'_>, stored: Option<&TraceContext>, propagation: Propagation) -> Span {
    let span = tracing::info_span!(target: TARGET, parent: None, "webhook",
        otel.name = "POST webhook", otel.kind = "client", otel.status_code = Empty,
        http.request.method = "POST", server.address = r.host, server.port = r.port,
        http.response.status_code = Empty, error.type = Empty,
        okra.webhook.endpoint = r.endpoint, okra.webhook.event = r.event,
        okra.webhook.attempt = r.attempt, okra.webhook.job_id = r.job_id);
    #[cfg(feature = "otel")]
    if let Some(t) = stored {
        super::spans::relate(&span, t, propagation);
    }
    #[cfg(not(feature = "otel"))]
    let _ = (stored, propagation);
    span
}

/// Records the receiver's answer: its status, or `error_type` when none came (`timeout`,
/// `transport`). A status of 400 or more is an error, as for any HTTP client.
pub fn answered(span: &Span, status: Option<u16>, error_type: &str) {
    super::http_answer(span, status, error_type);
}
