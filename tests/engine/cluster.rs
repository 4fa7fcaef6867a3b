//! The core flow on a real 3-master Redis Cluster.

use super::*;

/// The core flow on a real 3-master Redis Cluster: enqueue, claim, retry, dead, requeue.
#[tokio::test]
async fn core_flow_on_a_three_master_cluster() {
    let cluster = RedisCluster::start();
    let settings = cluster.settings();
    // Queues whose hash tags land on the three different masters (slots 2653, 8336, 15536).
    for name in ["identity", "company", "nin"] {
        let queue = Queue::connect(&settings, test_config(name)).await.unwrap();
        let fleet = start_fleet(&queue, test_options(), 2, handler).await;
        let ok = queue
            .enqueue(&probe("ok", 1), EnqueueOptions::default())
            .await
            .unwrap();
        let flaky = queue
            .enqueue(&probe("flaky", 1), EnqueueOptions::default())
            .await
            .unwrap();
        let dead = queue
            .enqueue(&probe("terminal", 0), EnqueueOptions::default())
            .await
            .unwrap();
        let bulk: Vec<_> = (0..2000)
            .map(|i| (probe("ok", i), EnqueueOptions::default()))
            .collect();
        queue.enqueue_bulk(bulk).await.unwrap();
        ends_in(&queue, &ok.id, JobState::Completed, String::new).await;
        let f = queue
            .wait(&flaky.id, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!((f.state, f.attempts), (JobState::Completed, 2));
        ends_in(&queue, &dead.id, JobState::Dead, String::new).await;
        let filter = DeadFilter {
            class: Some("flagged_user".into()),
            ..DeadFilter::default()
        };
        assert_eq!(queue.dead_count(&filter).await.unwrap(), 1);
        let report = queue
            .dead_requeue_matching(&filter, RequeueAt::Now, |_| {})
            .await
            .unwrap();
        assert_eq!(report.changed, 1);
        eventually(
            Duration::from_secs(10),
            "requeued job died again",
            || async { queue.stats().await.unwrap().died == 2 },
        )
        .await;
        eventually(Duration::from_secs(20), "bulk drained", || async {
            queue.stats().await.unwrap().completed == 2002
        })
        .await;
        fleet.stop().await;
    }
    for port in &cluster.ports {
        let keys: u64 = redis_cli(*port, &["dbsize"]).trim().parse().unwrap();
        assert!(keys > 0, "master on port {port} holds one of the queues");
    }
}
