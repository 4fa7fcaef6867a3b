//! Stats, workers and pause; the queue latency; the per-minute counters.

use super::*;

#[tokio::test]
async fn stats_workers_and_pause() {
    let server = RedisServer::start();
    let queue = seed(&server, "ops").await;
    let s = admin(&server, "ops", &["--json", "stats"]).ok().json();
    for key in [
        "scheduled",
        "ready",
        "running",
        "dead",
        "completed",
        "processed",
        "succeeded",
        "retried",
        "paused",
        "workers",
    ] {
        assert!(s.get(key).is_some(), "stats --json lacks `{key}`: {s}");
    }
    assert_eq!(s["dead"], 45);
    assert_eq!(s["paused"], false);
    let table = admin(&server, "ops", &["stats"]).ok().out;
    assert!(
        table.contains("scheduled") && table.contains("45"),
        "{table}"
    );

    admin(&server, "ops", &["queue", "pause"]).ok();
    assert!(queue.stats().await.unwrap().paused);
    assert_eq!(
        admin(&server, "ops", &["--json", "stats"]).json()["paused"],
        true
    );
    admin(&server, "ops", &["queue", "resume"]).ok();
    assert!(!queue.stats().await.unwrap().paused);

    let rt = queue.runtime(test_options()).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the worker's first heartbeat",
        || async {
            admin(&server, "ops", &["--json", "workers"])
                .ok()
                .json()
                .as_array()
                .unwrap()
                .len()
                == 1
        },
    )
    .await;
    let table = admin(&server, "ops", &["workers"]).ok().out;
    assert!(table.contains(rt.node_id()), "{table}");
    rt.shutdown().await;
    let w = admin(&server, "ops", &["--json", "workers"]).ok().json();
    assert_eq!(
        w.as_array().unwrap().len(),
        0,
        "a stopped worker deregisters: {w}"
    );
}

#[tokio::test]
async fn queue_latency_is_the_age_of_the_oldest_ready_job() {
    let server = RedisServer::start();
    let q = producer(&server, "identity").await;
    put(
        &q,
        bvn("22234567890"),
        EnqueueOptions::delay(Duration::from_secs(600)),
    )
    .await;
    assert_eq!(q.stats().await.unwrap().latency_ms, 0, "nothing is ready");
    put(&q, bvn("22234567891"), EnqueueOptions::default()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    put(&q, bvn("22234567892"), EnqueueOptions::default()).await;
    let waited = q.stats().await.unwrap().latency_ms;
    assert!((300..60_000).contains(&waited), "{waited}");
    let stats = admin(&server, "identity", &["stats", "--json"]).ok().json();
    assert!(stats["latency_ms"].as_u64().unwrap() >= 300, "{stats}");
    let human = admin(&server, "identity", &["stats"]).ok().out;
    assert!(human.contains("oldest ready job waiting"), "{human}");
}

#[tokio::test]
async fn per_minute_counters_are_kept_two_hours() {
    let server = RedisServer::start();
    let q = producer(&server, "minutes").await;
    let id = put(&q, bvn("22234567890"), EnqueueOptions::default()).await;
    let fleet = start_fleet(&q, test_options(), 1, flaky).await;
    q.wait(&id, Duration::from_secs(10)).await.unwrap();
    fleet.stop().await;
    let last: Vec<_> = q.throughput(5).await.unwrap();
    assert_eq!(last.len(), 5);
    let (p, f) = last
        .iter()
        .fold((0, 0), |(p, f), m| (p + m.processed, f + m.failed));
    assert_eq!((p, f), (2, 1), "one retry, one success");
    // A field from long ago (or not shaped `minute|x`) goes at the next trim; recent ones stay.
    server.cli(&["hset", "okq:{minutes}:minutes", "12|p", "5", "junk", "1"]);
    q.rdb()
        .trim(0, Duration::ZERO, Duration::from_secs(3600), 100)
        .await
        .unwrap();
    let fields = server.cli(&["hkeys", "okq:{minutes}:minutes"]);
    assert!(
        !fields.contains("12|p") && !fields.contains("junk"),
        "{fields}"
    );
    assert_eq!(q.throughput(5).await.unwrap(), last);
}
