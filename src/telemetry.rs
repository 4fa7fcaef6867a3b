//! Logging for the binaries (human-readable by default, JSON lines with `--log-format json`)
//! and traces: the spans of a job's life (`spans`, with the `otel` feature) and their export
//! over OTLP (`export`, binaries only), configured by `[telemetry]` ([`TelemetrySettings`]).
//! Nothing here logs payloads; callers log job ids, kinds and masked identifiers only, and the
//! exported spans carry no identifier at all (not even a masked one).

pub mod decision;
pub mod delivery;
#[cfg(feature = "cli")]
mod export;
mod settings;
#[cfg(feature = "otel")]
pub mod spans;

/// The target of every span meant for export (`spans`, `decision`, `delivery`): only the
/// binaries' OpenTelemetry layer takes them, and it takes nothing else.
pub const TARGET: &str = "okra_queue::otel";

#[cfg(feature = "cli")]
pub use export::{Tracing, init_traced};
pub use settings::{Propagation, TelemetrySettings};
#[cfg(feature = "otel")]
pub use spans::send as send_span;

/// Records an HTTP client span's answer (a provider call's, a webhook delivery's): its status,
/// or `error_type` when none came; a status of 400 or more is an error, as for any HTTP client.
fn http_answer(span: &tracing::Span, status: Option<u16>, error_type: &str) {
    if let Some(s) = status {
        span.record("http.response.status_code", s);
    }
    if status.is_none_or(|s| s >= 400) {
        span.record("otel.status_code", "ERROR");
        span.record(
            "error.type",
            status.map_or_else(|| error_type.to_string(), |s| s.to_string()),
        );
    }
}

/// Without the `otel` feature there is no producer span (see `spans::send`).
#[cfg(not(feature = "otel"))]
pub fn send_span<'a>(
    _queue: &str,
    _jobs: impl IntoIterator<Item = &'a mut crate::job::EnqueueOptions>,
) -> tracing::Span {
    tracing::Span::none()
}

#[cfg(feature = "cli")]
use std::io::IsTerminal;

#[cfg(feature = "cli")]
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` is a `RUST_LOG`-style filter; `RUST_LOG` wins.
#[cfg(feature = "cli")]
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // The job spans are for export only (see `init_traced`): off here, so they cost nothing.
    let filter = match "okra_queue::otel=off".parse() {
        Ok(off) => filter.add_directive(off),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in files or log shippers.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Whether a write to a closed pipe ends the process quietly, as it ends `ls` or `grep`
/// (`true`: SIGPIPE's default), or fails as an error the caller sees (`false`: ignored, Rust's
/// default, which makes `println!` panic on a closed stdout). The CLIs turn it on before they
/// print; a long-running server (the dashboard) keeps it off, so a client hanging up on a
/// socket never ends the process.
#[cfg(feature = "cli")]
pub fn quiet_on_closed_pipe(quiet: bool) {
    let disposition = if quiet { libc::SIG_DFL } else { libc::SIG_IGN };
    // SAFETY: setting SIGPIPE's disposition to a default or to "ignore" has no preconditions
    // and installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, disposition);
    }
}
