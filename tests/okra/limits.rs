//! The Okra account's shared rate limit and Okra's 429, across workers and queues.

use super::*;

#[tokio::test]
async fn three_workers_never_exceed_the_fleet_rate_limit_together() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "rpm").await;
    let spec = WorkerSpec {
        queue: "rpm",
        rpm: 20,
        ..WorkerSpec::default()
    };
    let workers: Vec<_> = (0..3)
        .map(|n| start_worker(dir.path(), n, &server.url(), &sandbox.url, &spec))
        .collect();
    let jobs: Vec<_> = (0..60)
        .map(|i| (bvn(&format!("2223{i:07}")), EnqueueOptions::default()))
        .collect();
    let ids = queue.enqueue_bulk(jobs).await.unwrap();
    eventually(Duration::from_secs(10), "20 jobs completed", || async {
        queue.stats().await.unwrap().completed == 20
    })
    .await;
    // Three processes, all idle with 40 jobs ready: none of them may call Okra again inside
    // the minute.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats = sandbox.stats().await;
    assert_eq!(stats["total"], 20, "calls at the sandbox");
    assert_eq!(stats["max_in_window"], 20);
    let s = queue.stats().await.unwrap();
    assert_eq!((s.completed, s.ready, s.workers), (20, 40, 3));
    // Waiting for a slot spends no attempt.
    for e in &ids {
        let r = queue.job(&e.id).await.unwrap().unwrap();
        if r.state == JobState::Ready {
            assert_eq!(r.attempts, 0, "{r:#?}");
        }
    }
    for w in &workers {
        assert!(w.log_text().contains("okra-worker started"));
    }
}

#[tokio::test]
async fn a_429_pauses_every_worker_until_the_wait_is_over() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "pause429").await;
    let spec = WorkerSpec {
        queue: "pause429",
        rate_limit_delay: "2s",
        ..WorkerSpec::default()
    };
    let w1 = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let _w2 = start_worker(dir.path(), 2, &server.url(), &sandbox.url, &spec);
    let limited = enqueue(&queue, bvn("22200000429")).await;
    // Enqueue the rest once the worker that got the 429 has paused the fleet.
    eventually(
        Duration::from_secs(10),
        "the fleet paused after the 429",
        || async { queue.stats().await.unwrap().throttled_ms > 0 },
    )
    .await;
    assert_eq!(sandbox.calls("bvn-verify", "22200000429").await, 1);
    let others: Vec<_> = (0..10)
        .map(|i| (bvn(&format!("2224{i:07}")), EnqueueOptions::default()))
        .collect();
    let others = queue.enqueue_bulk(others).await.unwrap();
    for e in &others {
        finished(&queue, &e.id, &w1.log_text()).await;
    }
    let r = ends_in(&queue, &limited, JobState::Completed, || w1.log_text()).await;
    assert_eq!(r.history[0].class.as_deref(), Some("rate_limited"));
    assert_eq!(r.attempts, 1, "the rate-limited attempt was given back");
    assert!(r.history[0].retry_in_ms.unwrap() >= 2000);

    let stats = sandbox.stats().await;
    let requests = stats["requests"].as_array().unwrap();
    let t429 = requests.iter().find(|q| q["id"] == "22200000429").unwrap()["at"]
        .as_u64()
        .unwrap();
    for q in requests.iter().filter(|q| q["at"].as_u64().unwrap() > t429) {
        let at = q["at"].as_u64().unwrap();
        assert!(
            at >= t429 + 2000,
            "{} was called {} ms after the 429; the fleet should have waited 2 s",
            q["id"],
            at - t429
        );
    }
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
        .enqueue_bulk((0..30).map(|i| bvn_opts(format!("23{i:05}1234"))))
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
    more.extend(
        qb.enqueue_bulk([bvn_opts("22300000429".into())])
            .await
            .unwrap(),
    );
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

#[tokio::test]
async fn a_daily_budget_hit_by_two_workers_holds_the_account() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--latency", "20ms"]);
    let queue = producer(&server, "budget").await;
    let ids = enqueue_many(&queue, 100, "1234").await;
    let spec = WorkerSpec {
        queue: "budget",
        concurrency: 20,
        env: vec![("OKQ_OKRA__DAILY_BUDGET", "40".into())],
        ..WorkerSpec::default()
    };
    let _workers: Vec<_> = (1..=2)
        .map(|n| start_worker(dir.path(), n, &server.url(), &sandbox.url, &spec))
        .collect();
    let (_, reason) = paused_within(&queue, Duration::from_secs(20)).await;
    assert!(
        reason.contains("budget") && reason.contains("40 paid calls today"),
        "{reason}"
    );
    eventually(Duration::from_secs(10), "nothing running", || async {
        queue.stats().await.unwrap().running == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = queue.stats().await.unwrap();
    let paid = sandbox.stats().await["by_path"]["bvn-verify"]
        .as_u64()
        .unwrap();
    println!(
        "budget 40, 100 jobs, 2 workers: {paid} paid calls, {} completed, {} dead, {} waiting",
        s.completed,
        s.dead,
        s.pending()
    );
    assert!(paid <= 40, "never more paid calls than the budget: {paid}");
    assert_eq!(s.dead, 0, "nothing is buried: {s:?}");
    assert_eq!(s.completed, paid, "{s:?}");
    assert_eq!(s.pending(), 100 - paid, "the rest waits: {s:?}");
    // `okra-admin` shows why, and `queue resume` lifts the hold for the rest of the day.
    let stats = run_admin(&server, "budget", &["--json", "stats"]);
    assert!(stats.contains("budget: 40 paid calls today"), "{stats}");
    run_admin(&server, "budget", &["queue", "resume"]);
    for id in &ids {
        ends_in(&queue, id, JobState::Completed, String::new).await;
    }
    assert_eq!(
        sandbox.stats().await["by_path"]["bvn-verify"].as_u64(),
        Some(100)
    );
}
