//! Okra jobs end to end: the real `okra-worker` processes against the real `okra-sandbox` and a
//! real `redis-server`, with jobs enqueued through the library.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::procs::{Sandbox, WorkerSpec, start_worker};
use common::*;
use okra_queue::okra::{OkraJob, OkraResult};
use okra_queue::{EnqueueOptions, JobRecord, JobState, Queue, QueueConfig, RawJob};

fn bvn(b: &str) -> OkraJob {
    OkraJob::BvnVerify { bvn: b.into() }
}

async fn producer(server: &RedisServer, name: &str) -> Queue {
    let mut cfg = QueueConfig::new(name);
    cfg.retry.max_attempts = 3;
    // The workers' Okra account, so `stats` shows its throttle and usage.
    cfg.account = Some(okra_queue::rdb::AccountLimit {
        name: "default".into(),
        limit: 0,
        window: Duration::from_secs(61),
    });
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

async fn enqueue(queue: &Queue, job: OkraJob) -> String {
    queue
        .enqueue(&job, EnqueueOptions::default())
        .await
        .unwrap()
        .id
}

async fn finished(queue: &Queue, id: &str, logs: &str) -> JobRecord {
    match queue.wait(id, Duration::from_secs(20)).await {
        Ok(r) => r,
        Err(e) => panic!("{e}; worker log:\n{logs}"),
    }
}

/// Class, reason, HTTP status, Okra type and attempts of a dead letter.
fn death(r: &JobRecord) -> (String, String, Option<u16>, Option<String>, u32) {
    assert_eq!(r.state, JobState::Dead, "{r:#?}");
    let f = r
        .last_error
        .clone()
        .expect("dead letters keep their failure");
    (
        f.class,
        f.reason.unwrap_or_default(),
        f.http_status,
        f.error_type,
        r.attempts,
    )
}

#[tokio::test]
async fn every_failure_class_end_to_end() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--slow", "3s", "--big-body", "3000000"]);
    let queue = producer(&server, "classes").await;
    let spec = WorkerSpec {
        queue: "classes",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);

    let mut ids = HashMap::new();
    for (name, job) in [
        ("ok", bvn("22234567890")),
        (
            "nin_ok",
            OkraJob::NinVerify {
                nin: "12345678901".into(),
            },
        ),
        (
            "no_content",
            OkraJob::NubanVerify {
                nuban: "0123450204".into(),
                bank: "b1".into(),
            },
        ),
        (
            "company",
            OkraJob::RcVerify {
                rc_number: "RC1234".into(),
                company_name: "Acme".into(),
            },
        ),
        ("500_once", bvn("22200000501")),
        ("500", bvn("22200000500")),
        ("502", bvn("22200000502")),
        ("504", bvn("22200000504")),
        ("400", bvn("22200000400")),
        ("404", bvn("22200000404")),
        ("422", bvn("22200000422")),
        ("flagged", bvn("22200000601")),
        ("suspended", bvn("22200000602")),
        ("no_record", bvn("22200000603")),
        ("malformed", bvn("22200000700")),
        ("slow", bvn("22200000800")),
        ("stranger", bvn("22500000302")),
        ("wrong_types", bvn("22200000701")),
        ("oversized", bvn("22200000413")),
        (
            "customer_503",
            OkraJob::CustomerVerify {
                customer: "cus_0503".into(),
            },
        ),
    ] {
        ids.insert(name, enqueue(&queue, job).await);
    }
    // Written by something else: the worker cannot decode it.
    let raw = queue
        .enqueue_raw_bulk(
            vec![RawJob::new(
                "bvn_verify",
                r#"{"kind":"bvn_verify","bvn_number":42}"#,
                EnqueueOptions::default(),
            )],
            |_| {},
        )
        .await
        .unwrap();
    ids.insert("invalid_payload", raw[0].id.clone());
    // Decodes, but breaks the rules enqueue would have applied: Okra must never see it.
    let raw = queue
        .enqueue_raw_bulk(
            vec![RawJob::new(
                "bvn_verify",
                r#"{"kind":"bvn_verify","bvn":"123"}"#,
                EnqueueOptions::default(),
            )],
            |_| {},
        )
        .await
        .unwrap();
    ids.insert("invalid_rules", raw[0].id.clone());

    let logs = || worker.log_text();
    let mut rec = HashMap::new();
    for (name, id) in &ids {
        rec.insert(*name, finished(&queue, id, &logs()).await);
    }

    // Successes carry the identity profile as the job's result.
    let ok = &rec["ok"];
    assert_eq!(ok.state, JobState::Completed);
    let result = ok.result.as_ref().unwrap();
    assert_eq!(result["profile"]["bvn"], "22234567890");
    assert_eq!(result["source"], "/products/kyc/bvn-verify");
    assert_eq!(
        rec["nin_ok"].result.as_ref().unwrap()["profile"]["nin"],
        "12345678901",
        "the newer `success: true` envelope"
    );
    let nc = rec["no_content"].result.as_ref().unwrap();
    assert_eq!(nc["http_status"], 204);
    assert!(nc["profile"].is_null());
    assert_eq!(
        rec["company"].result.as_ref().unwrap()["profile"]["rcNo"],
        "RC1234"
    );

    // A 500 once: retried, then completed, with the failed attempt in the history.
    let r = &rec["500_once"];
    assert_eq!(r.state, JobState::Completed);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.history[0].class.as_deref(), Some("server_error"));
    assert_eq!(r.history[0].http_status, Some(500));

    // Retryable classes die only when the budget (3) is spent.
    for (name, class_, status) in [
        ("500", "server_error", Some(500)),
        ("502", "server_error", Some(502)),
        ("504", "server_error", Some(504)),
        ("malformed", "malformed_body", Some(200)),
        ("wrong_types", "malformed_body", Some(200)),
        ("oversized", "oversized_body", Some(200)),
    ] {
        let (class, reason, http, _, attempts) = death(&rec[name]);
        assert_eq!(class, class_, "{name}");
        assert_eq!(reason, "attempts_exhausted", "{name}");
        assert_eq!(http, status, "{name}");
        assert_eq!(attempts, 3, "{name}");
        assert_eq!(rec[name].history.len(), 3, "{name}: every attempt is kept");
    }
    let f502 = rec["502"].last_error.clone().unwrap();
    assert!(
        f502.body.unwrap().contains("502 Bad Gateway"),
        "body excerpt"
    );
    // A client timeout is a transport failure whose outcome at Okra is unknown: the next
    // attempt finds the profile with the free getByBvn instead of paying again.
    let slow = &rec["slow"];
    assert_eq!(slow.state, JobState::Completed);
    assert_eq!(slow.history[0].class.as_deref(), Some("server_error"));
    assert!(
        slow.history[0]
            .message
            .as_deref()
            .unwrap()
            .contains("request to Okra failed")
    );
    assert_eq!(slow.result.as_ref().unwrap()["lookup"], "free");
    assert_eq!(sandbox.calls("bvn-verify", "22200000800").await, 1);

    // Terminal classes die on the first attempt.
    for (name, class, status, okra_type) in [
        ("400", "bad_request", 400, None),
        ("404", "not_found", 404, None),
        ("stranger", "mismatched_profile", 200, None),
        ("422", "unprocessable", 422, None),
        ("flagged", "flagged_user", 200, Some("FLAGGED_USER")),
        ("suspended", "suspended", 200, Some("SUSPENDED")),
        ("no_record", "no_record_id", 200, Some("NO_RECORD_ID")),
    ] {
        let (c, reason, http, t, attempts) = death(&rec[name]);
        assert_eq!(c, class, "{name}");
        assert_eq!(reason, "terminal", "{name}");
        assert_eq!(http, Some(status), "{name}");
        assert_eq!(t.as_deref(), okra_type, "{name}");
        assert_eq!(attempts, 1, "{name}");
    }
    let flagged = rec["flagged"].last_error.clone().unwrap();
    assert_eq!(flagged.code.as_deref(), Some("1000"));
    assert_eq!(flagged.method.as_deref(), Some("BVN_VERIFY"));
    assert!(flagged.body.unwrap().contains("FLAGGED_USER"));

    // A 503 on a non-BVN job: retried after the short delay, then it succeeds.
    let r = &rec["customer_503"];
    assert_eq!(r.state, JobState::Completed);
    assert_eq!(r.history[0].class.as_deref(), Some("okra_timeout"));
    assert!(r.history[0].retry_in_ms.unwrap() >= 100);

    let (class, reason, _, _, attempts) = death(&rec["invalid_payload"]);
    assert_eq!(
        (class.as_str(), reason.as_str()),
        ("invalid_payload", "terminal")
    );
    assert_eq!(attempts, 1);
    let (class, _, _, _, _) = death(&rec["invalid_rules"]);
    assert_eq!(class, "invalid_payload");
    let message = rec["invalid_rules"].last_error.clone().unwrap().message;
    assert!(message.contains("11 digits"), "{message}");
    assert_eq!(
        sandbox.calls("bvn-verify", "123").await,
        0,
        "never sent to Okra"
    );
    // A profile about somebody else is never the result.
    assert!(rec["stranger"].result.is_none());

    // Nothing personal or secret in the worker's log.
    let text = worker.log_text();
    assert!(
        !text.contains("sk_test_never_logged_42"),
        "secret key logged"
    );
    assert!(!text.contains("22200000500"), "a BVN was logged unmasked");
    assert!(text.contains("*******0500"), "masked BVNs identify jobs");
}

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
    let r = finished(&queue, &id, &worker.log_text()).await;
    assert_eq!(r.state, JobState::Completed, "{r:#?}");
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

/// Gauges of the whole queue come from one process, so a sum over the fleet is right.
#[tokio::test]
async fn queue_wide_gauges_come_from_one_elected_worker() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "gauges").await;
    queue.pause().await.unwrap();
    for i in 0..7 {
        enqueue(&queue, bvn(&format!("222000001{i:02}"))).await;
    }
    let addrs: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let _workers: Vec<_> = addrs
        .iter()
        .enumerate()
        .map(|(n, a)| {
            let spec = WorkerSpec {
                queue: "gauges",
                metrics_addr: Some(a.clone()),
                ..WorkerSpec::default()
            };
            start_worker(dir.path(), n, &server.url(), &sandbox.url, &spec)
        })
        .collect();
    let scrape = |addr: String| async move {
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()
    };
    let mut texts = Vec::new();
    eventually(
        Duration::from_secs(20),
        "both scraped with one sampler",
        || {
            let addrs = addrs.clone();
            async move {
                let mut all = Vec::new();
                for a in addrs {
                    all.push(scrape(a).await.unwrap_or_default());
                }
                let count = |v: &str| {
                    all.iter()
                        .filter(|t| t.contains(&format!("okq_sampler{{queue=\"gauges\"}} {v}")))
                        .count()
                };
                count("1") == 1 && count("0") == 1
            }
        },
    )
    .await;
    for a in &addrs {
        texts.push(scrape(a.clone()).await.unwrap());
    }
    let depth = |t: &String| {
        t.lines()
            .find(|l| l.starts_with("okq_queue_depth{") && l.contains(r#"state="ready""#))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
    };
    let depths: Vec<_> = texts.iter().filter_map(depth).collect();
    assert_eq!(
        depths,
        vec!["7".to_string()],
        "one process exports the depth"
    );
    let latency: Vec<_> = texts
        .iter()
        .filter(|t| t.contains("okq_queue_latency_seconds{"))
        .collect();
    assert_eq!(latency.len(), 1);
}

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
    let r = finished(&queue, &limited, &w1.log_text()).await;
    assert_eq!(r.state, JobState::Completed);
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
async fn sigterm_mid_run_loses_nothing() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--latency", "300ms"]);
    let queue = producer(&server, "sigterm").await;
    let spec = WorkerSpec {
        queue: "sigterm",
        grace: "100ms",
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let jobs: Vec<_> = (0..100)
        .map(|i| (bvn(&format!("2225{i:07}")), EnqueueOptions::default()))
        .collect();
    let ids: Vec<String> = queue
        .enqueue_bulk(jobs)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    eventually(Duration::from_secs(10), "jobs in flight", || async {
        queue.stats().await.unwrap().running >= 10
    })
    .await;
    let status = worker.terminate(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status}: {}",
        worker.log_text()
    );
    let s = queue.stats().await.unwrap();
    assert_eq!(s.running, 0, "no lease is left behind");
    assert_eq!(s.dead, 0);
    assert_eq!(s.completed + s.ready + s.scheduled, 100, "{s:?}");
    assert!(s.ready > 0, "unfinished jobs went back to ready");
    // Jobs given back did not spend an attempt.
    for id in &ids {
        let r = queue.job(id).await.unwrap().unwrap();
        if r.state == JobState::Ready {
            assert_eq!(r.attempts, 0, "{r:#?}");
        }
    }
    let next = start_worker(dir.path(), 2, &server.url(), &sandbox.url, &spec);
    for id in &ids {
        let r = finished(&queue, id, &next.log_text()).await;
        assert_eq!(r.state, JobState::Completed);
    }
}

#[tokio::test]
async fn bad_configuration_and_missing_secret_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_okra-worker"));
        cmd.args(args).env_remove("OKRA_SECRET_KEY");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[worker]\nlease = \"soon\"\n").unwrap();
    let out = run(&["--config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("worker.lease"), "{err}");

    let out = run(&["--redis-url", "redis://127.0.0.1:1"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("OKRA_SECRET_KEY is not set"));

    let out = run(&[], &[("OKQ_OKRA__BASE_URL", "ftp://nowhere")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("okra.base_url"));
}

/// The sandbox itself speaks Okra: auth, body flags, its own rate limit, path prefixes.
#[tokio::test]
async fn the_sandbox_speaks_okra() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(
        dir.path(),
        &["--rpm", "5", "--window", "2s", "--retry-after", "7"],
    );
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value, key: Option<&str>| {
        let mut r = http.post(format!("{}{path}", sandbox.url)).json(&body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
            (status, body, retry_after)
        }
    };
    let bvn = serde_json::json!({ "bvn": "22234567890" });

    let (status, body, _) = post("/products/kyc/bvn-verify", bvn.clone(), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "error");

    // The legacy envelope, under Okra's /v2/sandbox prefix too, and the testing flag.
    let (status, body, _) = post(
        "/v2/sandbox/products/kyc/bvn-verify",
        serde_json::json!({ "bvn": "22234567890", "testing": true }),
        Some("k"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["identity"]["bvn"], "22234567890");
    assert_eq!(body["data"]["identity"]["env"], "sandbox-testing");

    // `success` forces the answer whatever the trigger says.
    let (status, _, _) = post(
        "/products/kyc/bvn-verify",
        serde_json::json!({ "bvn": "22200000500", "success": true }),
        Some("k"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body, _) = post(
        "/products/kyc/bvn-verify",
        serde_json::json!({ "bvn": "22234567890", "success": false }),
        Some("k"),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("error")));

    // The newer envelope for nin-verify; required fields are checked.
    let (status, body, _) = post(
        "/products/kyc/nin-verify",
        serde_json::json!({ "nin": "12345678901" }),
        Some("k"),
    )
    .await;
    assert_eq!((status, body["success"].as_bool()), (200, Some(true)));
    let (status, _, _) = post(
        "/products/kyc/nuban-verify",
        serde_json::json!({ "nuban": "0123456789" }),
        Some("k"),
    )
    .await;
    assert_eq!(status, 400, "bank is required");

    // Five calls so far passed auth: the sixth in the window is Okra's 429.
    let (status, body, retry_after) =
        post("/products/kyc/bvn-verify", bvn.clone(), Some("k")).await;
    assert_eq!(status, 429);
    assert_eq!(body["type"], "RATE_LIMIT");
    assert_eq!(retry_after.as_deref(), Some("7"));
    let stats = sandbox.stats().await;
    assert_eq!(stats["rate_limited"], 1);
    assert_eq!(stats["unauthorized"], 1);
    assert_eq!(stats["max_in_window"], 5);

    // Unknown routes are Okra's 404; bodies that are not JSON objects are 400.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, _) = post("/products/kyc/email-verify", bvn.clone(), Some("k")).await;
    assert_eq!(status, 404);
    let resp = http
        .post(format!("{}/products/kyc/bvn-verify", sandbox.url))
        .bearer_auth("k")
        .body("bvn=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn a_worker_warns_once_when_redis_may_evict_jobs() {
    let server = RedisServer::start_with(&["--maxmemory-policy", "allkeys-lru"]);
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "evict").await;
    let spec = WorkerSpec {
        queue: "evict",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let id = enqueue(&queue, bvn("22234561234")).await;
    let done = finished(&queue, &id, &worker.log_text()).await;
    assert_eq!(done.state, JobState::Completed, "it warns, and works");
    let log = worker.log_text();
    let warnings = log.matches("set maxmemory-policy to noeviction").count();
    assert_eq!(warnings, 1, "{log}");
    assert!(log.contains("allkeys-lru"), "{log}");
}

#[tokio::test]
async fn documented_variables_work_for_every_binary() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "envq").await;
    let id = enqueue(&queue, bvn("22234561234")).await;
    // okra-worker from the environment alone: OKQ_CONFIG names the file (the demo's, with
    // its own [queue] table), REDIS_URL the server, OKQ_QUEUE the queue, OKQ_OKRA__BASE_URL Okra.
    let config = std::fs::canonicalize("config/demo.toml").unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_okra-worker"));
    cmd.current_dir(dir.path())
        .env("OKQ_CONFIG", &config)
        .env("REDIS_URL", server.url())
        .env("OKQ_QUEUE", "envq")
        .env("OKQ_OKRA__BASE_URL", &sandbox.url)
        .env("OKRA_SECRET_KEY", "sk_env")
        .env_remove("RUST_LOG");
    let worker = common::procs::spawn(&mut cmd, dir.path().join("env-worker.log"), false);
    let done = finished(&queue, &id, &worker.log_text()).await;
    assert_eq!(done.state, JobState::Completed);
    // okra-admin: OKQ_QUEUE and OKQ_REDIS__URL (REDIS_URL unset).
    let out = common::procs::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--json", "stats"])
            .current_dir(dir.path())
            .env("OKQ_QUEUE", "envq")
            .env("OKQ_REDIS__URL", server.url())
            .env_remove("REDIS_URL")
            .env_remove("OKQ_CONFIG"),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["queue"].as_str(), v["completed"].as_u64()),
        (Some("envq"), Some(1))
    );
}

#[tokio::test]
async fn a_worker_on_the_built_in_okra_url_says_so_loudly() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_okra-worker"));
    cmd.current_dir(dir.path())
        .args(["--redis-url", &server.url(), "--log-format", "json"])
        .env("OKRA_SECRET_KEY", "sk_x")
        .env_remove("OKQ_OKRA__BASE_URL")
        .env_remove("OKQ_CONFIG")
        .env_remove("RUST_LOG");
    let mut worker = common::procs::spawn(&mut cmd, dir.path().join("w.log"), false);
    eventually(Duration::from_secs(10), "the warning", || async {
        worker.log_text().contains("calling Okra's production API")
    })
    .await;
    assert!(worker.log_text().contains("https://api.okra.ng/v2"));
    worker.terminate(Duration::from_secs(10));
}
