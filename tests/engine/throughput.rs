//! Many jobs: 20,000 at once, 100,000 in one bulk call, due jobs moved in bounded batches.

use super::*;

#[tokio::test]
async fn twenty_thousand_jobs_at_once_then_drained() {
    let server = RedisServer::start();
    let queue = setup(&server, "bulk").await;
    let jobs: Vec<_> = (0..20_000)
        .map(|i| (probe("ok", i), EnqueueOptions::default()))
        .collect();
    let out = queue.enqueue_bulk(jobs).await.unwrap();
    assert_eq!(out.len(), 20_000);
    assert_eq!(queue.stats().await.unwrap().ready, 20_000);
    let mut opts = test_options();
    opts.concurrency = 500;
    opts.batch = 500;
    let fleet = start_fleet(&queue, opts, 2, handler).await;
    eventually(Duration::from_secs(60), "drained", || async {
        queue.stats().await.unwrap().completed == 20_000
    })
    .await;
    let stats = queue.stats().await.unwrap();
    assert_eq!(
        (stats.ready, stats.running, stats.succeeded),
        (0, 0, 20_000)
    );
    fleet.stop().await;
}

#[tokio::test]
async fn hundred_thousand_jobs_in_one_bulk_call_and_a_million_due_ones_promote_in_batches() {
    let server = RedisServer::start();
    let queue = setup(&server, "huge").await;
    let jobs: Vec<_> = (0..100_000)
        .map(|i| {
            (
                probe("ok", i),
                EnqueueOptions::delay(Duration::from_millis(50)),
            )
        })
        .collect();
    let out = queue.enqueue_bulk(jobs).await.unwrap();
    assert_eq!(out.len(), 100_000);
    assert_eq!(queue.stats().await.unwrap().scheduled, 100_000);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Each call moves at most 1,000 and says whether more are due now.
    let mut calls = 0;
    while queue.rdb().forward().await.unwrap() == Some(Duration::ZERO) {
        calls += 1;
        assert!(calls <= 200, "forward moves due jobs in bounded batches");
    }
    assert!(
        calls >= 99,
        "100,000 due jobs take about 100 calls, not {calls}"
    );
    assert_eq!(queue.stats().await.unwrap().ready, 100_000);
}
