//! Durable acknowledgements (`redis.durability`) on a real primary with a real replica: an
//! enqueue returns its ids only once the replica has them, an outcome counts as recorded only
//! then, and a replica that stops answering turns acknowledgements into typed errors (the jobs
//! are written, and named) instead of silent promises.

use super::*;
use okra_queue::rdb::Durability;
use okra_queue::{QueueError, RedisSettings};

fn durable(server: &RedisServer, level: Durability) -> RedisSettings {
    RedisSettings {
        durability: level,
        durability_timeout: Duration::from_secs(2),
        ..server.settings()
    }
}

/// A replica of `primary`, caught up.
async fn replica_of(primary: &RedisServer) -> RedisServer {
    let port = primary.port.to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    eventually(Duration::from_secs(10), "the replica in sync", || async {
        replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
    })
    .await;
    replica
}

#[tokio::test]
async fn acknowledgements_wait_for_a_replica() {
    let primary = RedisServer::start();
    // Without a replica, `replica` cannot be confirmed: the ids come back in the error.
    let queue = Queue::connect(&durable(&primary, Durability::Replica), test_config("d"))
        .await
        .unwrap();
    let err = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap_err();
    let QueueError::Unconfirmed { ids, why } = &err else {
        panic!("{err}")
    };
    assert_eq!(ids.len(), 1);
    assert!(
        why.contains("not confirmed on a replica within 2s"),
        "{why}"
    );
    assert!(
        err.to_string().starts_with("enqueued 1 jobs, not durable"),
        "{err}"
    );
    // The job is written: an idempotent retry or a lookup by id finds it.
    assert_eq!(queue.state(&ids[0]).await.unwrap(), Some(JobState::Ready));

    // With a replica in sync, enqueues and outcomes are confirmed, and the replica has them.
    let replica = replica_of(&primary).await;
    let ids: Vec<String> = queue
        .enqueue_bulk((0..50).map(|n| (probe("ok", n), EnqueueOptions::default())))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    let job_key = "okq:{d}:job";
    assert_eq!(replica.cli(&["HLEN", job_key]).trim(), "51");
    let fleet = start_fleet(&queue, test_options(), 1, handler).await;
    for id in &ids {
        ends_in(&queue, id, JobState::Completed, String::new).await;
    }
    // What the worker acknowledged is on the replica.
    assert_eq!(replica.cli(&["HLEN", "okq:{d}:result"]).trim(), "51");

    // A replica that stops answering: enqueues fail with their ids; outcomes wait (the jobs
    // stay leased) and are recorded once it answers again.
    replica.signal("STOP");
    let err = queue
        .enqueue(&probe("sleep", 50), EnqueueOptions::default())
        .await
        .unwrap_err();
    let QueueError::Unconfirmed { ids, .. } = err else {
        panic!("{err}")
    };
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Applied on the primary, but not acknowledged: the worker still holds the job's lease
    // (extending it), so its outcome is not counted as recorded.
    assert_eq!(
        queue.state(&ids[0]).await.unwrap(),
        Some(JobState::Completed)
    );
    assert_eq!(fleet.runtime.in_flight(), 1);
    replica.signal("CONT");
    eventually(Duration::from_secs(10), "the outcome confirmed", || async {
        fleet.runtime.in_flight() == 0
    })
    .await;
    assert_eq!(replica.cli(&["HLEN", "okq:{d}:result"]).trim(), "52");
    fleet.stop().await;
}

#[tokio::test]
async fn what_cannot_work_is_refused_at_connect() {
    let server = RedisServer::start();
    let version = server.cli(&["INFO", "server"]);
    let version = version
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap()
        .trim()
        .to_string();
    let aof = Queue::connect(&durable(&server, Durability::Aof), test_config("d")).await;
    let (major, minor) = {
        let mut p = version.split('.').map(|x| x.parse::<u32>().unwrap());
        (p.next().unwrap(), p.next().unwrap())
    };
    if (major, minor) < (7, 2) {
        let e = aof.unwrap_err().to_string();
        assert!(e.contains("needs WAITAOF (Redis 7.2 or later)"), "{e}");
    } else {
        aof.unwrap();
    }
}
