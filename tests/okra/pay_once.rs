//! Never paying twice for one answer: an uncertain verify is looked up for free first.

use super::*;

#[tokio::test]
async fn bvn_verify_after_a_503_reads_get_by_bvn_instead_of_paying_twice() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "timeout").await;
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let spec = WorkerSpec {
        queue: "timeout",
        rpm: 100,
        metrics_addr: Some(metrics_addr.clone()),
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let id = enqueue(&queue, bvn("22200000503")).await;
    let r = ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;
    let result: OkraResult = r.result_as().unwrap().expect("a typed result");
    assert_eq!(result.source, "/identity/getByBvn");
    assert_eq!(result.lookup.as_deref(), Some("free"));
    assert_eq!(result.profile.as_ref().unwrap()["bvn"], "22200000503");
    assert_eq!(r.history[0].class.as_deref(), Some("okra_timeout"));
    assert_eq!(
        sandbox.calls("bvn-verify", "22200000503").await,
        1,
        "one paid verify"
    );
    assert_eq!(sandbox.calls("getByBvn", "22200000503").await, 1);

    // The same story in the worker's Prometheus metrics.
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str, labels: &[&str]| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name}{{")) && labels.iter().all(|x| l.contains(x)))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} {labels:?} in:\n{metrics}"))
    };
    let verify = r#"endpoint="/products/kyc/bvn-verify""#;
    assert_eq!(
        value(
            "okra_http_requests_total",
            &[r#"queue="timeout""#, verify, r#"status="503""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            "okra_http_requests_total",
            &[r#"endpoint="/identity/getByBvn""#, r#"status="200""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            "okq_jobs_total",
            &[r#"outcome="retry""#, r#"class="okra_timeout""#]
        ),
        1.0
    );
    assert_eq!(
        value(
            "okq_jobs_total",
            &[r#"kind="bvn_verify""#, r#"outcome="success""#]
        ),
        1.0
    );
    // Counters alerts watch exist from the start, at 0.
    assert_eq!(value("okq_orphans_total", &[]), 0.0);
    assert_eq!(value("okq_late_outcomes_total", &[]), 0.0);
    assert_eq!(
        value(
            "okq_jobs_total",
            &[r#"kind="nin_verify""#, r#"outcome="dead""#]
        ),
        0.0
    );
    assert_eq!(value("okra_request_duration_seconds_count", &[verify]), 1.0);
    value("okq_queue_depth", &[r#"state="ready""#]);
    assert!(value("okq_queue_latency_seconds", &[r#"queue="timeout""#]) >= 0.0);
    assert_eq!(value("okq_sampler", &[]), 1.0);
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
            &OkraJob::new("bvn_verify", &[("bvn", "22500000800")]).unwrap(),
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
    let done = ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;
    let result = done.result.unwrap();
    assert_eq!(result["lookup"], "free", "{result}");
    assert_eq!(result["profile"]["bvn"], "22500000800");
    assert!(sandbox.calls("bvn-verify", "22500000800").await <= 2);
    assert!(sandbox.calls("getByBvn", "22500000800").await >= 1);
}

const INDEX_KEY: &str = "pay-once-index-key-0123456789";

/// BVN number `i` with the sandbox trigger `suffix` (11 digits).
fn bvn_n(i: usize, suffix: &str) -> String {
    format!("22{i:05}{suffix}")
}

#[tokio::test]
async fn an_unanswered_lookup_never_leads_to_a_second_payment() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    // The first lookup for each BVN hangs past the client timeout (Okra's lookups time out
    // under the same load that made the verify 503).
    let sandbox = Sandbox::start(dir.path(), &["--slow", "2s"]);
    let queue = producer(&server, "unanswered").await;
    let ids = queue
        .enqueue_bulk((0..10).map(|i| bvn_opts(bvn_n(i, "0803"))))
        .await
        .unwrap();
    let spec = WorkerSpec {
        queue: "unanswered",
        okra_timeout: "500ms",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    for (i, e) in ids.iter().enumerate() {
        let r = ends_in(&queue, &e.id, JobState::Completed, || worker.log_text()).await;
        let classes: Vec<_> = r.history.iter().filter_map(|h| h.class.clone()).collect();
        assert_eq!(classes, ["okra_timeout", "unresolved_charge"], "{r:#?}");
        let result: OkraResult = r.result_as().unwrap().unwrap();
        assert_eq!(result.lookup.as_deref(), Some("free"));
        let b = bvn_n(i, "0803");
        assert_eq!(sandbox.calls("bvn-verify", &b).await, 1, "{b} paid once");
        assert_eq!(sandbox.calls("getByBvn", &b).await, 2);
    }
}

#[tokio::test]
async fn a_lookup_that_never_answers_ends_as_unresolved_charge_and_a_requeue_looks_first() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "unresolved").await;
    let b = bvn_n(1, "0804");
    let id = enqueue(&queue, bvn(&b)).await;
    let spec = WorkerSpec {
        queue: "unresolved",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let r = finished(&queue, &id, &worker.log_text()).await;
    let (class, reason, _, _, attempts) = death(&r);
    assert_eq!(
        (class.as_str(), reason.as_str(), attempts),
        ("unresolved_charge", "attempts_exhausted", 3)
    );
    let f = r.last_error.clone().unwrap();
    assert!(f.uncertain, "{f:?}");
    assert!(
        f.message.contains("may have charged") && f.message.contains("did not answer"),
        "{}",
        f.message
    );
    assert_eq!(sandbox.calls("bvn-verify", &b).await, 1, "never paid twice");
    assert_eq!(sandbox.calls("getByBvn", &b).await, 2);
    // A requeued letter starts again with the lookup, never with a paid verify.
    common::cli::admin(&server, "unresolved", &["dlq", "requeue", &id]).ok();
    eventually(Duration::from_secs(20), "dead again", || async {
        queue.stats().await.unwrap().requeued == 1 && queue.stats().await.unwrap().dead == 1
    })
    .await;
    assert_eq!(sandbox.calls("bvn-verify", &b).await, 1, "never paid twice");
    assert_eq!(sandbox.calls("getByBvn", &b).await, 5);
}

#[tokio::test]
async fn a_kind_without_a_free_lookup_holds_instead_of_paying_again() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "nolookup").await;
    let id = enqueue(
        &queue,
        OkraJob::new(
            "rc_verify",
            &[("rc_number", "RC0503"), ("company_name", "Acme")],
        )
        .unwrap(),
    )
    .await;
    let spec = WorkerSpec {
        queue: "nolookup",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let r = finished(&queue, &id, &worker.log_text()).await;
    let (class, reason, _, _, attempts) = death(&r);
    assert_eq!(
        (class.as_str(), reason.as_str(), attempts),
        ("unresolved_charge", "terminal", 2)
    );
    assert!(r.last_error.unwrap().message.contains("no free lookup"));
    assert_eq!(sandbox.calls("rc-verify", "RC0503").await, 1);
}

#[tokio::test]
async fn thirty_jobs_for_three_people_make_three_paid_calls() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--latency", "300ms"]);
    let mut cfg = QueueConfig::new("reuse");
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
    cfg.account = Some(okra_queue::rdb::AccountLimit {
        name: "default".into(),
        limit: 0,
        window: Duration::from_secs(61),
    });
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let people: Vec<String> = (0..3).map(|i| bvn_n(i, "1234")).collect();
    let ids = queue
        .enqueue_bulk((0..30).map(|i| bvn_opts(people[i % 3].clone())))
        .await
        .unwrap();
    let spec = WorkerSpec {
        queue: "reuse",
        okra_timeout: "5s",
        env: vec![
            ("OKQ_OKRA__REUSE_WINDOW", "1h".into()),
            ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.into()),
        ],
        ..WorkerSpec::default()
    };
    let workers: Vec<_> = (1..=2)
        .map(|n| start_worker(dir.path(), n, &server.url(), &sandbox.url, &spec))
        .collect();
    let logs = || workers.iter().map(|w| w.log_text()).collect::<String>();
    let mut reused = 0;
    for e in &ids {
        let r = ends_in(&queue, &e.id, JobState::Completed, &logs).await;
        let result: OkraResult = r.result_as().unwrap().unwrap();
        assert!(result.verified_at.is_some(), "{result:?}");
        if result.source == "reuse" {
            reused += 1;
            assert_eq!(
                result.reused_from.as_deref(),
                Some("/products/kyc/bvn-verify")
            );
        }
    }
    let paid: u64 =
        futures::future::join_all(people.iter().map(|p| sandbox.calls("bvn-verify", p)))
            .await
            .into_iter()
            .sum();
    println!("30 jobs for 3 people, 2 workers: {paid} paid calls, {reused} reused");
    assert_eq!(paid, 3, "one paid call per person");
    assert_eq!(reused, 27);
    // The store holds keyed hashes, never the number.
    let keys = server.cli(&["--scan", "--pattern", "okq:{acct:default}:reuse:*"]);
    assert_eq!(keys.lines().count(), 3, "{keys}");
    assert!(people.iter().all(|p| !keys.contains(p.as_str())), "{keys}");
    // The ledger saw it.
    let spend = spend_when(&server, "reuse", "1", |r| r["saved_reuse"] == 27).await;
    assert_eq!(spend[0]["kind"], "bvn_verify", "{spend}");
    assert_eq!(spend[0]["paid"], 3, "{spend}");
    assert_eq!(spend[0]["saved_reuse"], 27, "{spend}");
    // A job that asks for a fresh answer pays.
    let fresh = queue
        .enqueue(&bvn(&people[0]), EnqueueOptions::default().fresh())
        .await
        .unwrap();
    let r = finished(&queue, &fresh.id, &logs()).await;
    assert_eq!(r.result.unwrap()["source"], "/products/kyc/bvn-verify");
    assert_eq!(sandbox.calls("bvn-verify", &people[0]).await, 2);
}

#[tokio::test]
async fn the_spend_ledger_counts_paid_calls_receipts_and_savings() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "ledger").await;
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let spec = WorkerSpec {
        queue: "ledger",
        metrics_addr: Some(metrics_addr.clone()),
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let mut ids = Vec::new();
    for i in 0..3 {
        // The revamped envelope, with a receipt of 0.1 credits.
        ids.push(enqueue(&queue, bvn(&bvn_n(i, "0900"))).await);
    }
    ids.push(enqueue(&queue, bvn(&bvn_n(9, "0503"))).await);
    for id in &ids {
        assert_eq!(
            finished(&queue, id, &worker.log_text()).await.state,
            JobState::Completed
        );
    }
    let rows = spend_when(&server, "ledger", "2", |r| r["uncertain"] == 1).await;
    let row = rows.as_array().unwrap()[0].clone();
    let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "credits",
            "day",
            "kind",
            "naira",
            "paid",
            "provider",
            "saved_lookup",
            "saved_reuse",
            "uncertain"
        ],
        "exactly these fields"
    );
    assert_eq!(row["kind"], "bvn_verify");
    assert_eq!(row["provider"], "okra");
    assert_eq!(
        (row["paid"].as_u64(), row["uncertain"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(row["saved_lookup"], 1);
    assert!(
        (row["credits"].as_f64().unwrap() - 0.3).abs() < 1e-9,
        "{row}"
    );
    let text = common::cli::admin(&server, "ledger", &["spend"]).ok().out;
    assert!(
        text.contains("bvn_verify") && text.contains("0.30"),
        "{text}"
    );
    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"okra_paid_calls_total{account="default",kind="bvn_verify"} 3"#,
        r#"okra_saved_calls_total{account="default",how="lookup"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    assert!(
        metrics.contains("okra_credits_total{account=\"default\"} 0.3"),
        "{metrics}"
    );
}

/// `okra-admin spend --json` once its first row satisfies `done`: a worker writes its counts
/// to the ledger within a few milliseconds of its jobs (src/okra/pay_once/tally.rs), not with them.
async fn spend_when(
    server: &common::RedisServer,
    queue: &str,
    days: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let rows = common::cli::admin(server, queue, &["--json", "spend", "--days", days])
            .ok()
            .json();
        if done(&rows[0]) || started.elapsed() > Duration::from_secs(5) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The reuse check's cost: jobs that begin or settle together share one round trip, so a busy
/// worker makes far fewer than two reuse-store round trips per job (it made exactly two
/// before the batches: `okra::pay_once::batch`). Counted with `MONITOR`: a round trip is a run
/// of the worker's own commands on the reuse store (`SET … NX`, `SET … XX`, the `EXISTS` of
/// the tombstones) with nothing between them (a pipeline is read whole), and a script call is
/// one line.
#[tokio::test]
async fn concurrent_jobs_share_their_reuse_round_trips() {
    use futures::StreamExt;
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--latency", "50ms"]);
    let mut cfg = QueueConfig::new("batched");
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let jobs = 200;
    let ids = queue
        .enqueue_bulk((0..jobs).map(|i| bvn_opts(bvn_n(i, "1234"))))
        .await
        .unwrap();
    let monitor = redis::Client::open(server.url())
        .unwrap()
        .get_async_monitor()
        .await
        .unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counting = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut lines = monitor.into_on_message::<String>();
            let mut in_trip = false;
            while let Some(line) = lines.next().await {
                // A client's commands on the reuse store (not the commands scripts run).
                let client = !line.contains(" lua]");
                let store = line.contains(":reuse:") || line.contains(":erased:");
                let script = client && line.contains("\"EVALSHA\"") && store;
                let plain = client && store && !script;
                if (plain && !in_trip) || script {
                    seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                in_trip = plain;
            }
        })
    };
    let spec = WorkerSpec {
        queue: "batched",
        concurrency: 100,
        okra_timeout: "5s",
        env: vec![
            ("OKQ_OKRA__REUSE_WINDOW", "1h".into()),
            ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.into()),
        ],
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    for e in &ids {
        ends_in(&queue, &e.id, JobState::Completed, || worker.log_text()).await;
    }
    worker.terminate(Duration::from_secs(5));
    counting.abort();
    let calls = seen.load(std::sync::atomic::Ordering::Relaxed);
    println!("{jobs} jobs, reuse on: {calls} reuse-store round trips (begins and settles)");
    assert!(calls > 0, "the monitor saw the reuse check");
    assert!(
        calls < jobs,
        "{calls} round trips for {jobs} jobs: begins and settles are not batched"
    );
    // Every job paid once, each its own person, and each profile is stored for reuse.
    let keys = server.cli(&["--scan", "--pattern", "okq:{acct:default}:reuse:*"]);
    assert_eq!(keys.lines().count(), jobs, "one stored profile per person");
}
