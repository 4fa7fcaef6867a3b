//! Export over OTLP/gRPC: the worker, told by the standard variables, sends one job's spans
//! to a gRPC collector (opentelemetry-proto's `TraceService` on tonic). The trace variables
//! win over the general ones: the general endpoint points at a dead port and the general
//! protocol says HTTP, so only a worker that reads `OTEL_EXPORTER_OTLP_TRACES_*` first, and
//! speaks gRPC, delivers anything.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::common::procs::{Sandbox, WorkerSpec, start_worker};
use super::common::*;
use super::receiver::GrpcReceiver;
use super::{
    TRACE_ID, enqueue_traced, every_string, hex, jobs_complete_and_drops_are_counted, otel_env,
    producer, text,
};
use okra_queue::JobState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_jobs_spans_arrive_over_grpc() {
    let receiver = GrpcReceiver::start();
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "okra_otel_grpc").await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let spec = WorkerSpec {
        queue: "okra_otel_grpc",
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", dead),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".into()),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", receiver.url.clone()),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc".into()),
            ("OTEL_SERVICE_NAME", "okra-worker-grpc".into()),
        ],
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let bvn = "22245678901";
    let id = enqueue_traced(&queue, bvn).await;
    ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;

    let until = Instant::now() + Duration::from_secs(15);
    while !receiver
        .spans()
        .iter()
        .any(|s| s.kind == SpanKind::Client as i32)
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.terminate(Duration::from_secs(10));
    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let process: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "process okra_otel_grpc")
        .collect();
    assert_eq!(
        process.len(),
        1,
        "over gRPC: {names:?}\n{}",
        worker.log_text()
    );
    let p = process[0];
    assert_eq!(text(&p.attributes, "messaging.message.id"), id);
    assert_eq!(text(&p.attributes, "okra.outcome"), "success");
    assert_eq!(p.links.len(), 1);
    assert_eq!(
        hex(&p.links[0].trace_id),
        TRACE_ID,
        "linked to the producer"
    );
    let call = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .expect("the provider call");
    assert_eq!(call.parent_span_id, p.span_id);
    assert_eq!(text(&call.attributes, "http.response.status_code"), "200");

    let strings = every_string(&receiver.got.lock().unwrap());
    assert!(
        strings.iter().any(|s| s == "okra-worker-grpc"),
        "{strings:?}"
    );
    for s in &strings {
        assert!(!s.contains(bvn), "identifier exported: {s:?}");
    }
}

/// gRPC to a collector that is down, or one that takes the connection and never answers (a
/// listener nobody accepts on): jobs complete, and the spans are dropped and counted.
#[tokio::test]
async fn over_grpc_a_collector_down_or_silent_never_holds_a_job() {
    let down = GrpcReceiver::start();
    let url = down.url.clone();
    drop(down);
    let mut env = otel_env(&url);
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()));
    jobs_complete_and_drops_are_counted("okra_otel_grpc_down", env).await;

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut env = otel_env(&format!("http://{}", silent.local_addr().unwrap()));
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()));
    env.push(("OTEL_EXPORTER_OTLP_TIMEOUT", "500".into()));
    jobs_complete_and_drops_are_counted("okra_otel_grpc_silent", env).await;
    drop(silent);
}
