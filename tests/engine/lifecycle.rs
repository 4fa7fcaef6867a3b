//! A job's life on one queue: enqueue, run, retry, die, idempotency, delays, pause.

use super::*;

#[tokio::test]
async fn enqueue_run_complete_with_result() {
    let server = RedisServer::start();
    let queue = setup(&server, "basic").await;
    let fleet = fleet(&queue).await;
    let job = queue
        .enqueue(&probe("ok", 21), EnqueueOptions::default())
        .await
        .unwrap();
    assert!(!job.duplicate);
    let done = ends_in(&queue, &job.id, JobState::Completed, String::new).await;
    assert_eq!(done.result.as_ref().unwrap()["double"], 42);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.history.len(), 1);
    assert_eq!(done.history[0].outcome.as_str(), "success");
    assert!(done.finished_at.is_some());
    assert_eq!(queue.result(&job.id).await.unwrap().unwrap()["double"], 42);
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.completed, stats.succeeded, stats.processed),
        (1, 1, 1)
    );
    assert_eq!(stats.workers, 1);
    fleet.stop().await;
}

#[tokio::test]
async fn an_outcome_is_written_after_what_its_handler_left_to_finish() {
    let server = RedisServer::start();
    let queue = setup(&server, "after").await;
    let fleet = fleet(&queue).await;
    let started = Instant::now();
    let job = queue
        .enqueue(&probe("after", 400), EnqueueOptions::default())
        .await
        .unwrap();
    // The handler returns at once; the job is finished only once its future has.
    let done = ends_in(&queue, &job.id, JobState::Completed, String::new).await;
    assert!(
        AFTER_DONE.lock().unwrap().contains(&job.id),
        "completed before the future it was left ended"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(done.result.unwrap(), "handed off");
    assert_eq!(done.attempts, 1);
    fleet.stop().await;
}

#[tokio::test]
async fn invalid_jobs_are_refused_and_nothing_is_written() {
    let server = RedisServer::start();
    let queue = setup(&server, "refuse").await;
    let err = queue
        .enqueue(&probe("", 1), EnqueueOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mode is required"), "{err}");
    let err = queue
        .enqueue_bulk(vec![
            (probe("ok", 1), EnqueueOptions::default()),
            (probe("", 2), EnqueueOptions::default()),
        ])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("job #2"), "{err}");
    assert_eq!(queue.stats().await.unwrap().ready, 0);
}

#[tokio::test]
async fn retry_then_success_records_history() {
    let server = RedisServer::start();
    let queue = setup(&server, "retry").await;
    let fleet = fleet(&queue).await;
    let job = queue
        .enqueue(&probe("flaky", 2), EnqueueOptions::default())
        .await
        .unwrap();
    let done = ends_in(&queue, &job.id, JobState::Completed, String::new).await;
    assert_eq!(done.attempts, 3);
    let outcomes: Vec<&str> = done.history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retry", "retry", "success"]);
    assert_eq!(done.history[0].class.as_deref(), Some("server_error"));
    assert_eq!(done.history[0].http_status, Some(502));
    assert_eq!(done.history[0].attempt, 1);
    assert!(done.history[0].retry_in_ms.is_some());
    assert!(done.history[0].worker.as_deref().unwrap().contains(':'));
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.retried, stats.succeeded), (2, 1));
    fleet.stop().await;
}

#[tokio::test]
async fn terminal_failure_is_a_dead_letter_with_its_record() {
    let server = RedisServer::start();
    let queue = setup(&server, "terminal").await;
    let fleet = fleet(&queue).await;
    let job = queue
        .enqueue(&probe("terminal", 0), EnqueueOptions::default())
        .await
        .unwrap();
    let dead = ends_in(&queue, &job.id, JobState::Dead, String::new).await;
    assert_eq!(dead.attempts, 1, "terminal failures are not retried");
    let f = dead.last_error.as_ref().unwrap();
    assert_eq!(f.class, "flagged_user");
    assert_eq!(f.reason.as_deref(), Some("terminal"));
    assert_eq!(f.http_status, Some(200));
    assert_eq!(f.error_type.as_deref(), Some("FLAGGED_USER"));
    assert_eq!(f.code.as_deref(), Some("403"));
    assert_eq!(f.method.as_deref(), Some("verify"));
    assert!(f.body.as_deref().unwrap().contains("FLAGGED_USER"));
    assert!(dead.died_at.is_some());
    assert_eq!(dead.history.last().unwrap().outcome.as_str(), "dead");

    let letters = queue
        .dead_page(&DeadFilter::default(), 1, 10)
        .await
        .unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].id, job.id);
    assert_eq!(letters[0].class, "flagged_user");
    assert_eq!(letters[0].okra_type.as_deref(), Some("FLAGGED_USER"));
    assert_eq!(queue.dead_get(&job.id).await.unwrap().id, job.id);

    // apalis's AbortError is terminal too.
    let aborted = queue
        .enqueue(&probe("abort", 0), EnqueueOptions::default())
        .await
        .unwrap();
    let aborted = ends_in(&queue, &aborted.id, JobState::Dead, String::new).await;
    assert_eq!(aborted.last_error.unwrap().class, "aborted");
    fleet.stop().await;
}

#[tokio::test]
async fn attempts_exhausted_goes_dead() {
    let server = RedisServer::start();
    let queue = setup(&server, "exhaust").await;
    let fleet = fleet(&queue).await;
    let job = queue
        .enqueue(
            &probe("always", 0),
            EnqueueOptions::default().max_attempts(3),
        )
        .await
        .unwrap();
    let dead = ends_in(&queue, &job.id, JobState::Dead, String::new).await;
    assert_eq!(dead.attempts, 3);
    let f = dead.last_error.unwrap();
    assert_eq!(f.reason.as_deref(), Some("attempts_exhausted"));
    assert_eq!(f.class, "error");
    assert_eq!(f.message, "always fails");
    assert_eq!(dead.history.len(), 3);
    fleet.stop().await;
}

#[tokio::test]
async fn explicit_delay_is_honoured() {
    let server = RedisServer::start();
    let queue = setup(&server, "delay").await;
    let fleet = fleet(&queue).await;
    let started = Instant::now();
    let job = queue
        .enqueue(&probe("retry_after", 700), EnqueueOptions::default())
        .await
        .unwrap();
    let done = ends_in(&queue, &job.id, JobState::Completed, String::new).await;
    let gap = done.history[1].at - done.history[0].at;
    assert!(gap >= 700, "second attempt came {gap}ms after the first");
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert_eq!(done.history[0].class.as_deref(), Some("retry_after"));
    assert!(done.history[0].retry_in_ms.unwrap() >= 700);
    fleet.stop().await;
}

#[tokio::test]
async fn panics_are_failed_attempts_not_dead_workers() {
    let server = RedisServer::start();
    let queue = setup(&server, "panic").await;
    let fleet = fleet(&queue).await;
    let job = queue
        .enqueue(&probe("panic", 0), EnqueueOptions::default())
        .await
        .unwrap();
    let done = ends_in(&queue, &job.id, JobState::Completed, String::new).await;
    assert_eq!(done.history[0].class.as_deref(), Some("panic"));
    assert!(done.history[0].message.as_deref().unwrap().contains("boom"));
    // The loop still works afterwards.
    let next = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    ends_in(&queue, &next.id, JobState::Completed, String::new).await;
    fleet.stop().await;
}

#[tokio::test]
async fn idempotency_key_enqueues_once() {
    let server = RedisServer::start();
    let queue = setup(&server, "idem").await;
    let opts = EnqueueOptions::default().idempotency_key("order-42");
    let first = queue.enqueue(&probe("ok", 1), opts.clone()).await.unwrap();
    let second = queue.enqueue(&probe("ok", 2), opts.clone()).await.unwrap();
    assert!(!first.duplicate);
    assert!(second.duplicate);
    assert_eq!(first.id, second.id);
    // Duplicates inside one bulk call are caught too.
    let bulk = queue
        .enqueue_bulk(vec![
            (
                probe("ok", 3),
                EnqueueOptions::default().idempotency_key("k2"),
            ),
            (
                probe("ok", 4),
                EnqueueOptions::default().idempotency_key("k2"),
            ),
        ])
        .await
        .unwrap();
    assert!(!bulk[0].duplicate && bulk[1].duplicate);
    assert_eq!(bulk[0].id, bulk[1].id);
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.ready, stats.enqueued, stats.duplicates), (2, 2, 2));
    // The claim is named by the key's hash, never the key as given.
    let claim = queue.rdb().keys().idempotency(&queue.idem_key("order-42"));
    assert!(claim.starts_with("okq:{idem}:idem:#"), "{claim}");
    let key_ttl = server.cli(&["pttl", &claim]);
    let ttl: i64 = key_ttl.trim().parse().unwrap();
    assert!(
        ttl > 23 * 3600 * 1000,
        "idempotency claim keeps its TTL ({ttl})"
    );
}

#[tokio::test]
async fn delayed_job_does_not_run_early() {
    let server = RedisServer::start();
    let queue = setup(&server, "delayed").await;
    let fleet = fleet(&queue).await;
    let enqueued_at = Instant::now();
    let job = queue
        .enqueue(
            &probe("ok", 1),
            EnqueueOptions::delay(Duration::from_millis(800)),
        )
        .await
        .unwrap();
    assert_eq!(
        queue.state(&job.id).await.unwrap(),
        Some(JobState::Scheduled)
    );
    let rec = queue.job(&job.id).await.unwrap().unwrap();
    assert!(rec.due_at.is_some());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        queue.state(&job.id).await.unwrap(),
        Some(JobState::Scheduled)
    );
    let done = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert!(enqueued_at.elapsed() >= Duration::from_millis(800));
    assert_eq!(done.state, JobState::Completed);
    // run_at in the past runs at once
    let past = queue
        .enqueue(
            &probe("ok", 1),
            EnqueueOptions::default().run_at(SystemTime::now() - Duration::from_secs(5)),
        )
        .await
        .unwrap();
    ends_in(&queue, &past.id, JobState::Completed, String::new).await;
    fleet.stop().await;
}

#[tokio::test]
async fn idle_worker_picks_up_a_job_within_milliseconds() {
    let server = RedisServer::start();
    let queue = setup(&server, "wake").await;
    let mut opts = test_options();
    opts.poll_interval = Duration::from_secs(5); // only the wake-up can be this fast
    let fleet = start_fleet(&queue, opts, 2, handler).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // everyone idle and blocked
    let mut worst = Duration::ZERO;
    for i in 0..5 {
        let t = Instant::now();
        let job = queue
            .enqueue(&probe("ok", i), EnqueueOptions::default())
            .await
            .unwrap();
        queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
        worst = worst.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        worst < Duration::from_millis(500),
        "slowest pickup took {worst:?}"
    );
    fleet.stop().await;
}

#[tokio::test]
async fn invalid_payload_goes_straight_to_dead_letters() {
    let server = RedisServer::start();
    let queue = setup(&server, "garbage").await;
    let fleet = fleet(&queue).await;
    let raw = okra_queue::RawJob::new("probe", r#"{"not":"a probe"}"#, EnqueueOptions::default());
    let job = queue
        .enqueue_raw_bulk(vec![raw], |_| {})
        .await
        .unwrap()
        .remove(0);
    let dead = ends_in(&queue, &job.id, JobState::Dead, String::new).await;
    let f = dead.last_error.unwrap();
    assert_eq!(f.class, "invalid_payload");
    assert!(f.message.contains("mode"), "{}", f.message);
    assert_eq!(f.body.as_deref(), Some(r#"{"not":"a probe"}"#));
    // and the loop keeps working
    let ok = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    ends_in(&queue, &ok.id, JobState::Completed, String::new).await;
    fleet.stop().await;
}

#[tokio::test]
async fn retries_wait_in_redis_not_in_worker_memory() {
    let server = RedisServer::start();
    let mut cfg = test_config("durable");
    cfg.retry.base_delay = Duration::from_secs(60);
    cfg.retry.max_delay = Duration::from_secs(60);
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let fleet = start_fleet(
        &queue,
        test_options(),
        1,
        move |job: Probe, ctx: JobContext| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                handler(job, ctx).await
            }
        },
    )
    .await;
    let job = queue
        .enqueue(&probe("retry_after", 60_000), EnqueueOptions::default())
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "scheduled for retry", || async {
        queue.state(&job.id).await.unwrap() == Some(JobState::Scheduled)
    })
    .await;
    assert_eq!(
        fleet.runtime.in_flight(),
        0,
        "nothing held in memory while it waits"
    );
    let rec = queue.job(&job.id).await.unwrap().unwrap();
    assert!(rec.due_at.unwrap() >= okra_queue::job::now_ms() + 55_000);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    fleet.stop().await;
}

#[tokio::test]
async fn pause_stops_claims_and_resume_restarts_them() {
    let server = RedisServer::start();
    let queue = setup(&server, "pause").await;
    let fleet = fleet(&queue).await;
    queue.pause().await.unwrap();
    assert!(queue.stats().await.unwrap().paused);
    let job = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(queue.state(&job.id).await.unwrap(), Some(JobState::Ready));
    let t = Instant::now();
    queue.resume().await.unwrap();
    queue.wait(&job.id, Duration::from_secs(5)).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "resume wakes idle workers"
    );
    assert!(!queue.stats().await.unwrap().paused);
    fleet.stop().await;
}

#[tokio::test]
async fn connecting_to_a_dead_port_fails_with_a_clear_error() {
    let port = free_port();
    let settings = okra_queue::RedisSettings {
        connect_timeout: Duration::from_millis(300),
        ..okra_queue::RedisSettings::new(format!("redis://127.0.0.1:{port}"))
    };
    let err = Queue::connect(&settings, QueueConfig::new("x"))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot reach Redis at redis://127.0.0.1"),
        "{msg}"
    );
}
