//! The W3C trace context a producer gives travels with the job: stored plain beside the
//! payload on both enqueue paths, kept by dead-lettering and by a requeue.

use super::*;
use okra_queue::job::TraceContext;

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test]
async fn the_trace_context_survives_dead_letters_and_requeues() {
    let server = RedisServer::start();
    let queue = setup(&server, "trace_ctx").await;
    let want = TraceContext::parse(TP, Some("vendor=abc")).unwrap();
    let ready = queue
        .enqueue(
            &probe("until_requeued", 0),
            EnqueueOptions::default()
                .max_attempts(2)
                .traceparent(TP, Some("vendor=abc")),
        )
        .await
        .unwrap();
    // Keyed: written by enqueue.lua rather than the plain ready path.
    let keyed = queue
        .enqueue(
            &probe("ok", 0),
            EnqueueOptions::default()
                .idempotency_key("k1")
                .traceparent(TP, None),
        )
        .await
        .unwrap();
    let keyed_rec = queue.job(&keyed.id).await.unwrap().unwrap();
    assert_eq!(keyed_rec.meta.trace.unwrap().traceparent, TP);
    let untraced = queue
        .enqueue(&probe("ok", 0), EnqueueOptions::default())
        .await
        .unwrap();
    assert_eq!(
        queue.job(&untraced.id).await.unwrap().unwrap().meta.trace,
        None
    );

    let fleet = fleet(&queue).await;
    let dead = ends_in(&queue, &ready.id, JobState::Dead, String::new).await;
    assert_eq!(
        dead.meta.trace.as_ref(),
        Some(&want),
        "a dead letter keeps it"
    );
    queue
        .dead_requeue(std::slice::from_ref(&ready.id), RequeueAt::Now)
        .await
        .unwrap();
    let done = ends_in(&queue, &ready.id, JobState::Completed, String::new).await;
    assert_eq!(done.meta.requeues, 1);
    assert_eq!(done.meta.trace.as_ref(), Some(&want), "a requeue keeps it");
    fleet.stop().await;
}

#[tokio::test]
async fn an_invalid_traceparent_is_refused_and_nothing_is_written() {
    let server = RedisServer::start();
    let queue = setup(&server, "trace_bad").await;
    let e = queue
        .enqueue(
            &probe("ok", 0),
            EnqueueOptions::default().traceparent("00-not-a-trace-01", None),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("traceparent is not a W3C trace context"),
        "{e}"
    );
    assert!(!e.to_string().contains("not-a-trace"), "{e}");
    assert_eq!(queue.stats().await.unwrap().ready, 0);
}
