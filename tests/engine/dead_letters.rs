//! Dead letters in the engine: requeue with a fresh budget, requeue later, the cap and TTL.

use super::*;

#[tokio::test]
async fn requeue_from_dead_gets_a_fresh_budget_and_keeps_history() {
    let server = RedisServer::start();
    let queue = setup(&server, "requeue").await;
    let fleet = fleet(&queue).await;
    let job = queue
        .enqueue(
            &probe("until_requeued", 0),
            EnqueueOptions::default().max_attempts(2),
        )
        .await
        .unwrap();
    ends_in(&queue, &job.id, JobState::Dead, String::new).await;
    assert_eq!(queue.stats().await.unwrap().dead, 1);
    // Ids that are not dead letters are skipped.
    let requeued = queue
        .dead_requeue(&[job.id.clone(), "nope".into()], RequeueAt::Now)
        .await
        .unwrap();
    assert_eq!(requeued, vec![job.id.clone()]);
    let done = ends_in(&queue, &job.id, JobState::Completed, String::new).await;
    assert_eq!(done.meta.requeues, 1);
    assert_eq!(done.attempts, 1, "a fresh attempt budget");
    assert_eq!(done.result.unwrap()["attempt"], 1);
    let outcomes: Vec<&str> = done.history.iter().map(|h| h.outcome.as_str()).collect();
    assert_eq!(outcomes, ["dead", "requeued", "success"]);
    assert_eq!(
        done.last_error.unwrap().class,
        "not_yet",
        "the old failure stays on record"
    );
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.requeued, stats.dead, stats.died), (1, 0, 1));
    fleet.stop().await;
}

#[tokio::test]
async fn requeue_at_a_later_time_schedules_the_job() {
    let server = RedisServer::start();
    let queue = setup(&server, "requeue_later").await;
    let fleet = fleet(&queue).await;
    let job = queue
        .enqueue(&probe("terminal", 0), EnqueueOptions::default())
        .await
        .unwrap();
    queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    fleet.stop().await;
    let r = queue
        .dead_requeue(
            std::slice::from_ref(&job.id),
            RequeueAt::After(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    assert_eq!(r.len(), 1);
    let rec = queue.job(&job.id).await.unwrap().unwrap();
    assert_eq!(rec.state, JobState::Scheduled);
    assert_eq!(rec.attempts, 0);
    assert!(rec.due_at.unwrap() > okra_queue::job::now_ms() + 50_000);
    assert_eq!(queue.stats().await.unwrap().dead, 0);
}

#[tokio::test]
async fn dead_set_cap_and_ttl_trims_are_counted() {
    let server = RedisServer::start();
    let mut cfg = test_config("trim");
    cfg.dead.max = 5;
    cfg.dead.ttl = Duration::from_secs(2);
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    // The janitor's loop would trim on its own; its single pass is called here instead.
    let mut opts = test_options();
    opts.trim_interval = Duration::from_secs(3600);
    let fleet = start_fleet(&queue, opts, 1, handler).await;
    let jobs: Vec<_> = (0..8)
        .map(|i| (probe("terminal", i), EnqueueOptions::default()))
        .collect();
    queue.enqueue_bulk(jobs).await.unwrap();
    eventually(Duration::from_secs(10), "all 8 died", || async {
        queue.stats().await.unwrap().died == 8
    })
    .await;
    fleet.runtime.trim_once().await.unwrap();
    let s = queue.stats().await.unwrap();
    assert_eq!((s.dead, s.dead_trimmed), (5, 3), "the cap trimmed 3: {s:?}");
    // The trimmed letters' data is gone, not just their ids.
    let payloads: u64 = server
        .cli(&["hlen", "okq:{trim}:job"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(payloads, 5);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    fleet.runtime.trim_once().await.unwrap();
    let s = queue.stats().await.unwrap();
    assert_eq!(
        (s.dead, s.dead_trimmed),
        (0, 8),
        "the TTL trimmed the rest: {s:?}"
    );
    let index: u64 = server
        .cli(&["zcard", "okq:{trim}:dead_index"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(index, 0, "the filter index is trimmed too");
    fleet.stop().await;
}

#[tokio::test]
async fn okras_answer_leaves_a_dead_letter_after_the_answer_retention() {
    let server = RedisServer::start();
    let mut cfg = test_config("answers");
    cfg.dead.answer_retention = Duration::from_millis(300);
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let mut opts = test_options();
    opts.trim_interval = Duration::from_secs(3600);
    let fleet = start_fleet(&queue, opts, 1, handler).await;
    let old = queue
        .enqueue(&probe("terminal", 1), EnqueueOptions::default())
        .await
        .unwrap()
        .id;
    queue.wait(&old, Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let young = queue
        .enqueue(&probe("terminal", 2), EnqueueOptions::default())
        .await
        .unwrap()
        .id;
    queue.wait(&young, Duration::from_secs(10)).await.unwrap();
    fleet.runtime.trim_once().await.unwrap();
    let old = queue.dead_get(&old).await.unwrap();
    let f = old.last_error.unwrap();
    assert_eq!(f.body, None, "the answer is gone");
    assert_eq!(
        (f.class.as_str(), f.http_status, f.error_type.as_deref()),
        ("flagged_user", Some(200), Some("FLAGGED_USER")),
        "class, status and type stay"
    );
    assert_eq!(f.message, "customer is flagged");
    assert_eq!(old.history.len(), 1);
    let young = queue.dead_get(&young).await.unwrap();
    assert!(
        young.last_error.unwrap().body.is_some(),
        "within the retention"
    );
    // The letter is still listed and filtered by what stayed.
    let filter = DeadFilter {
        http_status: Some(200),
        ..DeadFilter::default()
    };
    assert_eq!(queue.dead_count(&filter).await.unwrap(), 2);
    fleet.stop().await;
}
