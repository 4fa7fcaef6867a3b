//! The engine's fault semantics against a real `redis-server`: scripts that validate before
//! their first write, orphans, partial bulk enqueues, one clock, fleet budgets, on-time retries,
//! and an outage that makes nothing run twice.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apalis::prelude::BoxDynError;
use common::*;
use okra_queue::job::Lease;
use okra_queue::rdb::{Applied, ClaimReply, ClaimedJob, Dim, OutcomeEntry, Transition};
use okra_queue::{
    EnqueueOptions, HistoryEntry, Job, JobContext, JobError, JobState, Queue, QueueError, RequeueAt,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Task(u64);

impl Job for Task {
    fn kind(&self) -> &str {
        "task"
    }
}

async fn queue(server: &RedisServer, name: &str) -> Queue {
    Queue::connect(&server.settings(), test_config(name))
        .await
        .unwrap()
}

async fn enqueue(q: &Queue, n: u64) -> String {
    q.enqueue(&Task(n), EnqueueOptions::default())
        .await
        .unwrap()
        .id
}

async fn claim(q: &Queue, max: usize) -> Vec<ClaimedJob> {
    match q
        .rdb()
        .claim("tester:1:x/loop", max, Duration::from_secs(30), None)
        .await
        .unwrap()
    {
        ClaimReply::Claimed { jobs, .. } => jobs,
        other => panic!("expected a claim, got {other:?}"),
    }
}

fn entry(lease: Lease, transition: Transition) -> OutcomeEntry {
    OutcomeEntry {
        lease,
        transition,
        delay_ms: 0,
        refund: transition == Transition::Release,
        history: HistoryEntry {
            outcome: transition.history(),
            ..HistoryEntry::default()
        },
        data: r#"{"class":"test","message":"m"}"#.into(),
        dims: vec![Dim::class("test"), Dim::kind("task")],
        fence: false,
        kind: "task".into(),
        reason: None,
        carried: Vec::new(),
    }
}

/// Every key of the server with its `DUMP`: equal snapshots mean nothing was written.
/// Every key's serialized value, but the audit trail's (which records every operator call,
/// including ones that change nothing).
async fn snapshot(q: &Queue) -> BTreeMap<String, Vec<u8>> {
    let mut conn = q.rdb().conn();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for k in keys.into_iter().filter(|k| k != okra_queue::keys::AUDIT) {
        let v: Vec<u8> = redis::cmd("DUMP")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        out.insert(k, v);
    }
    out
}

async fn cmd(q: &Queue, args: &[&str]) -> redis::Value {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query_async(&mut q.rdb().conn()).await.unwrap()
}

async fn make_dead(q: &Queue, n: u64) -> String {
    let id = enqueue(q, n).await;
    let job = claim(q, 1).await.remove(0);
    assert_eq!(job.lease.id, id);
    let applied = q
        .rdb()
        .apply(&[entry(job.lease, Transition::Dead)], 25, false)
        .await
        .unwrap();
    assert_eq!(applied, vec![Applied::Applied]);
    id
}

#[tokio::test]
async fn requeue_leaves_an_undecodable_letter_dead_and_untouched() {
    let server = RedisServer::start();
    let q = queue(&server, "rq").await;
    let bad = make_dead(&q, 1).await;
    let good = make_dead(&q, 2).await;
    let k = q.rdb().keys().clone();
    cmd(&q, &["HSET", &k.job(), &bad, "not json\n{}"]).await;
    let before = snapshot(&q).await;
    let requeued = q
        .dead_requeue(std::slice::from_ref(&bad), RequeueAt::Now)
        .await
        .unwrap();
    assert!(requeued.is_empty());
    assert_eq!(snapshot(&q).await, before, "nothing changed");
    // In one call with a good letter, only the good one moves.
    let requeued = q
        .dead_requeue(&[bad.clone(), good.clone()], RequeueAt::Now)
        .await
        .unwrap();
    assert_eq!(requeued, vec![good.clone()]);
    assert_eq!(q.state(&bad).await.unwrap(), Some(JobState::Dead));
    assert_eq!(q.state(&good).await.unwrap(), Some(JobState::Ready));
}

#[tokio::test]
async fn enqueue_refuses_a_foreign_idempotency_key_before_writing() {
    let server = RedisServer::start();
    let q = queue(&server, "eq").await;
    let k = q.rdb().keys().clone();
    cmd(&q, &["HSET", &k.idempotency("taken"), "f", "v"]).await;
    let before = snapshot(&q).await;
    let jobs = vec![
        (Task(1), EnqueueOptions::default()),
        (Task(2), EnqueueOptions::default().idempotency_key("fine")),
        (Task(3), EnqueueOptions::default().idempotency_key("taken")),
    ];
    let err = q.enqueue_bulk(jobs).await.unwrap_err();
    let QueueError::PartialEnqueue(p) = err else {
        panic!("expected a partial enqueue report, got {err}");
    };
    assert!(p.written.is_empty(), "{p:?}");
    assert_eq!(p.unwritten, vec![0..3]);
    assert!(p.error.contains("not a string"), "{}", p.error);
    assert_eq!(snapshot(&q).await, before, "nothing changed");
}

#[tokio::test]
async fn a_bulk_enqueue_that_fails_part_way_says_exactly_what_it_wrote() {
    let server = RedisServer::start();
    let q = queue(&server, "bulk").await;
    let k = q.rdb().keys().clone();
    cmd(&q, &["HSET", &k.idempotency("taken"), "f", "v"]).await;
    // 6,500 jobs in chunks of 1,000; the one at position 4,100 (chunk 5) is refused.
    let jobs: Vec<_> = (0..6_500u64)
        .map(|i| {
            let o = if i == 4_100 {
                EnqueueOptions::default().idempotency_key("taken")
            } else {
                EnqueueOptions::default()
            };
            (Task(i), o)
        })
        .collect();
    let QueueError::PartialEnqueue(p) = q.enqueue_bulk(jobs).await.unwrap_err() else {
        panic!("expected a partial enqueue report");
    };
    assert!(p.unknown.is_empty());
    let written: Vec<usize> = p.written.iter().map(|(i, _)| *i).collect();
    assert!(
        written.len() >= 4_000,
        "chunks before the failure were written"
    );
    assert!(p.unwritten.iter().any(|r| r.contains(&4_100)));
    let unwritten: usize = p.unwritten.iter().map(|r| r.len()).sum();
    assert_eq!(written.len() + unwritten, 6_500, "{p}");
    // What it says was written is there, and nothing else is.
    let ids: Vec<String> = p.written.iter().map(|(_, e)| e.id.clone()).collect();
    let states = q.rdb().states(&ids).await.unwrap();
    assert!(states.iter().all(|s| *s == Some(JobState::Ready)));
    assert_eq!(q.stats().await.unwrap().ready, written.len() as u64);
    assert_eq!(p.unconfirmed, None, "no durability asked");

    // Asked to confirm on a replica, and none there: what it wrote is said not durable too.
    let settings = okra_queue::RedisSettings {
        durability: okra_queue::rdb::Durability::Replica,
        durability_timeout: Duration::from_millis(200),
        ..server.settings()
    };
    let q = Queue::connect(&settings, test_config("bulk"))
        .await
        .unwrap();
    let jobs = (0..1_500u64).map(|i| {
        let o = EnqueueOptions::default();
        (
            Task(i),
            if i == 1_100 {
                o.idempotency_key("taken")
            } else {
                o
            },
        )
    });
    let QueueError::PartialEnqueue(p) = q.enqueue_bulk(jobs).await.unwrap_err() else {
        panic!("expected a partial enqueue report");
    };
    assert_eq!(p.written.len(), 1_000, "{p}");
    let why = p.unconfirmed.as_deref().expect("not durable");
    assert!(why.contains("replica"), "{why}");
    assert!(p.to_string().contains("not durable"), "{p}");
}

#[tokio::test]
async fn outcome_with_a_corrupt_attempt_count_never_fails_half_way() {
    let server = RedisServer::start();
    let q = queue(&server, "oc").await;
    enqueue(&q, 1).await;
    enqueue(&q, 2).await;
    let jobs = claim(&q, 2).await;
    let k = q.rdb().keys().clone();
    cmd(
        &q,
        &["HSET", &k.attempts(), &jobs[1].lease.id, "not a number"],
    )
    .await;
    cmd(&q, &["HSET", &k.history(), &jobs[1].lease.id, "garbage"]).await;
    let applied = q
        .rdb()
        .apply(
            &[
                entry(jobs[0].lease.clone(), Transition::Complete),
                entry(jobs[1].lease.clone(), Transition::Release),
            ],
            25,
            false,
        )
        .await
        .unwrap();
    assert_eq!(applied, vec![Applied::Applied, Applied::Applied]);
    assert_eq!(
        q.state(&jobs[0].lease.id).await.unwrap(),
        Some(JobState::Completed)
    );
    let r = q.job(&jobs[1].lease.id).await;
    assert!(r.is_err() || r.unwrap().unwrap().state == JobState::Ready);
}

#[tokio::test]
async fn claim_drops_orphan_ids_and_counts_them() {
    let server = RedisServer::start();
    let q = queue(&server, "orphans").await;
    let id = enqueue(&q, 1).await;
    let k = q.rdb().keys().clone();
    cmd(&q, &["RPUSH", &k.ready(), "ghost"]).await;
    let reply = q
        .rdb()
        .claim("w:1:x/l", 10, Duration::from_secs(30), None)
        .await
        .unwrap();
    let ClaimReply::Claimed { jobs, orphans, .. } = reply else {
        panic!("expected a claim");
    };
    assert_eq!(orphans, vec!["ghost".to_string()]);
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].lease.id, id);
    assert_eq!(q.stats().await.unwrap().orphans, 1);
}

#[tokio::test]
async fn extend_and_the_reaper_never_touch_a_foreign_lease() {
    let server = RedisServer::start();
    let q = queue(&server, "foreign").await;
    enqueue(&q, 1).await;
    let job = claim(&q, 1).await.remove(0);
    let k = q.rdb().keys().clone();
    // A lease value written by something else (not the claim's token), the claim past its
    // deadline, and a member of `running` that is no claim at all.
    cmd(&q, &["HSET", &k.lease(), &job.lease.id, "garbage"]).await;
    cmd(&q, &["ZADD", &k.running(), "1", &job.lease.stored]).await;
    cmd(&q, &["ZADD", &k.running(), "1", "foreign"]).await;
    let before = snapshot(&q).await;
    let (_, lost) = q
        .rdb()
        .extend(
            Duration::from_secs(30),
            None,
            std::slice::from_ref(&job.lease),
        )
        .await
        .unwrap();
    assert_eq!(lost, vec![job.lease.clone()]);
    assert_eq!(snapshot(&q).await, before, "extend changed nothing");
    // The reaper finds no job still leased to the expired claim: nothing to take back. It
    // drops the empty claim (housekeeping) and leaves the garbage lease and the stranger alone.
    let (_, expired) = q.rdb().expired(10).await.unwrap();
    assert!(expired.is_empty(), "{expired:?}");
    let after = snapshot(&q).await;
    let changed: std::collections::BTreeSet<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        vec![&k.claims(), &k.running()]
    );
    let members = server.cli(&["zrange", &k.running(), "0", "-1"]);
    assert_eq!(members.trim(), "foreign");
    assert_eq!(
        server.cli(&["hget", &k.lease(), &job.lease.id]).trim(),
        "garbage"
    );
    // A reaper's fenced decision on a job whose lease is not its claim's is a race, not a write.
    let before = snapshot(&q).await;
    let mut e = entry(job.lease.clone(), Transition::Retry);
    e.fence = true;
    assert_eq!(
        q.rdb().apply(&[e], 25, false).await.unwrap(),
        vec![Applied::Race]
    );
    let after = snapshot(&q).await;
    let changed: Vec<_> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(
        changed,
        vec![&k.stats()],
        "only the reap_races counter moved"
    );
    assert_eq!(q.stats().await.unwrap().reap_races, 1);
}

#[tokio::test]
async fn trim_drops_a_corrupt_completed_entry_without_stalling() {
    let server = RedisServer::start();
    let q = queue(&server, "trim").await;
    enqueue(&q, 1).await;
    let job = claim(&q, 1).await.remove(0);
    q.rdb()
        .apply(&[entry(job.lease.clone(), Transition::Complete)], 25, false)
        .await
        .unwrap();
    let k = q.rdb().keys().clone();
    cmd(&q, &["LPUSH", &k.completed(), "zzz-not-an-entry"]).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (_, _, removed) = q
        .rdb()
        .trim(0, Duration::ZERO, Duration::from_millis(1), 1000)
        .await
        .unwrap();
    assert_eq!(removed, 1, "the job; the stranger entry is dropped too");
    assert!(q.job(&job.lease.id).await.unwrap().is_none());
    assert_eq!(server.cli(&["llen", &k.completed()]).trim(), "0");
}

#[tokio::test]
async fn delete_copes_with_a_letter_whose_record_is_gone() {
    let server = RedisServer::start();
    let q = queue(&server, "del").await;
    let id = make_dead(&q, 1).await;
    let k = q.rdb().keys().clone();
    cmd(&q, &["HDEL", &k.job(), &id]).await;
    cmd(&q, &["HDEL", &k.dindex(), &id]).await;
    assert_eq!(
        q.dead_delete(std::slice::from_ref(&id)).await.unwrap(),
        vec![id]
    );
    assert_eq!(q.stats().await.unwrap().dead, 0);
}

#[tokio::test]
async fn created_at_and_the_window_are_redis_time() {
    let server = RedisServer::start();
    let q = queue(&server, "clock").await;
    let time = |v: redis::Value| -> u64 {
        let t: (u64, u64) = redis::from_redis_value(v).unwrap();
        t.0 * 1000 + t.1 / 1000
    };
    let before = time(cmd(&q, &["TIME"]).await);
    let id = enqueue(&q, 1).await;
    let after = time(cmd(&q, &["TIME"]).await);
    let rec = q.job(&id).await.unwrap().unwrap();
    assert!(before <= rec.meta.created_at && rec.meta.created_at <= after);
    assert_eq!(rec.meta.window_start, rec.meta.created_at);
}

#[tokio::test]
async fn a_job_without_a_budget_follows_the_fleets_max_attempts() {
    let server = RedisServer::start();
    // The producer's default is 10; the fleet is configured with 2.
    let mut producer_cfg = test_config("budget");
    producer_cfg.retry.max_attempts = 10;
    let producer = Queue::connect(&server.settings(), producer_cfg)
        .await
        .unwrap();
    let mut fleet_cfg = test_config("budget");
    fleet_cfg.retry.max_attempts = 2;
    let workers = Queue::connect(&server.settings(), fleet_cfg).await.unwrap();
    let runs = Arc::new(Mutex::new(0u32));
    let r = runs.clone();
    let fleet = start_fleet(
        &workers,
        test_options(),
        1,
        move |_: Task, _: JobContext| {
            let r = r.clone();
            async move {
                *r.lock().unwrap() += 1;
                Err::<(), BoxDynError>(JobError::retryable("server_error", "502").into())
            }
        },
    )
    .await;
    let plain = enqueue(&producer, 1).await;
    let own = producer
        .enqueue(&Task(2), EnqueueOptions::default().max_attempts(3))
        .await
        .unwrap()
        .id;
    // Read through the producer (configured with 10): it shows the budget the workers apply.
    let dead = ends_in(&producer, &plain, JobState::Dead, String::new).await;
    assert_eq!(dead.attempts, 2, "the fleet's budget, not the producer's");
    assert_eq!(dead.max_attempts, 2);
    let letters = producer
        .dead_page(&okra_queue::DeadFilter::default(), 1, 10)
        .await
        .unwrap();
    let letter = letters.iter().find(|l| l.id == plain).unwrap();
    assert_eq!(letter.max_attempts, 2);
    let dead = workers.wait(&own, Duration::from_secs(10)).await.unwrap();
    assert_eq!(dead.attempts, 3, "a per-job budget wins");
    fleet.stop().await;
    assert_eq!(*runs.lock().unwrap(), 5);
}

#[tokio::test]
async fn a_due_retry_runs_on_time_even_with_a_long_poll_interval() {
    let server = RedisServer::start();
    let mut cfg = test_config("ontime");
    cfg.retry.base_delay = Duration::from_millis(300);
    cfg.retry.max_delay = Duration::from_millis(300);
    let q = Queue::connect(&server.settings(), cfg).await.unwrap();
    let opts = okra_queue::WorkerOptions {
        poll_interval: Duration::from_secs(30),
        ..test_options()
    };
    let fleet = start_fleet(&q, opts, 1, |_: Task, ctx: JobContext| async move {
        if ctx.attempt == 1 {
            return Err::<u32, BoxDynError>(
                JobError::retryable("e", "once")
                    .with_delay(Duration::from_millis(300))
                    .into(),
            );
        }
        Ok(ctx.attempt)
    })
    .await;
    // A delayed job too: due in 500 ms with nothing else happening.
    let delayed = q
        .enqueue(&Task(9), EnqueueOptions::delay(Duration::from_millis(500)))
        .await
        .unwrap()
        .id;
    let id = enqueue(&q, 1).await;
    // Both are done long before the 30 s poll could have noticed them.
    ends_in(&q, &id, JobState::Completed, String::new).await;
    ends_in(&q, &delayed, JobState::Completed, String::new).await;
    fleet.stop().await;
}

#[tokio::test]
async fn a_redis_outage_longer_than_the_lease_runs_nothing_twice() {
    let server = RedisServer::start();
    let runs: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let opts = okra_queue::WorkerOptions {
        lease: Duration::from_millis(1200),
        ..test_options()
    };
    // Two processes: one runs the slow jobs, the other is idle and reaps eagerly.
    let mut fleets = Vec::new();
    let mut queues = Vec::new();
    for _ in 0..2 {
        let q = queue(&server, "outage").await;
        let r = runs.clone();
        fleets.push(
            start_fleet(&q, opts.clone(), 1, move |n: Task, ctx: JobContext| {
                let r = r.clone();
                async move {
                    *r.lock().unwrap().entry(ctx.id().to_string()).or_default() += 1;
                    tokio::time::sleep(Duration::from_millis(4_500)).await;
                    Ok::<_, BoxDynError>(n.0)
                }
            })
            .await,
        );
        queues.push(q);
    }
    let q = &queues[0];
    let ids: Vec<String> = q
        .enqueue_bulk((0..20).map(|i| (Task(i), EnqueueOptions::default())))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    eventually(Duration::from_secs(5), "all running", || async {
        q.stats().await.unwrap().running == 20
    })
    .await;
    // Redis stops answering for two and a half leases.
    server.signal("STOP");
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    server.signal("CONT");
    for id in &ids {
        ends_in(q, id, JobState::Completed, String::new).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = q.stats().await.unwrap();
    for f in fleets {
        f.stop().await;
    }
    assert!(runs.lock().unwrap().values().all(|&n| n == 1), "{runs:?}");
    assert_eq!(s.lease_expired, 0, "{s:?}");
    assert_eq!(s.late_outcomes, 0, "{s:?}");
}
