//! The Okra boundary end to end: the real `okra-worker` against the real `okra-sandbox` and a
//! real `redis-server`. Answers are untrusted input; account-level failures pause the queue
//! instead of burning the backlog; an uncertain attempt looks before paying again.

mod common;

use std::time::{Duration, Instant};

use common::procs::{Sandbox, WorkerSpec, start_worker};
use common::*;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, JobState, Queue, QueueConfig};

fn bvn(b: String) -> (OkraJob, EnqueueOptions) {
    (OkraJob::BvnVerify { bvn: b }, EnqueueOptions::default())
}

async fn producer(server: &RedisServer, name: &str) -> Queue {
    let mut cfg = QueueConfig::new(name);
    cfg.retry.max_attempts = 3;
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

async fn enqueue_many(queue: &Queue, n: usize, suffix: &str) -> Vec<String> {
    queue
        .enqueue_bulk((0..n).map(|i| bvn(format!("22{i:05}{suffix}"))))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Waits until the queue is paused; returns how long it took and the reason.
async fn paused_within(queue: &Queue, limit: Duration) -> (Duration, String) {
    let started = Instant::now();
    loop {
        let s = queue.stats().await.unwrap();
        if s.paused {
            return (started.elapsed(), s.pause_reason.unwrap_or_default());
        }
        assert!(
            started.elapsed() < limit,
            "not paused within {limit:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_wrong_secret_key_pauses_the_queue_instead_of_burning_the_backlog() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--secret", "sk_right", "--latency", "20ms"]);
    let queue = producer(&server, "wrongkey").await;
    enqueue_many(&queue, 300, "1234").await;
    let spec = WorkerSpec {
        queue: "wrongkey",
        secret: "sk_wrong",
        ..WorkerSpec::default()
    };
    let started = Instant::now();
    let mut workers: Vec<_> = (1..=2)
        .map(|n| start_worker(dir.path(), n, &server.url(), &sandbox.url, &spec))
        .collect();
    let (_, reason) = paused_within(&queue, Duration::from_secs(10)).await;
    let took = started.elapsed();
    println!("wrong key: paused {took:?} after the workers started: {reason}");
    assert!(
        reason.contains("401") && reason.contains("OKRA_SECRET_KEY"),
        "{reason}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = queue.stats().await.unwrap();
    assert_eq!(s.dead, 0, "no job is a dead letter: {s:?}");
    assert_eq!(s.ready + s.running, 300, "every job still waits: {s:?}");
    assert_eq!(s.running, 0);
    let json = run_admin(&server, "wrongkey", &["--json", "stats"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["paused"], true);
    assert!(v["pause_reason"].as_str().unwrap().contains("401"));
    // The worker said it once, at error level.
    let logs: String = workers.iter().map(|w| w.log_text()).collect();
    assert_eq!(
        logs.matches("queue paused by the circuit breaker").count(),
        1,
        "{logs}"
    );
    assert!(!logs.contains("sk_wrong"), "the key is never logged");
    for w in &mut workers {
        w.terminate(Duration::from_secs(10));
    }
    run_admin(&server, "wrongkey", &["queue", "resume"]);
    assert!(!queue.stats().await.unwrap().paused, "resume lifts it");
}

fn run_admin(server: &RedisServer, queue: &str, args: &[&str]) -> String {
    common::procs::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--redis-url", &server.url(), "--queue", queue])
            .args(args)
            .env_remove("OKQ_CONFIG"),
    )
}

#[tokio::test]
async fn a_redirect_is_never_followed_and_pauses_the_queue() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "redirect").await;
    let id = queue
        .enqueue(
            &OkraJob::BvnVerify {
                bvn: "22500000301".into(),
            },
            EnqueueOptions::default(),
        )
        .await
        .unwrap()
        .id;
    let spec = WorkerSpec {
        queue: "redirect",
        ..WorkerSpec::default()
    };
    let _worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let (_, reason) = paused_within(&queue, Duration::from_secs(10)).await;
    assert!(reason.contains("unexpected_redirect"), "{reason}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let job = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(
        job.state,
        JobState::Ready,
        "back in line, not a dead letter"
    );
    assert_eq!(job.attempts, 0, "no attempt spent");
    assert!(job.result.is_none(), "no stranger's profile stored");
    let stats = sandbox.stats().await;
    assert_eq!(stats["elsewhere"], 0, "the redirect target was never asked");
    assert_eq!(stats["elsewhere_with_key"], 0);
}

#[tokio::test]
async fn the_drain_guard_pauses_when_every_call_is_not_found() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--latency", "20ms"]);
    let queue = producer(&server, "drain").await;
    enqueue_many(&queue, 200, "1234").await;
    let spec = WorkerSpec {
        queue: "drain",
        concurrency: 4,
        drain_guard: 5,
        ..WorkerSpec::default()
    };
    // A wrong path: every route answers 404.
    let wrong = format!("{}/wrong-prefix", sandbox.url);
    let _workers: Vec<_> = (1..=2)
        .map(|n| start_worker(dir.path(), n, &server.url(), &wrong, &spec))
        .collect();
    let (_, reason) = paused_within(&queue, Duration::from_secs(10)).await;
    assert!(
        reason.contains("drain guard") && reason.contains("okra.base_url"),
        "{reason}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = queue.stats().await.unwrap();
    println!(
        "drain guard: {} dead letters before the pause, {} waiting",
        s.dead, s.ready
    );
    assert!(
        s.dead <= 5 + 2 * 4,
        "at most the guard plus what was in flight: {s:?}"
    );
    assert!(s.ready >= 180, "the rest still waits: {s:?}");
}

#[tokio::test]
async fn an_uncertain_verify_is_looked_up_for_free_before_paying_again() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    // The verify answers after 700 ms; the client gives up after 500 ms, but Okra finished it.
    let sandbox = Sandbox::start(dir.path(), &["--slow", "700ms"]);
    let queue = producer(&server, "lookup").await;
    let id = queue
        .enqueue(
            &OkraJob::BvnVerify {
                bvn: "22500000800".into(),
            },
            EnqueueOptions::default(),
        )
        .await
        .unwrap()
        .id;
    let spec = WorkerSpec {
        queue: "lookup",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let done = queue.wait(&id, Duration::from_secs(20)).await.unwrap();
    assert_eq!(done.state, JobState::Completed, "{}", worker.log_text());
    let result = done.result.unwrap();
    assert_eq!(result["lookup"], "free", "{result}");
    assert_eq!(result["profile"]["bvn"], "22500000800");
    assert!(sandbox.calls("bvn-verify", "22500000800").await <= 2);
    assert!(sandbox.calls("getByBvn", "22500000800").await >= 1);
}

#[tokio::test]
async fn two_hundred_large_answers_keep_a_worker_small() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--big-body", "20000000"]);
    let queue = producer(&server, "big").await;
    let ids = enqueue_many(&queue, 200, "0413").await;
    let spec = WorkerSpec {
        queue: "big",
        concurrency: 200,
        // 200 streams at once on a loaded 2-core machine: reading 1 MiB can take a while.
        okra_timeout: "10s",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let mut oversized = 0;
    for id in &ids {
        let r = queue.wait(id, Duration::from_secs(60)).await.unwrap();
        let class = r.last_error.unwrap().class;
        // A read that outlasts even the 10 s client timeout would be a transport failure.
        assert!(
            matches!(class.as_str(), "oversized_body" | "server_error"),
            "{class}"
        );
        oversized += usize::from(class == "oversized_body");
    }
    assert!(
        oversized >= 190,
        "only {oversized} of 200 ended as oversized_body"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", worker.pid())).unwrap();
    let peak_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    println!(
        "peak RSS with 200 concurrent 20 MB answers (600 reads): {} MiB",
        peak_kib / 1024
    );
    // Buffers are bounded by concurrency × okra.max_body (200 × 1 MiB), plus the process
    // itself; unbounded reads would need 200 × 20 MB = 4 GB.
    assert!(peak_kib < 320 * 1024, "peak RSS {peak_kib} KiB");
}

#[tokio::test]
async fn two_queues_on_one_okra_account_share_one_limit_and_one_throttle() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let (qa, qb) = (
        producer(&server, "acct-a").await,
        producer(&server, "acct-b").await,
    );
    enqueue_many(&qa, 30, "1234").await;
    let mut more = qb
        .enqueue_bulk((0..30).map(|i| bvn(format!("23{i:05}1234"))))
        .await
        .unwrap();
    let a = WorkerSpec {
        queue: "acct-a",
        rpm: 20,
        ..WorkerSpec::default()
    };
    let _wa = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &a);
    eventually(
        Duration::from_secs(10),
        "the account limit is stored",
        || async {
            !server
                .cli(&["GET", "okq:{acct:default}:limit"])
                .trim()
                .is_empty()
        },
    )
    .await;
    // A second queue on the same key, with a stale config: the stored limit wins.
    let b = WorkerSpec {
        queue: "acct-b",
        rpm: 40,
        rate_limit_delay: "30s",
        ..WorkerSpec::default()
    };
    let wb = start_worker(dir.path(), 2, &server.url(), &sandbox.url, &b);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stats = sandbox.stats().await;
    assert_eq!(
        stats["total"], 20,
        "both queues together made the plan's 20 calls: {stats}"
    );
    let log = wb.log_text();
    assert!(log.contains("differs from the account's limit"), "{log}");
    let s = run_admin(&server, "acct-a", &["--json", "stats"]);
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["account"]["name"], "default");
    assert_eq!(v["account"]["calls_in_window"], 20);
    assert_eq!(v["account"]["limit"], 20);
    // One 429 on queue B stops queue A too.
    run_admin(&server, "acct-a", &["queue", "rate-limit", "0"]);
    more.extend(qb.enqueue_bulk([bvn("22300000429".into())]).await.unwrap());
    // Queue A's stats (through okra-admin, which knows the account) show the throttle.
    eventually(Duration::from_secs(20), "the account throttled", || async {
        let s = run_admin(&server, "acct-a", &["--json", "stats"]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        v["throttled_ms"].as_u64().unwrap() > 0
    })
    .await;
    assert_eq!(sandbox.calls("bvn-verify", "22300000429").await, 1);
    let s = run_admin(&server, "acct-a", &["--json", "queue", "unthrottle"]);
    assert!(s.contains("\"unthrottled\": true"), "{s}");
}
