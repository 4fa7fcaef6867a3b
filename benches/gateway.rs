//! `make bench`: `okra-gateway` against the library on the same Redis, in one run.
//!
//! - single enqueues: HTTP requests on keep-alive connections (`BENCH_CONCURRENCY` in flight)
//!   against `Queue::enqueue` with as many in flight; target ratio ≥ 0.5;
//! - batches of 1,000: `POST …/jobs/batch` against `Queue::enqueue_bulk`; target ≥ 0.7;
//! - the gateway's CPU per enqueue (from `/proc`, over the single-enqueue run);
//! - latency p50/p99 at a steady 1,000 requests/s (open loop, `BENCH_RATE_SECS` seconds).
//!
//! Knobs: `BENCH_SINGLE` (default 20000), `BENCH_BATCHES` (default 20), `BENCH_CONCURRENCY`
//! (default 32), `BENCH_RATE_SECS` (default 5).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/gateway/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cpu::{env, percentiles, proc_cpu};
use futures::StreamExt;
use okra_queue::api_keys::Scope;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue, QueueConfig};
use serde_json::{Value, json};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn job_json(n: usize) -> Value {
    json!({"kind": "bvn_verify", "bvn": format!("222{:08}", n % 100_000_000)})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let single = env("BENCH_SINGLE", 20_000);
    let batches = env("BENCH_BATCHES", 20);
    let conc = env("BENCH_CONCURRENCY", 32);
    let rate_secs = env("BENCH_RATE_SECS", 5);
    let server = common::RedisServer::start();
    let dir = tempfile::tempdir()?;
    let queue = Queue::connect(&server.settings(), QueueConfig::new("bench")).await?;
    queue.register().await?;
    let (_, token) = queue
        .api_key_create("bench", &Scope::DEFAULT, 10_000_000)
        .await?;
    let config = harness::config(dir.path(), "bench", "");
    let gw = harness::Gateway::start(dir.path(), &server.url(), &config, &[]);
    let pid = gw.proc.pid().to_string();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()?;
    let auth = format!("Bearer {token}");
    let url = gw.jobs("bench");
    println!(
        "okra-gateway benchmark: redis {}, {conc} requests in flight, {} CPU cores\n",
        server.url(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // Single enqueues: the library, then HTTP.
    let jobs: Vec<OkraJob> = (0..single)
        .map(|n| OkraJob::from_json(job_json(n)).unwrap())
        .collect();
    let t = Instant::now();
    futures::stream::iter(jobs.iter())
        .map(|j| queue.enqueue(j, EnqueueOptions::default()))
        .buffer_unordered(conc)
        .for_each(|r| async move {
            r.expect("library enqueue");
        })
        .await;
    let lib_single = single as f64 / t.elapsed().as_secs_f64();
    let cpu0 = proc_cpu(&pid);
    let t = Instant::now();
    futures::stream::iter(0..single)
        .map(|n| {
            http.post(&url)
                .header("authorization", &auth)
                .json(&json!({"job": job_json(n)}))
                .send()
        })
        .buffer_unordered(conc)
        .for_each(|r| async move {
            assert_eq!(r.expect("HTTP enqueue").status().as_u16(), 201);
        })
        .await;
    let http_single = single as f64 / t.elapsed().as_secs_f64();
    let cpu_us = (proc_cpu(&pid) - cpu0) * 1e6 / single as f64;

    // Batches of 1,000: the library's bulk enqueue, then HTTP.
    let t = Instant::now();
    for b in 0..batches {
        let chunk = (0..1000).map(|n| {
            (
                OkraJob::from_json(job_json(b * 1000 + n)).unwrap(),
                EnqueueOptions::default(),
            )
        });
        queue.enqueue_bulk(chunk).await?;
    }
    let lib_bulk = (batches * 1000) as f64 / t.elapsed().as_secs_f64();
    let bodies: Vec<String> = (0..batches)
        .map(|b| {
            let jobs: Vec<Value> = (0..1000)
                .map(|n| json!({"job": job_json(b * 1000 + n)}))
                .collect();
            json!({ "jobs": jobs }).to_string()
        })
        .collect();
    let t = Instant::now();
    for body in bodies {
        let r = http
            .post(format!("{url}/batch"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await?;
        assert!(v["results"][999]["id"].is_string(), "{}", v["results"][999]);
    }
    let http_bulk = (batches * 1000) as f64 / t.elapsed().as_secs_f64();

    // Latency at a steady 1,000 requests/s.
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for n in 0..rate_secs * 1000 {
        tick.tick().await;
        let (http, url, auth, samples) = (http.clone(), url.clone(), auth.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = http
                .post(&url)
                .header("authorization", &auth)
                .json(&json!({"job": job_json(n)}))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().as_u16() == 201) {
                samples.lock().unwrap().push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let ok = samples.len();
    let (p50, p99) = percentiles(samples);

    println!("| measure | library | HTTP gateway | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| single enqueues/s ({single} jobs) | {lib_single:.0} | {http_single:.0} | {:.2} | ≥ 0.50 |",
        http_single / lib_single
    );
    println!(
        "| bulk enqueues/s ({batches} × 1,000) | {lib_bulk:.0} | {http_bulk:.0} | {:.2} | ≥ 0.70 |",
        http_bulk / lib_bulk
    );
    println!("\ngateway CPU per single enqueue: {cpu_us:.1} µs (user + sys, from /proc)");
    println!(
        "latency at 1,000 requests/s for {rate_secs} s: p50 {p50:.2} ms, p99 {p99:.2} ms ({ok} of {} answered 201)",
        rate_secs * 1000
    );
    Ok(())
}
