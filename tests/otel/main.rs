//! OpenTelemetry traces end to end: a real OTLP/HTTP receiver (a small axum server decoding
//! `ExportTraceServiceRequest` with `opentelemetry-proto`), real `redis-server`, `okra-worker`
//! and `okra-sandbox`. One job enqueued with a `traceparent` whose first call gets a 500 shows
//! the producer span (a child of the given context), two `process` spans linked to it, the
//! provider call spans with their statuses, the retry scheduled after the first, and no
//! identifier anywhere in the exported data; with the receiver gone, jobs still complete.
//! `decisions.rs`: retries, dead letters and webhook deliveries; `grpc.rs`: export over
//! OTLP/gRPC; `receiver.rs`: the two receivers.

#[path = "../common/mod.rs"]
mod common;

mod decisions;
mod grpc;
#[path = "../webhooks/receiver.rs"]
mod hooks;
mod receiver;

use std::time::{Duration, Instant};

use common::procs::{Sandbox, WorkerSpec, start_worker};
use common::*;
use okra_queue::okra::OkraJob;
use okra_queue::telemetry::{TelemetrySettings, init_traced};
use okra_queue::{EnqueueOptions, JobState, Queue, QueueConfig};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use receiver::Receiver;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

/// The test identity: its first verify gets a 500, the second an answer.
const BVN: &str = "22200000501";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

fn text(attrs: &[KeyValue], key: &str) -> String {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        other => format!("{other:?}"),
    }
}

/// Every string the export carries: names, attribute keys and values (spans, events, links,
/// resources, scopes).
fn every_string(reqs: &[ExportTraceServiceRequest]) -> Vec<String> {
    fn kvs(out: &mut Vec<String>, attrs: &[KeyValue]) {
        for kv in attrs {
            out.push(kv.key.clone());
            if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                out.push(match v {
                    any_value::Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                });
            }
        }
    }
    let mut out = Vec::new();
    for r in reqs.iter().flat_map(|r| &r.resource_spans) {
        if let Some(res) = &r.resource {
            kvs(&mut out, &res.attributes);
        }
        for s in &r.scope_spans {
            if let Some(scope) = &s.scope {
                out.push(scope.name.clone());
                kvs(&mut out, &scope.attributes);
            }
            for span in &s.spans {
                out.push(span.name.clone());
                kvs(&mut out, &span.attributes);
                for e in &span.events {
                    out.push(e.name.clone());
                    kvs(&mut out, &e.attributes);
                }
                for l in &span.links {
                    kvs(&mut out, &l.attributes);
                }
                out.push(
                    span.status
                        .as_ref()
                        .map(|s| s.message.clone())
                        .unwrap_or_default(),
                );
            }
        }
    }
    out
}

async fn producer(server: &RedisServer, name: &str) -> Queue {
    let mut cfg = QueueConfig::new(name);
    cfg.retry.max_attempts = 3;
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

/// Enqueues a `bvn_verify` for `bvn` carrying the test's `traceparent`; its id.
async fn enqueue_traced(queue: &Queue, bvn: &str) -> String {
    let job = OkraJob::new("bvn_verify", &[("bvn", bvn)]).unwrap();
    let traceparent = format!("00-{TRACE_ID}-{PARENT}-01");
    let opts = EnqueueOptions::default().traceparent(&traceparent, None);
    queue.enqueue(&job, opts).await.unwrap().id
}

fn otel_env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.to_string()),
        ("OTEL_SERVICE_NAME", "okra-worker-test".into()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=test".into(),
        ),
        ("OTEL_TRACES_SAMPLER", "always_on".into()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_is_one_trace_of_a_producer_two_attempts_and_their_calls() {
    let receiver = Receiver::start();
    // The producer exports too (its `send` span), as an application using the library would.
    let settings = TelemetrySettings {
        endpoint: receiver.url.clone(),
        service_name: "producer-test".into(),
        ..TelemetrySettings::default()
    };
    let tracing = init_traced("pretty", "warn", &settings, "producer");
    assert!(tracing.exporting());

    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "okra_otel").await;
    let spec = WorkerSpec {
        queue: "okra_otel",
        env: otel_env(&receiver.url),
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);

    let id = enqueue_traced(&queue, BVN).await;
    tracing.flush();
    let done = ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;
    assert_eq!(done.attempts, 2);
    let stored = done.meta.trace.expect("the job stores a trace context");
    assert!(stored.traceparent.starts_with(&format!("00-{TRACE_ID}-")));
    assert!(
        !stored.traceparent.contains(PARENT),
        "it is the send span's"
    );

    // The worker exports at least every second; and on its way out.
    let until = Instant::now() + Duration::from_secs(15);
    while receiver
        .spans()
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .count()
        < 2
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.terminate(Duration::from_secs(10));
    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();

    let send: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "send okra_otel")
        .collect();
    assert_eq!(send.len(), 1, "{names:?}");
    let send = send[0];
    assert_eq!(send.kind, SpanKind::Producer as i32);
    assert_eq!(
        hex(&send.trace_id),
        TRACE_ID,
        "the producer span is in the caller's trace"
    );
    assert_eq!(
        hex(&send.parent_span_id),
        PARENT,
        "a child of the given context"
    );
    assert_eq!(
        stored.traceparent,
        format!("00-{TRACE_ID}-{}-01", hex(&send.span_id))
    );

    let mut process: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "process okra_otel")
        .collect();
    process.sort_by_key(|s| text(&s.attributes, "okra.attempt"));
    assert_eq!(process.len(), 2, "one per attempt: {names:?}");
    for (n, p) in process.iter().enumerate() {
        assert_eq!(p.kind, SpanKind::Consumer as i32);
        assert_eq!(text(&p.attributes, "messaging.operation.type"), "process");
        assert_eq!(text(&p.attributes, "messaging.message.id"), id);
        assert_eq!(text(&p.attributes, "okra.attempt"), (n + 1).to_string());
        assert!(attr(&p.attributes, "okra.waited_ms").is_some());
        // Linked, not parented: a trace of its own.
        assert_ne!(hex(&p.trace_id), TRACE_ID);
        assert!(p.parent_span_id.is_empty());
        assert_eq!(p.links.len(), 1);
        assert_eq!(hex(&p.links[0].trace_id), TRACE_ID);
        assert_eq!(p.links[0].span_id, send.span_id);
    }
    assert_eq!(text(&process[0].attributes, "okra.outcome"), "server_error");
    let retry: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "retry okra_otel")
        .collect();
    assert_eq!(retry.len(), 1, "the retry after attempt 1: {names:?}");
    assert_eq!(retry[0].parent_span_id, process[0].span_id);
    assert_eq!(text(&retry[0].attributes, "okra.class"), "server_error");
    assert_eq!(text(&process[1].attributes, "okra.outcome"), "success");

    let mut calls: Vec<&Span> = spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client as i32)
        .collect();
    calls.sort_by_key(|s| s.start_time_unix_nano);
    assert_eq!(calls.len(), 2, "{names:?}");
    for (call, (p, status, charge)) in calls
        .iter()
        .zip([(process[0], "500", "none"), (process[1], "200", "paid")])
    {
        assert_eq!(
            call.parent_span_id, p.span_id,
            "the call is inside its attempt"
        );
        assert_eq!(call.trace_id, p.trace_id);
        assert_eq!(text(&call.attributes, "http.request.method"), "POST");
        assert_eq!(text(&call.attributes, "http.response.status_code"), status);
        assert_eq!(text(&call.attributes, "server.address"), "127.0.0.1");
        assert_eq!(text(&call.attributes, "okra.provider"), "okra");
        assert_eq!(text(&call.attributes, "okra.charge"), charge);
    }

    // No identifier anywhere: not the BVN, not a masked form of it (its last digits), no
    // `subject` attribute; and only the job spans (no log event, no `job` span).
    let strings = every_string(&receiver.got.lock().unwrap());
    for s in &strings {
        let number = s.starts_with("IntValue(");
        assert!(!s.contains(BVN), "identifier exported: {s:?}");
        assert!(
            number || !s.contains("0501"),
            "masked identifier exported: {s:?}"
        );
        assert!(!s.contains("sk_test"), "secret exported: {s:?}");
    }
    assert!(
        !strings.iter().any(|s| s == "subject" || s == "job"),
        "{strings:?}"
    );
    assert!(
        strings.iter().any(|s| s == "okra-worker-test"),
        "OTEL_SERVICE_NAME: {strings:?}"
    );
    assert!(strings.iter().any(|s| s == "deployment.environment"));
    drop(tracing);
}

#[tokio::test]
async fn with_the_collector_gone_jobs_still_complete() {
    let mut receiver = Receiver::start();
    let url = receiver.url.clone();
    receiver.stop();
    jobs_complete_and_drops_are_counted("okra_otel_down", otel_env(&url)).await;
}

/// Twenty jobs on a worker exporting as `env` says to a collector that is down or silent: every
/// job completes, and the spans that could not be sent are counted.
async fn jobs_complete_and_drops_are_counted(name: &str, env: Vec<(&'static str, String)>) {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, name).await;
    let metrics_port = free_port();
    let spec = WorkerSpec {
        queue: name,
        env,
        metrics_addr: Some(format!("127.0.0.1:{metrics_port}")),
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let mut ids = Vec::new();
    for i in 0..20 {
        let job = OkraJob::new("bvn_verify", &[("bvn", &format!("223{i:08}"))]).unwrap();
        ids.push(
            queue
                .enqueue(&job, EnqueueOptions::default())
                .await
                .unwrap()
                .id,
        );
    }
    for id in &ids {
        ends_in(&queue, id, JobState::Completed, || worker.log_text()).await;
    }
    // The spans that could not be sent are counted.
    let until = Instant::now() + Duration::from_secs(10);
    let dropped = loop {
        let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let n: f64 = text
            .lines()
            .find(|l| l.starts_with("okra_trace_spans_dropped_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if n > 0.0 || Instant::now() > until {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(dropped > 0.0, "dropped spans are counted");
    worker.terminate(Duration::from_secs(10));
}

#[tokio::test]
async fn with_propagation_child_each_attempt_is_in_the_producer_trace() {
    let receiver = Receiver::start();
    let hooks = hooks::Receiver::start().await;
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "okra_otel_child").await;
    queue.register().await.unwrap();
    let new = okra_queue::webhooks::NewEndpoint {
        url: hooks.url(),
        events: Vec::new(),
        full: false,
    };
    queue
        .webhook_add(new, &["127.0.0.1".to_string()])
        .await
        .unwrap();
    let mut env = otel_env(&receiver.url);
    env.push(("OKQ_TELEMETRY__PROPAGATION", "child".into()));
    env.push((
        "OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS",
        "[\"127.0.0.1\"]".into(),
    ));
    let spec = WorkerSpec {
        queue: "okra_otel_child",
        env,
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let id = enqueue_traced(&queue, "22234567890").await;
    let done = ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;
    // The stored context: the one given, or the send span's when this process exports too.
    let stored = done.meta.trace.unwrap().traceparent;
    let until = Instant::now() + Duration::from_secs(15);
    let named = |name: &str| -> Vec<Span> {
        receiver
            .spans()
            .into_iter()
            .filter(|s| s.name == name)
            .collect()
    };
    while (named("process okra_otel_child").is_empty() || named("POST webhook").is_empty())
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.terminate(Duration::from_secs(10));
    // The attempt and the webhook's delivery: both children of the stored context.
    for name in ["process okra_otel_child", "POST webhook"] {
        let found = named(name);
        assert_eq!(found.len(), 1, "{name}");
        assert_eq!(hex(&found[0].trace_id), TRACE_ID, "in the producer's trace");
        assert_eq!(
            format!("00-{TRACE_ID}-{}-01", hex(&found[0].parent_span_id)),
            stored,
            "{name}: a child of the stored context"
        );
        assert!(found[0].links.is_empty());
    }
}
