//! `make bench`, last part: what each `redis.durability` level costs, on a throwaway primary
//! with one replica (and its AOF on, for the AOF levels where the server has `WAITAOF`):
//! single-job enqueue latency p50/p99 (each returns once its level holds), bulk enqueue
//! throughput, and drain throughput (every outcome batch confirmed at the level before it
//! counts as recorded).
//!
//! Knobs: `BENCH_DURABLE_JOBS` (default 20000 for the drain), `BENCH_DURABLE_SAMPLES` (default
//! 500 single enqueues).

#[path = "../tests/common/mod.rs"]
mod common;

use common::cpu::{env, percentiles};

use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Monitor, WorkerBuilder};
use okra_queue::rdb::Durability;
use okra_queue::{EnqueueOptions, Job, Queue, QueueConfig, RedisSettings, WorkerOptions};
use serde::{Deserialize, Serialize};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    n: u64,
}

impl Job for Noop {
    fn kind(&self) -> &str {
        "noop"
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs = env("BENCH_DURABLE_JOBS", 20_000);
    let samples = env("BENCH_DURABLE_SAMPLES", 500);
    let primary = common::RedisServer::start_with(&["--appendonly", "yes"]);
    let port = primary.port.to_string();
    let replica = common::RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
    common::eventually(Duration::from_secs(10), "the replica in sync", || async {
        replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
    })
    .await;
    let version = primary.cli(&["INFO", "server"]);
    let version = version
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap_or("")
        .trim()
        .to_string();
    println!(
        "durability levels: a primary (AOF on, everysec) with one replica on loopback, Redis {version}; {samples} single enqueues, {jobs} jobs drained by one loop x 1,000\n"
    );
    println!(
        "{:<13} {:>14} {:>14} {:>16} {:>14}",
        "durability", "enqueue p50 ms", "enqueue p99 ms", "bulk enqueue/s", "drain jobs/s"
    );
    for level in [
        Durability::None,
        Durability::Replica,
        Durability::Aof,
        Durability::ReplicaAof,
    ] {
        let settings = RedisSettings {
            durability: level,
            ..primary.settings()
        };
        let name = format!("bench-durable-{}", level.as_str().replace('+', "-"));
        let queue = match Queue::connect(&settings, QueueConfig::new(&name)).await {
            Ok(q) => q,
            Err(e) => {
                println!("{:<13} not measured: {e}", level.as_str());
                continue;
            }
        };
        let mut lat = Vec::with_capacity(samples);
        for n in 0..samples as u64 {
            let t = Instant::now();
            queue
                .enqueue(&Noop { n }, EnqueueOptions::default())
                .await?;
            lat.push(t.elapsed());
        }
        let (p50, p99) = percentiles(lat);
        let batch: Vec<_> = (0..jobs as u64)
            .map(|n| (Noop { n }, EnqueueOptions::default()))
            .collect();
        let t = Instant::now();
        queue.enqueue_bulk(batch).await?;
        let bulk = jobs as f64 / t.elapsed().as_secs_f64();
        let total = (jobs + samples) as u64;
        let runtime = queue
            .runtime(WorkerOptions {
                concurrency: 1000,
                batch: 1000,
                ..WorkerOptions::default()
            })
            .await?;
        let backend = runtime.backend::<Noop>();
        let t = Instant::now();
        let monitor = Monitor::new().register(move |_| {
            WorkerBuilder::new("bench")
                .backend(backend.clone())
                .build(|_job: Noop| async { Ok::<_, BoxDynError>(()) })
        });
        let q = queue.clone();
        let done = async move {
            loop {
                if q.stats().await.is_ok_and(|s| s.succeeded >= total) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = monitor.run() => {}
            _ = done => {}
        }
        let drain = total as f64 / t.elapsed().as_secs_f64();
        runtime.shutdown().await;
        println!(
            "{:<13} {:>14.2} {:>14.2} {:>16.0} {:>14.0}",
            level.as_str(),
            p50,
            p99,
            bulk,
            drain
        );
    }
    Ok(())
}
