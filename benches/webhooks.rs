//! `make bench`, webhooks: from a job's completion (the time `outcome.lua` recorded it, in the
//! event's `timestamp`) to a local receiver's 2xx, through one real `okra-worker` (its
//! forwarder and the companion queue's delivery jobs) and the real `okra-sandbox`.
//!
//! - paced: jobs enqueued at a steady rate well under the fleet's capacity; the latency an app
//!   sees, p50 / p99 / max (target p99 <= 100 ms);
//! - burst: every job enqueued at once; deliveries per second (and the latency under backlog,
//!   for reference).
//!
//! Knobs (environment): `BENCH_WEBHOOK_JOBS` (burst, default 5000), `BENCH_WEBHOOK_RATE` (paced
//! jobs/s, default 200, for 5 s), `REDIS_URL` (default: a throwaway `redis-server`).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/webhooks/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use common::cpu::env;
use common::procs::{Sandbox, WorkerSpec, start_worker};
use okra_queue::okra::OkraJob;
use okra_queue::webhooks::NewEndpoint;
use okra_queue::{EnqueueOptions, Queue, QueueConfig, RedisSettings};
use receiver::{Got, Receiver};

fn job(tag: usize, i: usize) -> (OkraJob, EnqueueOptions) {
    (
        OkraJob::new("bvn_verify", &[("bvn", &format!("2{tag}{i:06}123"))]).unwrap(),
        EnqueueOptions::default(),
    )
}

/// Completion → receiver latency of one delivery (ms).
fn latency_of(g: &Got) -> u64 {
    let ts = g.json()["timestamp"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let at = humantime::parse_rfc3339(&ts).expect("an RFC 3339 timestamp");
    let at = at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    g.wall_ms.saturating_sub(at)
}

/// Completion → receiver latencies (ms), sorted.
fn latencies(got: &[Got]) -> Vec<u64> {
    let mut l: Vec<u64> = got.iter().map(latency_of).collect();
    l.sort_unstable();
    l
}

fn pct(l: &[u64], p: f64) -> u64 {
    l[((l.len() as f64 - 1.0) * p).round() as usize]
}

async fn wait_for(r: &Receiver, n: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while r.got().len() < n {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {n} webhooks arrived",
            r.got().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs = env("BENCH_WEBHOOK_JOBS", 5000);
    let rate = env("BENCH_WEBHOOK_RATE", 200);
    let (_server, url) = common::cpu::bench_redis();
    let dir = tempfile::tempdir()?;
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = Queue::connect(
        &RedisSettings::new(&url),
        QueueConfig::new("bench-webhooks"),
    )
    .await?;
    queue.register().await?;
    let r = Receiver::start().await;
    let allow = vec!["127.0.0.1".to_string()];
    queue
        .webhook_add(
            NewEndpoint {
                url: r.url(),
                ..NewEndpoint::default()
            },
            &allow,
        )
        .await?;
    let spec = WorkerSpec {
        queue: "bench-webhooks",
        concurrency: 200,
        env: vec![(
            "OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS",
            "[\"127.0.0.1\"]".into(),
        )],
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 0, &url, &sandbox.url, &spec);
    println!("webhooks: one okra-worker, okra-sandbox, a local receiver, redis {url}\n");

    // Paced: `rate` jobs a second for 5 s, in 20 ms steps.
    let paced = rate * 5;
    let step = (rate / 50).max(1);
    let started = Instant::now();
    let mut sent = 0;
    while sent < paced {
        let n = step.min(paced - sent);
        queue
            .enqueue_bulk((sent..sent + n).map(|i| job(1, i)))
            .await?;
        sent += n;
        let due = started + Duration::from_millis(20 * (sent / step) as u64);
        tokio::time::sleep_until(due.into()).await;
    }
    wait_for(&r, paced, Duration::from_secs(60)).await?;
    let l = latencies(&r.got());
    println!(
        "paced {rate} jobs/s ({paced} jobs): completion → 2xx p50 {} ms, p99 {} ms, max {} ms (target p99 <= 100 ms)",
        pct(&l, 0.5),
        pct(&l, 0.99),
        l[l.len() - 1]
    );

    // Burst: every job at once.
    let before = r.got().len();
    queue.enqueue_bulk((0..jobs).map(|i| job(2, i))).await?;
    wait_for(&r, before + jobs, Duration::from_secs(300)).await?;
    let got: Vec<Got> = r.got().into_iter().skip(before).collect();
    let span = got[got.len() - 1].at - got[0].at;
    let l = latencies(&got);
    // The jobs' own completion rate bounds the deliveries': the two side by side say whether
    // deliveries keep up.
    let done: Vec<u64> = got.iter().map(|g| g.wall_ms - latency_of(g)).collect();
    let done_span = done.iter().max().unwrap() - done.iter().min().unwrap();
    println!(
        "burst {jobs} jobs: {:.0} deliveries/s while the jobs completed at {:.0}/s; completion → 2xx p50 {} ms, p99 {} ms (backlog included)",
        jobs as f64 / span.as_secs_f64().max(1e-3),
        jobs as f64 * 1000.0 / (done_span.max(1) as f64),
        pct(&l, 0.5),
        pct(&l, 0.99)
    );
    worker.kill();
    Ok(())
}
