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
