//! Account-level failures pause the queue instead of burning the backlog: a wrong key, a redirect, the drain guard.

use super::*;

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

#[tokio::test]
async fn a_redirect_is_never_followed_and_pauses_the_queue() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "redirect").await;
    let id = queue
        .enqueue(
            &OkraJob::new("bvn_verify", &[("bvn", "22500000301")]).unwrap(),
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
async fn the_drain_guard_keeps_what_is_in_flight() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--latency", "100ms"]);
    let queue = producer(&server, "inflight").await;
    enqueue_many(&queue, 300, "1234").await;
    let spec = WorkerSpec {
        queue: "inflight",
        concurrency: 50,
        drain_guard: 20,
        ..WorkerSpec::default()
    };
    // Every route answers 404; 100 calls are in flight when the guard trips.
    let wrong = format!("{}/wrong-prefix", sandbox.url);
    let _workers: Vec<_> = (1..=2)
        .map(|n| start_worker(dir.path(), n, &server.url(), &wrong, &spec))
        .collect();
    paused_within(&queue, Duration::from_secs(10)).await;
    eventually(Duration::from_secs(10), "nothing running", || async {
        queue.stats().await.unwrap().running == 0
    })
    .await;
    let s = queue.stats().await.unwrap();
    println!(
        "drain guard 20, 2 workers x 50 in flight, 300 jobs: {} dead letters, {} waiting",
        s.dead,
        s.ready + s.scheduled
    );
    assert!(s.dead <= 20 + 5, "answers after the pause go back: {s:?}");
    assert_eq!(s.dead + s.ready + s.scheduled, 300, "nothing else: {s:?}");
    // The ones given back spent no attempt.
    let ready = common::cli::admin(
        &server,
        "inflight",
        &[
            "--json", "jobs", "list", "--state", "ready", "--limit", "1000",
        ],
    )
    .ok()
    .json();
    assert!(
        ready["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["attempts"] == 0),
        "{ready}"
    );
}
