//! Graceful shutdown: short jobs finish, unfinished ones go back with their attempt.

use super::*;

#[tokio::test]
async fn graceful_shutdown_lets_short_jobs_finish() {
    let server = RedisServer::start();
    let queue = setup(&server, "grace").await;
    let fleet = fleet(&queue).await;
    let jobs: Vec<_> = (0..4)
        .map(|_| (probe("sleep", 300), EnqueueOptions::default()))
        .collect();
    let ids = queue.enqueue_bulk(jobs).await.unwrap();
    eventually(Duration::from_secs(5), "running", || async {
        queue.stats().await.unwrap().running == 4
    })
    .await;
    let report = fleet.stop().await;
    assert_eq!(report.released, 0);
    for e in ids {
        assert_eq!(queue.state(&e.id).await.unwrap(), Some(JobState::Completed));
    }
}

#[tokio::test]
async fn graceful_shutdown_returns_unfinished_leases_without_spending_attempts() {
    let server = RedisServer::start();
    let queue = setup(&server, "release").await;
    let mut opts = test_options();
    opts.shutdown_grace = Duration::from_millis(300);
    let fleet = start_fleet(&queue, opts, 2, handler).await;
    let jobs: Vec<_> = (0..5)
        .map(|_| (probe("sleep", 30_000), EnqueueOptions::default()))
        .collect();
    let ids = queue.enqueue_bulk(jobs).await.unwrap();
    eventually(Duration::from_secs(5), "running", || async {
        queue.stats().await.unwrap().running == 5
    })
    .await;
    let t = Instant::now();
    let report = fleet.stop().await;
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(report.released, 5);
    let stats = queue.stats().await.unwrap();
    assert_eq!((stats.ready, stats.running, stats.released), (5, 0, 5));
    assert_eq!(stats.workers, 0, "the heartbeat is removed");
    for e in ids {
        let rec = queue.job(&e.id).await.unwrap().unwrap();
        assert_eq!(rec.state, JobState::Ready);
        assert_eq!(rec.attempts, 0, "the attempt is refunded");
        assert_eq!(rec.history.last().unwrap().outcome.as_str(), "released");
    }
}
