//! Running the worker as a service: `/healthz` and `/readyz` on the metrics listener (through a
//! Redis outage, a pause and a graceful shutdown), `--check-config`, and the deploy recipes
//! checked against the binary (the systemd unit with `systemd-analyze verify`, the Kubernetes
//! probes' paths and ports).

use super::*;

/// A probe's status and JSON body (status 0 when nothing answered).
async fn probe(addr: &str, path: &str) -> (u16, serde_json::Value) {
    match reqwest::get(format!("http://{addr}{path}")).await {
        Ok(r) => {
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or_default())
        }
        Err(_) => (0, serde_json::Value::Null),
    }
}

async fn wait_probe(addr: &str, path: &str, status: u16, reason: &str) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let (s, body) = probe(addr, path).await;
        let why = body["reason"].as_str().unwrap_or("");
        if s == status && why.contains(reason) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} never answered {status} {reason:?}; last: {s} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn probes_follow_redis_a_pause_and_a_graceful_shutdown() {
    let mut server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--latency", "3s"]);
    let queue = producer(&server, "probed").await;
    let addr = format!("127.0.0.1:{}", free_port());
    let spec = WorkerSpec {
        queue: "probed",
        metrics_addr: Some(addr.clone()),
        grace: "20s",
        okra_timeout: "10s",
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    // Ready once it claims; alive all along; one line of JSON each.
    let ok = wait_probe(&addr, "/readyz", 200, "").await;
    assert_eq!(ok, serde_json::json!({"status": "ok"}));
    assert_eq!(probe(&addr, "/healthz").await.0, 200);
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("okq_jobs_total"), "{metrics}");

    // A pause: not ready, with the reason; ready again on resume.
    queue.pause().await.unwrap();
    let paused = wait_probe(&addr, "/readyz", 503, "paused: paused by an operator").await;
    assert_eq!(paused["status"], "unavailable");
    assert_eq!(probe(&addr, "/healthz").await.0, 200);
    queue.resume().await.unwrap();
    wait_probe(&addr, "/readyz", 200, "").await;

    // Redis away: not ready, still alive (a restart would not bring Redis back).
    server.kill();
    wait_probe(&addr, "/readyz", 503, "Redis unreachable").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (alive, body) = probe(&addr, "/healthz").await;
    assert_eq!(alive, 200, "{body}");
    server.start_again();
    wait_probe(&addr, "/readyz", 200, "").await;

    // SIGTERM while a job runs (the sandbox answers after 3 s): unready at once, alive until
    // it exits once the job is recorded.
    let queue = producer(&server, "probed").await;
    let id = enqueue(&queue, bvn("22212345678")).await;
    eventually(Duration::from_secs(10), "the job running", || async {
        queue.state(&id).await.unwrap() == Some(JobState::Running)
    })
    .await;
    common::procs::signal(worker.pid(), "TERM");
    let stopping = wait_probe(&addr, "/readyz", 503, "shutting down").await;
    assert_eq!(stopping["reason"], "shutting down");
    assert_eq!(probe(&addr, "/healthz").await.0, 200);
    let status = worker.terminate(Duration::from_secs(30));
    assert!(status.success(), "{}", worker.log_text());
    assert_eq!(queue.state(&id).await.unwrap(), Some(JobState::Completed));
}

/// `okra-worker` or `okra-admin` with `args`, its environment cleared of settings.
fn binary(exe: &str, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .env_remove("OKQ_CONFIG")
        .env_remove("REDIS_URL")
        .env_remove("OKRA_SECRET_KEY")
        .envs(env.iter().copied());
    cmd.output().unwrap()
}

#[tokio::test]
async fn check_config_lists_every_problem_and_touches_redis_only_when_asked() {
    let worker = env!("CARGO_BIN_EXE_okra-worker");
    let admin = env!("CARGO_BIN_EXE_okra-admin");
    let nobody = format!("redis://app:hunter2@127.0.0.1:{}", free_port());
    let index = "check-index-key-0123456789";
    let good = [
        ("REDIS_URL", nobody.as_str()),
        ("OKRA_SECRET_KEY", "sk_test_check"),
        ("OKQ_QUEUE__INDEX_KEY", index),
    ];
    for exe in [worker, admin] {
        // Sound, with nothing listening at the URL: checked without connecting.
        let out = binary(
            exe,
            &["--config", "config/default.toml", "--check-config"],
            &good,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{exe}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.starts_with("configuration OK"), "{text}");
        assert!(text.contains("worker.shutdown_grace = \"30s\""), "{text}");
        assert!(text.contains("redis.url = \"redis://app:"), "{text}");
        assert!(
            !text.contains("hunter2") && !text.contains(index),
            "secrets shown: {text}"
        );
        // Asked to connect: Redis is not there.
        let out = binary(exe, &["--check-config", "--connect"], &good);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("- redis: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    // Every problem at once, one per line.
    let out = binary(
        worker,
        &["--check-config", "--metrics-addr", "nope"],
        &[
            ("OKQ_REDIS__URL", "rediss://127.0.0.1:6379"),
            ("OKQ_REDIS__TLS_CA", "/nonexistent/ca.pem"),
            ("OKQ_WORKER__CONCURRENCY", "0"),
            ("OKQ_SEAL__KEYS_FILE", "/nonexistent/seal-keys"),
            ("OKQ_LOG__FORMAT", "xml"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for problem in [
        "problems in the configuration",
        "cannot read tls_ca /nonexistent/ca.pem",
        "worker.concurrency must be at least 1",
        "/nonexistent/seal-keys",
        "log.format must be",
        "OKRA_SECRET_KEY is not set",
        "worker.metrics_addr `nope` is not host:port",
    ] {
        assert!(err.contains(problem), "{problem:?} missing from:\n{err}");
    }
    assert!(
        err.lines().filter(|l| l.starts_with("  - ")).count() >= 6,
        "{err}"
    );
    // With a server there, --connect reaches it.
    let server = RedisServer::start();
    let url = server.url();
    let out = binary(
        admin,
        &["--check-config", "--connect"],
        &[("REDIS_URL", url.as_str())],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("answers"));
    // --connect alone is a usage error.
    let out = binary(admin, &["--connect"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// The value after `key` on the first line (after `from`) that has it, trimmed of quotes.
fn yaml_value(text: &str, from: &str, key: &str) -> String {
    let start = text.find(from).unwrap_or_else(|| panic!("no {from}"));
    text[start..]
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} after {from}"))
        .trim()
        .trim_matches('"')
        .to_string()
}

#[tokio::test]
async fn deploy_recipes_agree_with_the_binary() {
    let defaults =
        okra_queue::config::Settings::load(Some(std::path::Path::new("config/default.toml")))
            .unwrap();
    // The stop timeout leaves the grace plus the 10 s shutdown needs to record and give back.
    let needed = defaults.worker.shutdown_grace.as_secs() + 10;

    // systemd: the unit verifies, with the real binary in place of the installed one.
    let unit = std::fs::read_to_string("deploy/okra-worker.service").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("okra-worker.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/okra-worker",
            env!("CARGO_BIN_EXE_okra-worker"),
        ),
    )
    .unwrap();
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian: apt-get install systemd; .ci/run installs it)");
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && said.trim().is_empty(), "{said}");
    let setting = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("{key} missing"))
            .to_string()
    };
    assert_eq!(setting("KillSignal"), "SIGTERM");
    let stop = humantime::parse_duration(&setting("TimeoutStopSec")).unwrap();
    assert!(
        stop.as_secs() > needed,
        "TimeoutStopSec {stop:?} <= {needed}s"
    );
    for hardening in ["NoNewPrivileges", "DynamicUser"] {
        assert_eq!(setting(hardening), "yes");
    }
    assert_eq!(setting("ProtectSystem"), "strict");

    // Container: built as the README's release build, run as a non-root user.
    let docker = std::fs::read_to_string("deploy/Dockerfile").unwrap();
    let makefile = std::fs::read_to_string("Makefile").unwrap();
    let release = makefile
        .split("\nrelease:\n\t")
        .nth(1)
        .and_then(|r| r.lines().next())
        .unwrap()
        .replace("$(CARGO)", "cargo");
    assert!(docker.contains(&format!("RUN {release}")), "{release}");
    for line in [
        "USER nonroot",
        "STOPSIGNAL SIGTERM",
        "target/release/okra-worker",
        "target/release/okra-admin",
        "target/release/okra-sandbox",
    ] {
        assert!(docker.contains(line), "{line} missing from the Dockerfile");
    }

    // Kubernetes: the probes' paths and port are the binary's.
    let k8s = std::fs::read_to_string("deploy/kubernetes/okra-worker.yaml").unwrap();
    let grace: u64 = yaml_value(&k8s, "spec:", "terminationGracePeriodSeconds:")
        .parse()
        .unwrap();
    assert!(
        grace > needed,
        "terminationGracePeriodSeconds {grace} <= {needed}"
    );
    let port = yaml_value(&k8s, "ports:", "containerPort:");
    assert_eq!(
        yaml_value(&k8s, "annotations:", "prometheus.io/port:"),
        port
    );
    assert!(k8s.contains(&format!("\"--metrics-addr\", \"0.0.0.0:{port}\"")));
    assert!(k8s.contains("secretKeyRef:") && k8s.contains("name: OKRA_SECRET_KEY"));
    let live = yaml_value(&k8s, "livenessProbe:", "path:");
    let ready = yaml_value(&k8s, "readinessProbe:", "path:");
    let metrics = yaml_value(&k8s, "annotations:", "prometheus.io/path:");
    assert_eq!(yaml_value(&k8s, "livenessProbe:", "port:"), "metrics");
    assert_eq!(yaml_value(&k8s, "readinessProbe:", "port:"), "metrics");
    assert_eq!(yaml_value(&k8s, "ports:", "- name:"), "metrics");
    // The real worker answers on those paths at that port.
    let server = RedisServer::start();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let addr = format!("127.0.0.1:{port}");
    let spec = WorkerSpec {
        queue: "k8s",
        metrics_addr: Some(addr.clone()),
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    wait_probe(&addr, &ready, 200, "").await;
    assert_eq!(probe(&addr, &live).await.0, 200);
    let scraped = reqwest::get(format!("http://{addr}{metrics}"))
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    worker.terminate(Duration::from_secs(20));
}
