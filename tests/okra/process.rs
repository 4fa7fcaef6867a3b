//! The `okra-worker` process: SIGTERM, configuration errors, documented variables, warnings, metrics, bounded memory.

use super::*;

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
        ends_in(&queue, id, JobState::Completed, || next.log_text()).await;
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
    ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;
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
    ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;
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
        // The first attempt's answer (a charged 200 is then found with the free lookup).
        let class = r.history[0].class.clone().unwrap_or_default();
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
    // Buffers are bounded by concurrency × (okra.max_body + the transport's own read buffer
    // and the chunk in flight): 200 × (1 MiB + under 1 MiB), plus the process itself. Alone
    // this run peaks near 240 MiB; with the rest of the suite beside it on 2 cores, more reads
    // sit at their cap at once (354 MiB seen). Unbounded reads would need 200 × 20 MB = 4 GB.
    assert!(peak_kib < 464 * 1024, "peak RSS {peak_kib} KiB");
}
