//! The queue engine against a real `redis-server` (and a real 3-master Redis Cluster).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use apalis::prelude::{AbortError, BoxDynError, RetryAfterError};
use common::*;
use okra_queue::HistoryKind;
use okra_queue::rdb::{Applied, ClaimReply, OutcomeEntry, Transition};
use okra_queue::{
    DeadFilter, EnqueueOptions, HistoryEntry, Job, JobContext, JobError, JobState, Queue,
    QueueConfig, RequeueAt,
};
use serde::{Deserialize, Serialize};

/// A test job whose `mode` says how its handler behaves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Probe {
    mode: String,
    #[serde(default)]
    n: u64,
}

impl Job for Probe {
    fn kind(&self) -> &str {
        "probe"
    }
    fn validate(&self) -> Result<(), String> {
        if self.mode.is_empty() {
            return Err("mode is required".into());
        }
        Ok(())
    }
}

fn probe(mode: &str, n: u64) -> Probe {
    Probe {
        mode: mode.into(),
        n,
    }
}

async fn handler(job: Probe, ctx: JobContext) -> Result<serde_json::Value, BoxDynError> {
    match job.mode.as_str() {
        "ok" => Ok(serde_json::json!({ "double": job.n * 2, "attempt": ctx.attempt })),
        // fails with a retryable error for the first `n` attempts
        "flaky" if (ctx.attempt as u64) <= job.n => {
            Err(JobError::retryable("server_error", "upstream 502")
                .http_status(502)
                .into())
        }
        "flaky" => Ok(serde_json::json!({ "attempt": ctx.attempt })),
        "terminal" => Err(JobError::terminal("flagged_user", "customer is flagged")
            .http_status(200)
            .upstream(
                Some("FLAGGED_USER".into()),
                Some("403".into()),
                Some("verify".into()),
            )
            .body(r#"{"status":"error","type":"FLAGGED_USER"}"#)
            .into()),
        "abort" => Err(AbortError::new("bad input").into()),
        "always" => Err("always fails".into()),
        "retry_after" if ctx.attempt == 1 => {
            Err(RetryAfterError::new("http 429", Duration::from_millis(job.n)).into())
        }
        "retry_after" => Ok(serde_json::json!({ "attempt": ctx.attempt })),
        "sleep" => {
            tokio::time::sleep(Duration::from_millis(job.n)).await;
            Ok(serde_json::json!("slept"))
        }
        "until_requeued" if ctx.meta.requeues == 0 => {
            Err(JobError::terminal("not_yet", "fails until an operator requeues it").into())
        }
        "until_requeued" => {
            Ok(serde_json::json!({ "requeues": ctx.meta.requeues, "attempt": ctx.attempt }))
        }
        "panic" if ctx.attempt == 1 => panic!("boom"),
        "panic" => Ok(serde_json::json!("recovered")),
        other => Err(JobError::terminal("unknown_mode", other).into()),
    }
}

async fn setup(server: &RedisServer, name: &str) -> Queue {
    Queue::connect(&server.settings(), test_config(name))
        .await
        .unwrap()
}

async fn fleet(queue: &Queue) -> Fleet {
    start_fleet(queue, test_options(), 2, handler).await
}

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
    let done = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.state, JobState::Completed);
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
    let done = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.state, JobState::Completed);
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
    let dead = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(dead.state, JobState::Dead);
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
    let aborted = queue
        .wait(&aborted.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(aborted.state, JobState::Dead);
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
    let dead = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(dead.state, JobState::Dead);
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
    let done = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.state, JobState::Completed);
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
    let done = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.history[0].class.as_deref(), Some("panic"));
    assert!(done.history[0].message.as_deref().unwrap().contains("boom"));
    // The loop still works afterwards.
    let next = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    assert_eq!(
        queue
            .wait(&next.id, Duration::from_secs(10))
            .await
            .unwrap()
            .state,
        JobState::Completed
    );
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
    let key_ttl = server.cli(&["pttl", "okq:{idem}:idem:order-42"]);
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
    assert_eq!(
        queue
            .wait(&past.id, Duration::from_secs(5))
            .await
            .unwrap()
            .state,
        JobState::Completed
    );
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
    let dead = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(dead.state, JobState::Dead);
    let f = dead.last_error.unwrap();
    assert_eq!(f.class, "invalid_payload");
    assert!(f.message.contains("mode"), "{}", f.message);
    assert_eq!(f.body.as_deref(), Some(r#"{"not":"a probe"}"#));
    // and the loop keeps working
    let ok = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    assert_eq!(
        queue
            .wait(&ok.id, Duration::from_secs(10))
            .await
            .unwrap()
            .state,
        JobState::Completed
    );
    fleet.stop().await;
}

#[tokio::test]
async fn late_outcome_is_rejected_and_counted() {
    let server = RedisServer::start();
    let queue = setup(&server, "late").await;
    let job = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    let rdb = queue.rdb();
    let ClaimReply::Claimed { jobs, .. } = rdb
        .claim("w1", 10, Duration::from_millis(300), None)
        .await
        .unwrap()
    else {
        panic!("expected a claim");
    };
    let first = jobs[0].lease.clone();
    // The lease runs out; a reaper (a runtime with no worker loops) takes the job back.
    let rt = queue.runtime(test_options()).await.unwrap();
    eventually(Duration::from_secs(5), "reaped", || async {
        queue.state(&job.id).await.unwrap() != Some(JobState::Running)
    })
    .await;
    let jobs = loop {
        // The retry is due within 100 ms; the claim script promotes it.
        match rdb
            .claim("w2", 10, Duration::from_secs(30), None)
            .await
            .unwrap()
        {
            ClaimReply::Claimed { jobs, .. } => break jobs,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(jobs[0].lease.token > first.token);
    let late = OutcomeEntry {
        lease: first,
        transition: Transition::Complete,
        delay_ms: 0,
        refund: false,
        history: HistoryEntry {
            outcome: HistoryKind::Success,
            ..HistoryEntry::default()
        },
        data: "\"late\"".into(),
        dims: vec![],
        fence: false,
        kind: "probe".into(),
        reason: None,
    };
    let applied = rdb.apply(&[late], 25, false).await.unwrap();
    assert_eq!(applied, vec![Applied::Late]);
    let rec = queue.job(&job.id).await.unwrap().unwrap();
    assert_eq!(
        rec.state,
        JobState::Running,
        "the late outcome changed nothing"
    );
    assert!(rec.result.is_none());
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.late_outcomes, 1);
    assert_eq!(stats.lease_expired, 1);
    rt.shutdown().await;
}

#[tokio::test]
async fn twenty_thousand_jobs_at_once_then_drained() {
    let server = RedisServer::start();
    let queue = setup(&server, "bulk").await;
    let jobs: Vec<_> = (0..20_000)
        .map(|i| (probe("ok", i), EnqueueOptions::default()))
        .collect();
    let out = queue.enqueue_bulk(jobs).await.unwrap();
    assert_eq!(out.len(), 20_000);
    assert_eq!(queue.stats().await.unwrap().ready, 20_000);
    let mut opts = test_options();
    opts.concurrency = 500;
    opts.batch = 500;
    let fleet = start_fleet(&queue, opts, 2, handler).await;
    eventually(Duration::from_secs(60), "drained", || async {
        queue.stats().await.unwrap().completed == 20_000
    })
    .await;
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.ready, stats.running, stats.succeeded),
        (0, 0, 20_000)
    );
    fleet.stop().await;
}

#[tokio::test]
async fn hundred_thousand_jobs_in_one_bulk_call_and_a_million_due_ones_promote_in_batches() {
    let server = RedisServer::start();
    let queue = setup(&server, "huge").await;
    let jobs: Vec<_> = (0..100_000)
        .map(|i| {
            (
                probe("ok", i),
                EnqueueOptions::delay(Duration::from_millis(50)),
            )
        })
        .collect();
    let out = queue.enqueue_bulk(jobs).await.unwrap();
    assert_eq!(out.len(), 100_000);
    assert_eq!(queue.stats().await.unwrap().scheduled, 100_000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Each call moves at most 1,000 and says whether more are due now.
    let mut calls = 0;
    while queue.rdb().forward().await.unwrap() == Some(Duration::ZERO) {
        calls += 1;
        assert!(calls <= 200, "forward moves due jobs in bounded batches");
    }
    assert!(
        calls >= 99,
        "100,000 due jobs take about 100 calls, not {calls}"
    );
    assert_eq!(queue.stats().await.unwrap().ready, 100_000);
}

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
    let dead = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(dead.state, JobState::Dead);
    assert_eq!(queue.stats().await.unwrap().dead, 1);
    // Ids that are not dead letters are skipped.
    let requeued = queue
        .dead_requeue(&[job.id.clone(), "nope".into()], RequeueAt::Now)
        .await
        .unwrap();
    assert_eq!(requeued, vec![job.id.clone()]);
    let done = queue.wait(&job.id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.state, JobState::Completed);
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
async fn dead_set_cap_and_ttl_trims_are_counted() {
    let server = RedisServer::start();
    let mut cfg = test_config("trim");
    cfg.dead.max = 5;
    cfg.dead.ttl = Duration::from_secs(2);
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let fleet = start_fleet(&queue, test_options(), 1, handler).await;
    let jobs: Vec<_> = (0..8)
        .map(|i| (probe("terminal", i), EnqueueOptions::default()))
        .collect();
    queue.enqueue_bulk(jobs).await.unwrap();
    eventually(
        Duration::from_secs(10),
        "all 8 died and the cap trimmed 3",
        || async {
            let s = queue.stats().await.unwrap();
            s.died == 8 && s.dead == 5 && s.dead_trimmed == 3
        },
    )
    .await;
    // The trimmed letters' data is gone, not just their ids.
    let payloads: u64 = server
        .cli(&["hlen", "okq:{trim}:job"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(payloads, 5);
    eventually(
        Duration::from_secs(10),
        "the TTL trimmed the rest",
        || async {
            let s = queue.stats().await.unwrap();
            s.dead == 0 && s.dead_trimmed == 8
        },
    )
    .await;
    let index: u64 = server
        .cli(&["zcard", "okq:{trim}:dead_index"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(index, 0, "the filter index is trimmed too");
    fleet.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_lets_short_jobs_finish() {
    let server = RedisServer::start();
    let queue = setup(&server, "grace").await;
    let fleet = fleet(&queue).await;
    let jobs: Vec<_> = (0..4)
        .map(|_| (probe("sleep", 300), EnqueueOptions::default()))
        .collect();
    let ids = queue.enqueue_bulk(jobs).await.unwrap();
    eventually(Duration::from_secs(5), "running", || async {
        queue.stats().await.unwrap().running == 4
    })
    .await;
    let report = fleet.stop().await;
    assert_eq!(report.released, 0);
    for e in ids {
        assert_eq!(queue.state(&e.id).await.unwrap(), Some(JobState::Completed));
    }
}

#[tokio::test]
async fn graceful_shutdown_returns_unfinished_leases_without_spending_attempts() {
    let server = RedisServer::start();
    let queue = setup(&server, "release").await;
    let mut opts = test_options();
    opts.shutdown_grace = Duration::from_millis(300);
    let fleet = start_fleet(&queue, opts, 2, handler).await;
    let jobs: Vec<_> = (0..5)
        .map(|_| (probe("sleep", 30_000), EnqueueOptions::default()))
        .collect();
    let ids = queue.enqueue_bulk(jobs).await.unwrap();
    eventually(Duration::from_secs(5), "running", || async {
        queue.stats().await.unwrap().running == 5
    })
    .await;
    let t = Instant::now();
    let report = fleet.stop().await;
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(report.released, 5);
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.ready, stats.running, stats.released), (5, 0, 5));
    assert_eq!(stats.workers, 0, "the heartbeat is removed");
    for e in ids {
        let rec = queue.job(&e.id).await.unwrap().unwrap();
        assert_eq!(rec.state, JobState::Ready);
        assert_eq!(rec.attempts, 0, "the attempt is refunded");
        assert_eq!(rec.history.last().unwrap().outcome.as_str(), "released");
    }
}

#[tokio::test]
async fn worker_survives_a_redis_restart() {
    let mut server = RedisServer::start();
    let queue = setup(&server, "restart").await;
    let fleet = fleet(&queue).await;
    let before = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    queue
        .wait(&before.id, Duration::from_secs(10))
        .await
        .unwrap();
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(queue.stats().await.is_err(), "Redis is down");
    server.restart();
    let mut after = None;
    for _ in 0..50 {
        match queue
            .enqueue(&probe("ok", 2), EnqueueOptions::default())
            .await
        {
            Ok(e) => {
                after = Some(e);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let after = after.expect("producer reconnects");
    let done = queue
        .wait(&after.id, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(done.state, JobState::Completed);
    fleet.stop().await;
}

/// The job under test kills (SIGKILL) or aborts its worker process: a child copy of this test
/// binary running `child_worker`.
fn spawn_child_worker(url: &str, queue: &str, mode: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OKQ_CHILD_URL", url)
        .env("OKQ_CHILD_QUEUE", queue)
        .env("OKQ_CHILD_MODE", mode)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
#[ignore = "runs only as a child process of the crash tests"]
async fn child_worker() {
    let (Ok(url), Ok(name), Ok(mode)) = (
        std::env::var("OKQ_CHILD_URL"),
        std::env::var("OKQ_CHILD_QUEUE"),
        std::env::var("OKQ_CHILD_MODE"),
    ) else {
        return;
    };
    let queue = Queue::connect(&okra_queue::RedisSettings::new(url), test_config(&name))
        .await
        .unwrap();
    let mut opts = test_options();
    opts.lease = Duration::from_millis(800);
    let marker = queue.clone();
    let _fleet = start_fleet(&queue, opts, 1, move |job: Probe, ctx: JobContext| {
        let marker = marker.clone();
        let mode = mode.clone();
        async move {
            // Tell the parent the job is running (a key it can poll).
            let _: () = redis::cmd("SET")
                .arg(format!("okq-test:{}:running", job.n))
                .arg(ctx.attempt)
                .query_async(&mut marker.rdb().conn())
                .await
                .unwrap();
            if mode == "abort" {
                std::process::abort();
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok::<_, BoxDynError>(serde_json::json!(null))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn job_of_a_killed_worker_runs_again_after_its_lease() {
    let server = RedisServer::start();
    let queue = setup(&server, "killed").await;
    let job = queue
        .enqueue(&probe("ok", 7), EnqueueOptions::default())
        .await
        .unwrap();
    let mut child = spawn_child_worker(&server.url(), "killed", "sleep");
    eventually(Duration::from_secs(10), "child runs the job", || async {
        server.cli(&["get", "okq-test:7:running"]).trim() == "1"
    })
    .await;
    child.kill().unwrap(); // SIGKILL mid-job: no shutdown code runs
    child.wait().unwrap();
    assert_eq!(queue.state(&job.id).await.unwrap(), Some(JobState::Running));
    let fleet = fleet(&queue).await;
    let done = queue.wait(&job.id, Duration::from_secs(15)).await.unwrap();
    assert_eq!(done.state, JobState::Completed);
    assert_eq!(done.attempts, 2, "the crashed attempt counts");
    assert_eq!(done.history[0].class.as_deref(), Some("lease_expired"));
    assert_eq!(done.result.unwrap()["attempt"], 2);
    fleet.stop().await;
}

#[tokio::test]
async fn job_that_kills_its_worker_every_time_dies_after_max_attempts() {
    let server = RedisServer::start();
    let queue = setup(&server, "poison").await;
    let job = queue
        .enqueue(&probe("ok", 9), EnqueueOptions::default().max_attempts(3))
        .await
        .unwrap();
    let reaper = queue.runtime(test_options()).await.unwrap();
    let mut crashes = 0;
    while queue.state(&job.id).await.unwrap() != Some(JobState::Dead) {
        assert!(crashes < 6, "the poison pill must die after 3 attempts");
        let mut child = spawn_child_worker(&server.url(), "poison", "abort");
        let _ = child.wait();
        crashes += 1;
        eventually(Duration::from_secs(10), "lease reaped", || async {
            queue.state(&job.id).await.unwrap() != Some(JobState::Running)
        })
        .await;
    }
    let dead = queue.job(&job.id).await.unwrap().unwrap();
    assert_eq!(crashes, 3);
    assert_eq!(dead.attempts, 3);
    let f = dead.last_error.unwrap();
    assert_eq!(f.class, "lease_expired");
    assert_eq!(f.reason.as_deref(), Some("attempts_exhausted"));
    reaper.shutdown().await;
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

/// The core flow on a real 3-master Redis Cluster: enqueue, claim, retry, dead, requeue.
#[tokio::test]
async fn core_flow_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    let settings = cluster.settings();
    // Queues whose hash tags land on the three different masters (slots 2653, 8336, 15536).
    for name in ["identity", "company", "nin"] {
        let queue = Queue::connect(&settings, test_config(name)).await.unwrap();
        let fleet = start_fleet(&queue, test_options(), 2, handler).await;
        let ok = queue
            .enqueue(&probe("ok", 1), EnqueueOptions::default())
            .await
            .unwrap();
        let flaky = queue
            .enqueue(&probe("flaky", 1), EnqueueOptions::default())
            .await
            .unwrap();
        let dead = queue
            .enqueue(&probe("terminal", 0), EnqueueOptions::default())
            .await
            .unwrap();
        let bulk: Vec<_> = (0..2000)
            .map(|i| (probe("ok", i), EnqueueOptions::default()))
            .collect();
        queue.enqueue_bulk(bulk).await.unwrap();
        assert_eq!(
            queue
                .wait(&ok.id, Duration::from_secs(10))
                .await
                .unwrap()
                .state,
            JobState::Completed
        );
        let f = queue
            .wait(&flaky.id, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!((f.state, f.attempts), (JobState::Completed, 2));
        let d = queue.wait(&dead.id, Duration::from_secs(10)).await.unwrap();
        assert_eq!(d.state, JobState::Dead);
        let filter = DeadFilter {
            class: Some("flagged_user".into()),
            ..DeadFilter::default()
        };
        assert_eq!(queue.dead_count(&filter).await.unwrap(), 1);
        let report = queue
            .dead_requeue_matching(&filter, RequeueAt::Now, |_| {})
            .await
            .unwrap();
        assert_eq!(report.changed, 1);
        eventually(
            Duration::from_secs(10),
            "requeued job died again",
            || async { queue.stats().await.unwrap().died == 2 },
        )
        .await;
        eventually(Duration::from_secs(20), "bulk drained", || async {
            queue.stats().await.unwrap().completed == 2002
        })
        .await;
        fleet.stop().await;
    }
    for port in &cluster.ports {
        let keys: u64 = redis_cli(*port, &["dbsize"]).trim().parse().unwrap();
        assert!(keys > 0, "master on port {port} holds one of the queues");
    }
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
