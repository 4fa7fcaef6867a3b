//! The spans of a job's life, per the OpenTelemetry messaging conventions: `send {queue}`
//! (producer) at enqueue, `process {queue}` (consumer) per attempt, and a client span per
//! provider call. They are `tracing` spans with the target [`TARGET`]: only the binaries'
//! OpenTelemetry layer exports them (and it exports nothing else), and without a subscriber
//! that wants them they cost a check of a static level. No span here carries an identifier,
//! a name or a masked value: ids of jobs, queue names, attempt numbers, classes and statuses.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::Propagation;
use crate::job::{EnqueueOptions, TraceContext};

pub use super::TARGET;

/// `messaging.system` (no registered value fits: a custom one, as the conventions allow).
const SYSTEM: &str = "okra_queue";

/// The `send {queue}` span of one enqueue call. With a context given for the job (an HTTP
/// request's `traceparent`), the span is its child; and with an exporter installed, the job
/// stores this span's context, so every attempt points at the enqueue. In a bulk enqueue a
/// job keeps a context of its own; one without gets the span's (or, with no exporter, the
/// context current in the task, if any).
pub fn send<'a>(queue: &str, jobs: impl IntoIterator<Item = &'a mut EnqueueOptions>) -> Span {
    let span = tracing::info_span!(target: TARGET, "send",
        otel.name = format!("send {queue}"), otel.kind = "producer",
        messaging.system = SYSTEM, messaging.operation.type = "send",
        messaging.operation.name = "send", messaging.destination.name = queue,
        messaging.batch.message_count = Empty);
    let mut traces: Vec<_> = jobs.into_iter().map(|o| &mut o.trace).collect();
    let own = if span.is_disabled() {
        None
    } else {
        if let [Some(given)] = &traces[..]
            && let Some(sc) = span_context(given)
        {
            let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
        }
        if traces.len() > 1 {
            span.record("messaging.batch.message_count", traces.len());
        }
        of_context(&span.context())
    };
    let single = traces.len() == 1;
    match own {
        // One job: its stored context is the send span (a child of the one given).
        Some(own) => traces
            .iter_mut()
            .filter(|t| single || t.is_none())
            .for_each(|t| **t = Some(own.clone())),
        None => {
            let current = TraceContext::current();
            traces
                .iter_mut()
                .filter(|t| t.is_none())
                .for_each(|t| **t = current.clone());
        }
    }
    span
}

/// The `process {queue}` span of one attempt, linked to (or, with [`Propagation::Child`], a
/// child of) the context stored with the job. `waited_ms` is the time from when the job was
/// first due to this attempt's claim. Record the outcome with [`outcome`].
pub fn process(
    queue: &str,
    job_id: &str,
    attempt: u32,
    waited_ms: u64,
    stored: Option<&TraceContext>,
    propagation: Propagation,
) -> Span {
    let span = tracing::info_span!(target: TARGET, "process",
        otel.name = format!("process {queue}"), otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = SYSTEM, messaging.operation.type = "process",
        messaging.operation.name = "process", messaging.destination.name = queue,
        messaging.message.id = job_id, okra.attempt = attempt, okra.waited_ms = waited_ms,
        okra.outcome = Empty, okra.charge = Empty);
    if let Some(t) = stored {
        relate(&span, t, propagation);
    }
    span
}

/// Ties `span` to the context stored with a job: a link, or with [`Propagation::Child`] its
/// parent. Nothing for a disabled span or a context that does not read.
pub(crate) fn relate(span: &Span, stored: &TraceContext, propagation: Propagation) {
    if span.is_disabled() {
        return;
    }
    if let Some(sc) = span_context(stored) {
        match propagation {
            Propagation::Link => span.add_link(sc),
            Propagation::Child => {
                let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(sc));
            }
        }
    }
}

/// Links `span` to the context stored with a job.
pub(crate) fn link(span: &Span, stored: &TraceContext) {
    relate(span, stored, Propagation::Link);
}

/// Records how an attempt ended on its `process` span: `success`, or the failure's class.
pub fn outcome(span: &Span, class: Option<&str>) {
    span.record("okra.outcome", class.unwrap_or("success"));
    if class.is_some() {
        span.record("otel.status_code", "ERROR");
    }
}

/// The client span of one call to a provider: `POST` (or `GET` for a lookup) to
/// `server.address`; [`called`] records the answer.
pub fn call(provider: &str, lookup: bool, base_url: &str) -> Span {
    let method = if lookup { "GET" } else { "POST" };
    let span = tracing::info_span!(target: TARGET, "call",
        otel.name = format!("{method} {provider}"), otel.kind = "client",
        otel.status_code = Empty,
        http.request.method = method, server.address = host_of(base_url),
        http.response.status_code = Empty, error.type = Empty,
        okra.provider = provider, okra.charge = Empty);
    if lookup {
        span.record("okra.charge", "lookup");
    }
    span
}

/// Records a call's answer: its HTTP status (none for a transport failure) and whether it
/// was `paid`, `uncertain` (it may have been charged) or `none` (certainly not); a lookup
/// stays `lookup` (free).
pub fn called(span: &Span, status: Option<u16>, charge: &str) {
    super::http_answer(span, status, "transport");
    span.record("okra.charge", charge);
}

/// The host of a base URL (`https://api.okra.ng/v2` → `api.okra.ng`): never a path or query.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = host.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("").to_string();
    }
    host.split(':').next().unwrap_or("").to_string()
}

/// The OpenTelemetry span context of a stored trace context (remote, as it came from
/// another process).
fn span_context(t: &TraceContext) -> Option<SpanContext> {
    let (trace, span, sampled) = t.ids()?;
    let state = t
        .tracestate
        .as_deref()
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Some(SpanContext::new(
        TraceId::from_hex(trace).ok()?,
        SpanId::from_hex(span).ok()?,
        flags,
        true,
        state,
    ))
}

/// The trace context of an OpenTelemetry context, if it holds a valid span.
fn of_context(cx: &opentelemetry::Context) -> Option<TraceContext> {
    let span = cx.span();
    let sc = span.span_context();
    sc.is_valid().then(|| TraceContext::of(sc))
}

#[cfg(test)]
mod tests {
    #[test]
    fn server_address_is_the_host_alone() {
        for (url, host) in [
            ("https://api.okra.ng/v2", "api.okra.ng"),
            ("http://127.0.0.1:8080/v2?x=1", "127.0.0.1"),
            ("http://user:pw@[::1]:9/p", "::1"),
        ] {
            assert_eq!(super::host_of(url), host);
        }
    }
}
