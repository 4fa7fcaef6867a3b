//! Export of the job spans over OTLP, HTTP/protobuf or gRPC, off unless an endpoint is set. A
//! collector that is down or slow never holds a job up: ended spans go into a bounded queue
//! with a non-blocking send (a full queue drops the span and counts it in
//! `okra_trace_spans_dropped_total`), and one thread of its own sends them in batches, with
//! the exporter's timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`, 10 s by default). A batch the
//! collector refuses or never answers is dropped and counted the same way, never retried.
//! The gRPC exporter (tonic) runs on a current-thread Tokio runtime owned by that thread, built
//! and dropped there, so it never shares the jobs' runtime. Both exporters are in the binaries
//! only (feature `cli`); the library's lean build has neither.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::tonic_types::transport::ClientTlsConfig;
use opentelemetry_otlp::{
    Protocol, RetryPolicy, WithExportConfig, WithHttpConfig, WithTonicConfig,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter, SpanProcessor};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::TARGET;
use super::TelemetrySettings;
use super::settings::{GRPC, HTTP};

/// Spans per export request at most.
const BATCH: usize = 512;
/// The longest an ended span waits before its batch is sent.
const EVERY: Duration = Duration::from_secs(1);

/// What [`init_traced`] set up; dropping it sends what is queued (up to 2 s) and stops.
#[must_use = "dropping it stops the export"]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Sends the spans ended so far (waits up to 5 s).
    pub fn flush(&self) {
        if let Some(p) = &self.provider {
            let _ = p.force_flush();
        }
    }
}

impl Drop for Tracing {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown_with_timeout(Duration::from_secs(2));
        }
    }
}

/// Installs the global subscriber as [`super::init`] does, plus, when an OTLP endpoint is
/// set (`[telemetry]` or the `OTEL_*` variables), a layer exporting the job spans (target
/// [`TARGET`], and nothing else: no log event, no other span). The logs never show those
/// spans. `service` is the `service.name` when neither the settings nor `OTEL_SERVICE_NAME`
/// (or `OTEL_RESOURCE_ATTRIBUTES`) give one.
pub fn init_traced(format: &str, level: &str, t: &TelemetrySettings, service: &str) -> Tracing {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = filter.and(filter_fn(|m| m.target() != TARGET));
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let fmt = if format == "json" {
        fmt.json().flatten_event(true).with_filter(logs).boxed()
    } else {
        fmt.with_filter(logs).boxed()
    };
    let (provider, problem) = match provider(t, service) {
        Ok(p) => (p, None),
        Err(e) => (None, Some(e)),
    };
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("okra-queue"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_target(false)
            .with_filter(filter_fn(|m| m.is_span() && m.target() == TARGET))
    });
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    if let Some(e) = problem {
        tracing::warn!("traces are not exported: {e}");
    } else if let Some(url) = t.traces_url().filter(|_| provider.is_some()) {
        let protocol = t.protocol();
        tracing::info!(endpoint = %endpoint_for_log(&url), %protocol, "exporting traces over OTLP");
    }
    Tracing { provider }
}

/// The URL without anything after the authority that could be a secret (a query's token).
fn endpoint_for_log(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or("")
}

/// The tracer provider, `None` when no endpoint is set; an error is one line for the log.
fn provider(t: &TelemetrySettings, service: &str) -> Result<Option<SdkTracerProvider>, String> {
    let Some(url) = t.traces_url() else {
        return Ok(None);
    };
    let grpc = match t.protocol().as_str() {
        HTTP => false,
        GRPC => true,
        other => {
            return Err(format!(
                "OTLP protocol {other} is not built in; use {HTTP} (the collector's port 4318) or {GRPC} (4317)"
            ));
        }
    };
    // One attempt per batch: a batch that fails is dropped and counted, and the queue moves on.
    let build = move || {
        let exporter = opentelemetry_otlp::SpanExporter::builder();
        let built = if grpc {
            // An https collector (a hosted one on 443) is checked against the system's roots.
            let tls = url.starts_with("https://");
            let exporter = exporter
                .with_tonic()
                .with_endpoint(url)
                .with_retry_policy(RetryPolicy::disabled());
            let exporter = if tls {
                exporter.with_tls_config(ClientTlsConfig::new().with_enabled_roots())
            } else {
                exporter
            };
            exporter.build()
        } else {
            exporter
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(url)
                .with_retry_policy(RetryPolicy::disabled())
                .build()
        };
        built.map_err(|e| e.to_string())
    };
    let processor = Bounded::start(build, grpc, t.queue_size.max(1))?;
    let resource = Resource::builder().build();
    let unnamed = resource
        .get(&opentelemetry::Key::new("service.name"))
        .is_none_or(|v| v.as_str().starts_with("unknown_service"));
    let name = match t.service_name.trim() {
        "" if unnamed => Some(service.to_string()),
        "" => None,
        name => Some(name.to_string()),
    };
    let resource = match name {
        Some(n) => Resource::builder().with_service_name(n).build(),
        None => resource,
    };
    Ok(Some(
        SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource)
            .build(),
    ))
}

/// Counts spans lost to a full queue or a failed export.
fn dropped(n: usize) {
    metrics::counter!("okra_trace_spans_dropped_total").increment(n as u64);
}

/// What the export thread is asked to do.
enum Msg {
    Span(Box<SpanData>),
    Resource(Box<Resource>),
    Flush(SyncSender<()>),
}

/// A span processor with a bounded queue and a thread of its own (see the module's doc).
#[derive(Debug)]
struct Bounded {
    tx: Mutex<Option<SyncSender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Bounded {
    /// Starts the export thread, which builds its exporter with `build` (on a runtime of its
    /// own when `tokio` is set: tonic's channel needs one) and says whether that worked.
    fn start<E, B>(build: B, tokio: bool, size: usize) -> Result<Self, String>
    where
        E: SpanExporter + 'static,
        B: FnOnce() -> Result<E, String> + Send + 'static,
    {
        let (tx, rx) = sync_channel(size);
        let (ready, built) = sync_channel::<Result<(), String>>(1);
        let thread = std::thread::Builder::new()
            .name("okq-otlp".into())
            .spawn(move || {
                let rt = match tokio.then(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                }) {
                    Some(Err(e)) => {
                        let _ = ready.send(Err(format!("no runtime for the exporter: {e}")));
                        return;
                    }
                    Some(Ok(rt)) => Some(rt),
                    None => None,
                };
                let entered = rt.as_ref().map(|rt| rt.enter());
                let exporter = match build() {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                drop(entered);
                let _ = ready.send(Ok(()));
                run(exporter, rx, rt.as_ref());
            })
            .map_err(|e| format!("cannot start the export thread: {e}"))?;
        built
            .recv()
            .map_err(|_| "the export thread ended".to_string())??;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, msg: Msg) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        match tx.as_ref().map(|tx| tx.try_send(msg)) {
            Some(Ok(())) => true,
            Some(Err(
                TrySendError::Full(Msg::Span(_)) | TrySendError::Disconnected(Msg::Span(_)),
            ))
            | None => {
                dropped(1);
                false
            }
            Some(Err(_)) => false,
        }
    }
}

/// The export thread: batches of up to [`BATCH`] spans, sent at least every [`EVERY`].
fn run<E: SpanExporter>(mut exporter: E, rx: Receiver<Msg>, rt: Option<&tokio::runtime::Runtime>) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(BATCH);
    let mut since = Instant::now();
    let export = |exporter: &E, batch: &mut Vec<SpanData>| {
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        let sent = exporter.export(std::mem::take(batch));
        let sent = match rt {
            Some(rt) => rt.block_on(sent),
            None => futures::executor::block_on(sent),
        };
        if sent.is_err() {
            dropped(n);
        }
    };
    loop {
        match rx.recv_timeout(EVERY.saturating_sub(since.elapsed())) {
            Ok(Msg::Span(s)) => {
                batch.push(*s);
                if batch.len() < BATCH {
                    continue;
                }
            }
            Ok(Msg::Resource(r)) => {
                exporter.set_resource(&r);
                continue;
            }
            Ok(Msg::Flush(done)) => {
                export(&exporter, &mut batch);
                let _ = done.send(());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                export(&exporter, &mut batch);
                let _ = exporter.shutdown();
                return;
            }
        }
        export(&exporter, &mut batch);
        since = Instant::now();
    }
}

impl SpanProcessor for Bounded {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.send(Msg::Span(Box::new(span)));
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Sent before any span: the provider sets it as it is built.
        self.send(Msg::Resource(Box::new(resource.clone())));
    }

    fn force_flush(&self) -> OTelSdkResult {
        let (done, wait) = sync_channel(1);
        if !self.send(Msg::Flush(done)) {
            return Err(OTelSdkError::InternalFailure(
                "the export queue is full".into(),
            ));
        }
        wait.recv_timeout(Duration::from_secs(5))
            .map_err(|_| OTelSdkError::Timeout(Duration::from_secs(5)))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        // Closing the queue ends the thread once it has sent what is left.
        drop(self.tx.lock().unwrap_or_else(|p| p.into_inner()).take());
        let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        let until = Instant::now() + timeout;
        while !thread.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        if thread.is_finished() {
            let _ = thread.join();
            Ok(())
        } else {
            Err(OTelSdkError::Timeout(timeout))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoint: &str, protocol: &str) -> TelemetrySettings {
        TelemetrySettings {
            endpoint: endpoint.into(),
            protocol: protocol.into(),
            ..TelemetrySettings::default()
        }
    }

    #[test]
    fn grpc_builds_for_a_plain_and_a_tls_collector_and_other_protocols_are_refused() {
        // Nothing connects until a batch is sent (the channel is lazy).
        for url in ["http://127.0.0.1:4317", "https://127.0.0.1:443"] {
            let p = provider(&settings(url, GRPC), "t").expect(url);
            let p = p.expect("an endpoint is set: export is on");
            let _ = p.shutdown_with_timeout(Duration::from_secs(2));
        }
        let e = provider(&settings("http://127.0.0.1:4318", "http/json"), "t").unwrap_err();
        assert!(e.contains("http/json is not built in"), "{e}");
    }
}
