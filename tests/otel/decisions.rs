//! The spans of what attempts lead to, end to end: a job whose first call gets a 500 shows the
//! retry being scheduled under its first attempt (class, attempt, delay, next run); a job the
//! provider answers 404 shows its dead letter under its only attempt (class, reason); and with
//! a webhook endpoint (a small HTTP receiver here), each job's delivery is a client span with
//! the receiver's status, linked to the job's trace. Nothing personal is exported: not the
//! identifiers, not the webhook URL's query token, not its signing secret. A lease taken back
//! from a killed worker is a retry span too, a root linked to the job's trace.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::common::procs::{Sandbox, WorkerSpec, start_worker};
use super::common::*;
use super::hooks;
use super::receiver::Receiver;
use super::{TRACE_ID, enqueue_traced, every_string, hex, otel_env, producer, text};
use okra_queue::JobState;
use okra_queue::webhooks::NewEndpoint;

/// 500 once, then an answer (the sandbox's trigger `0501`).
const RETRIED: &str = "22211110501";
/// 404 every time: dead at once (`0404`).
const DEAD: &str = "22233330404";
/// In the endpoint's URL: a token only the receiver may see.
const TOKEN: &str = "otelhooktoken77";

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_dead_letters_and_webhook_deliveries_are_traced() {
    let receiver = Receiver::start();
    let hooks = hooks::Receiver::start().await;
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let q = "okra_otel_dec";
    let queue = producer(&server, q).await;
    queue.register().await.unwrap();
    let allow = vec!["127.0.0.1".to_string()];
    let endpoint = queue
        .webhook_add(
            NewEndpoint {
                url: format!("{}?token={TOKEN}", hooks.url()),
                events: Vec::new(),
                full: false,
            },
            &allow,
        )
        .await
        .unwrap();
    let mut env = otel_env(&receiver.url);
    env.push((
        "OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS",
        "[\"127.0.0.1\"]".into(),
    ));
    let spec = WorkerSpec {
        queue: q,
        env,
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);

    let retried = enqueue_traced(&queue, RETRIED).await;
    let dead = enqueue_traced(&queue, DEAD).await;
    let r = queue.wait(&retried, Duration::from_secs(20)).await.unwrap();
    assert_eq!(r.state, JobState::Completed, "{}", worker.log_text());
    assert_eq!(r.attempts, 2);
    let d = queue.wait(&dead, Duration::from_secs(20)).await.unwrap();
    assert_eq!(d.state, JobState::Dead, "{}", worker.log_text());

    // Both webhooks delivered, and their spans exported (at least every second).
    let until = Instant::now() + Duration::from_secs(20);
    while (hooks.got().len() < 2 || named(&receiver.spans(), "POST webhook").len() < 2)
        && Instant::now() < until
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    worker.terminate(Duration::from_secs(10));
    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    let process_of = |id: &str, attempt: u32| -> &Span {
        named(&spans, &format!("process {q}"))
            .into_iter()
            .find(|s| {
                text(&s.attributes, "messaging.message.id") == id
                    && text(&s.attributes, "okra.attempt") == attempt.to_string()
            })
            .unwrap_or_else(|| panic!("process span of {id} attempt {attempt}: {names:?}"))
    };

    // The retry: under the first attempt, with its class, delay and next run.
    let retry = named(&spans, &format!("retry {q}"));
    assert_eq!(retry.len(), 1, "one retry scheduled: {names:?}");
    let (retry, first) = (retry[0], process_of(&retried, 1));
    assert_eq!(retry.parent_span_id, first.span_id, "under the attempt");
    assert_eq!(retry.trace_id, first.trace_id);
    assert_eq!(text(&retry.attributes, "messaging.message.id"), retried);
    assert_eq!(text(&retry.attributes, "okra.class"), "server_error");
    assert_eq!(text(&retry.attributes, "okra.attempt"), "1");
    let delay: u64 = text(&retry.attributes, "okra.retry.delay_ms")
        .parse()
        .unwrap();
    let next: u64 = text(&retry.attributes, "okra.retry.next_run_ms")
        .parse()
        .unwrap();
    assert!(delay <= 200, "within [retry] max_delay: {delay}");
    let started_ms = first.start_time_unix_nano / 1_000_000;
    assert!(
        next >= started_ms + delay && next < started_ms + delay + 5_000,
        "next run {next} is the decision's time plus {delay} (attempt began {started_ms})"
    );
    assert!(
        retry.end_time_unix_nano <= first.end_time_unix_nano,
        "decided before the attempt's span ends"
    );
    let second = process_of(&retried, 2);
    assert!(second.start_time_unix_nano >= next * 1_000_000 - 50_000_000);

    // The dead letter: under its only attempt, with the class and the reason.
    let dl = named(&spans, &format!("dead_letter {q}"));
    assert_eq!(dl.len(), 1, "{names:?}");
    let only = process_of(&dead, 1);
    assert_eq!(dl[0].parent_span_id, only.span_id);
    assert_eq!(text(&dl[0].attributes, "okra.class"), "not_found");
    assert_eq!(text(&dl[0].attributes, "okra.dead.reason"), "terminal");
    assert_eq!(text(&dl[0].attributes, "messaging.message.id"), dead);

    // The deliveries: client spans with the receiver's status, linked to each job's trace.
    let deliveries = named(&spans, "POST webhook");
    assert_eq!(deliveries.len(), 2, "{names:?}");
    for (id, event) in [(&retried, "job.completed"), (&dead, "job.dead")] {
        let s = deliveries
            .iter()
            .find(|s| text(&s.attributes, "okra.webhook.job_id") == *id)
            .unwrap_or_else(|| panic!("delivery of {id}: {names:?}"));
        assert_eq!(s.kind, SpanKind::Client as i32);
        assert_eq!(text(&s.attributes, "http.request.method"), "POST");
        assert_eq!(text(&s.attributes, "http.response.status_code"), "200");
        assert_eq!(text(&s.attributes, "server.address"), "127.0.0.1");
        assert_eq!(text(&s.attributes, "server.port"), hooks.port.to_string());
        assert_eq!(text(&s.attributes, "okra.webhook.endpoint"), endpoint.id);
        assert_eq!(text(&s.attributes, "okra.webhook.event"), event);
        assert_eq!(text(&s.attributes, "okra.webhook.attempt"), "1");
        assert_eq!(s.links.len(), 1, "linked to the job's trace");
        assert_eq!(hex(&s.links[0].trace_id), TRACE_ID);
    }

    // Nothing personal, in these spans or any other.
    let strings = every_string(&receiver.got.lock().unwrap());
    for s in &strings {
        let number = s.starts_with("IntValue(");
        for secret in [RETRIED, DEAD, TOKEN, "whsec_", "sk_test", "/hook"] {
            assert!(!s.contains(secret), "exported: {s:?}");
        }
        for masked in ["0501", "0404"] {
            assert!(number || !s.contains(masked), "masked identifier: {s:?}");
        }
    }
}

/// A worker killed mid-call: another worker's reaper takes the lease back, and that decision
/// is a root span linked to the job's trace (the attempt's span died with its worker).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_taken_back_is_a_retry_span_linked_to_the_job() {
    let receiver = Receiver::start();
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    // Every answer takes a minute: the first worker is killed while its call hangs.
    let sandbox = Sandbox::start(dir.path(), &["--latency", "60s"]);
    let q = "okra_otel_reap";
    let queue = producer(&server, q).await;
    let spec = WorkerSpec {
        queue: q,
        env: otel_env(&receiver.url),
        ..WorkerSpec::default()
    };
    let mut first = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let id = enqueue_traced(&queue, RETRIED).await;
    eventually(Duration::from_secs(10), "the job runs", || async {
        queue.state(&id).await.unwrap() == Some(JobState::Running)
    })
    .await;
    first.kill();
    // The lease (3 s in the test workers' settings) runs out; the second worker takes it back.
    let mut second = start_worker(dir.path(), 2, &server.url(), &sandbox.url, &spec);
    let name = format!("retry {q}");
    let until = Instant::now() + Duration::from_secs(30);
    while named(&receiver.spans(), &name).is_empty() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill();
    let spans = receiver.spans();
    // (Attempt 2 may schedule a retry of its own: its free lookup hangs too.)
    let taken_back: Vec<_> = named(&spans, &name)
        .into_iter()
        .filter(|s| text(&s.attributes, "okra.attempt") == "1")
        .collect();
    assert_eq!(taken_back.len(), 1, "{}", second.log_text());
    let r = taken_back[0];
    assert!(
        r.parent_span_id.is_empty(),
        "a root: its attempt's span is gone"
    );
    assert_eq!(r.links.len(), 1, "linked to the job's trace");
    assert_eq!(hex(&r.links[0].trace_id), TRACE_ID);
    assert_eq!(text(&r.attributes, "messaging.message.id"), id);
    assert_eq!(text(&r.attributes, "okra.class"), "lease_expired");
    assert_eq!(text(&r.attributes, "okra.attempt"), "1");
    for s in every_string(&receiver.got.lock().unwrap()) {
        assert!(!s.contains(RETRIED), "exported: {s:?}");
    }
}
