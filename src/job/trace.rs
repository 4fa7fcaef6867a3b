//! The W3C trace context a job carries from its producer to its attempts (`traceparent` and
//! `tracestate`). It is stored as a plain field of the job's metadata, never sealed: it is a
//! trace id, a span id and vendor state, never a person's identifier, and the checks here keep
//! anything else out (a `traceparent` is hex and dashes only; a `tracestate` too long or with
//! characters outside the W3C grammar is dropped).

use serde::{Deserialize, Serialize};

/// The longest `tracestate` kept (the W3C limit is 32 members; 512 characters is what the
/// specification asks a propagator to keep at least).
const MAX_TRACESTATE: usize = 512;

/// A W3C trace context: the span that created the job, and vendor state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<trace id>-<parent span id>-<flags>`, lower-case hex.
    pub traceparent: String,
    /// Vendor state (`key=value,…`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// A context from the two headers. A `traceparent` that is not a W3C trace context is an
    /// error naming the rule (never the value); an invalid `tracestate` is dropped, as the
    /// specification says.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Result<Self, String> {
        let traceparent = traceparent.trim().to_ascii_lowercase();
        parts(&traceparent).ok_or_else(|| {
            "traceparent is not a W3C trace context (00-<32 hex>-<16 hex>-<2 hex>)".to_string()
        })?;
        let tracestate = tracestate
            .map(str::trim)
            .filter(|s| !s.is_empty() && tracestate_ok(s))
            .map(str::to_string);
        Ok(Self {
            traceparent,
            tracestate,
        })
    }

    /// Trace id (32 hex), parent span id (16 hex) and whether the producer sampled it.
    pub fn ids(&self) -> Option<(&str, &str, bool)> {
        parts(&self.traceparent)
    }

    /// The context of the span current in this task (an entered `tracing` span with the
    /// `tracing-opentelemetry` layer installed, or an attached OpenTelemetry context); `None`
    /// when there is none.
    #[cfg(feature = "otel")]
    pub fn current() -> Option<Self> {
        use opentelemetry::trace::TraceContextExt;
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| Self::of(sc))
    }

    /// Without the `otel` feature no span carries an OpenTelemetry context.
    #[cfg(not(feature = "otel"))]
    pub fn current() -> Option<Self> {
        None
    }

    /// The context of an OpenTelemetry span.
    #[cfg(feature = "otel")]
    pub fn of(sc: &opentelemetry::trace::SpanContext) -> Self {
        let state = sc.trace_state().header();
        Self {
            traceparent: format!(
                "00-{}-{}-{:02x}",
                sc.trace_id(),
                sc.span_id(),
                sc.trace_flags().to_u8() & 1
            ),
            tracestate: (!state.is_empty() && tracestate_ok(&state)).then_some(state),
        }
    }
}

/// The fields of a valid `traceparent` (version 00, or a later version read as 00 would be).
fn parts(tp: &str) -> Option<(&str, &str, bool)> {
    let mut it = tp.split('-');
    let (version, trace, span, flags) = (it.next()?, it.next()?, it.next()?, it.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let ok = hex(version, 2)
        && version != "ff"
        && (version != "00" || it.next().is_none())
        && it.all(|rest| rest.bytes().all(|b| b.is_ascii_alphanumeric()))
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(span, 16)
        && span.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
    ok.then_some((trace, span, sampled))
}

/// A `tracestate` within the W3C grammar's characters and the length kept.
fn tracestate_ok(s: &str) -> bool {
    s.len() <= MAX_TRACESTATE
        && s.split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .all(|m| {
                m.split_once('=').is_some_and(|(k, v)| {
                    !k.is_empty()
                        && k.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-*/@".contains(&b)
                        })
                        && !v.is_empty()
                        && v.bytes()
                            .all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
                })
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_w3c_traceparent_is_kept() {
        let t = TraceContext::parse(TP, Some("rojo=00f067aa0ba902b7")).unwrap();
        assert_eq!(t.traceparent, TP);
        assert_eq!(t.tracestate.as_deref(), Some("rojo=00f067aa0ba902b7"));
        assert_eq!(
            t.ids(),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true))
        );
    }

    #[test]
    fn anything_else_is_refused_without_echoing_it() {
        for bad in [
            "",
            "22345678901",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            let e = TraceContext::parse(bad, None).unwrap_err();
            assert!(bad.is_empty() || !e.contains(bad), "{e}");
        }
    }

    #[test]
    fn a_tracestate_outside_the_grammar_is_dropped() {
        for bad in [
            "no equals",
            "k=v,Name=Ada Obi",
            &"k=v,".repeat(200),
            "k=\u{e9}",
        ] {
            let t = TraceContext::parse(TP, Some(bad)).unwrap();
            assert_eq!(t.tracestate, None, "{bad}");
        }
    }
}
