//! Okra jobs end to end: the real `okra-worker` processes against the real `okra-sandbox` and a
//! real `redis-server`, with jobs enqueued through the library. One file per feature:
//! `classes.rs` (every failure class, the sandbox's protocol), `limits.rs` (the account's rate
//! limit and Okra's 429), `breaker.rs` (the circuit breaker and the drain guard), `pay_once.rs`
//! (never paying twice for one answer), `lookup_answers.rs` (when a lookup's "no identity" is
//! an answer), `sealed.rs` (sealing at rest, erasure, the audit trail), `keys.rs` (key
//! rotation, rekey, missing or bad keys),
//! `seal_guard.rs` (sealing as the queue's: plaintext refused, key check values, hashed
//! idempotency keys, erasing what answers carry), `matching.rs` (match requests: the decision
//! through the worker, nothing of the person at rest with `keep_profile = false`),
//! `providers.rs` (Prembly's and Dojah's wire formats
//! through the provider layer), `process.rs` (the worker process: signals,
//! configuration, metrics, memory), `service.rs` (health and readiness, `--check-config`, the
//! deploy recipes).

#[path = "../common/mod.rs"]
mod common;

mod breaker;
mod classes;
mod failover;
mod keys;
mod limits;
mod lookup_answers;
mod matching;
mod pay_once;
mod process;
mod providers;
mod reuse_entry;
mod seal_guard;
mod seal_kit;
mod sealed;
mod service;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::procs::{Sandbox, WorkerSpec, start_worker};
use common::*;
use okra_queue::okra::{OkraJob, OkraResult};
use okra_queue::{EnqueueOptions, JobRecord, JobState, Queue, QueueConfig, RawJob};

fn bvn(b: &str) -> OkraJob {
    OkraJob::new("bvn_verify", &[("bvn", b)]).unwrap()
}

fn bvn_opts(b: String) -> (OkraJob, EnqueueOptions) {
    (
        OkraJob::new("bvn_verify", &[("bvn", &b)]).unwrap(),
        EnqueueOptions::default(),
    )
}

async fn producer(server: &RedisServer, name: &str) -> Queue {
    let mut cfg = QueueConfig::new(name);
    cfg.retry.max_attempts = 3;
    // The workers' Okra account, so `stats` shows its throttle and usage.
    cfg.account = Some(okra_queue::rdb::AccountLimit {
        name: "default".into(),
        limit: 0,
        window: Duration::from_secs(61),
    });
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

async fn enqueue(queue: &Queue, job: OkraJob) -> String {
    queue
        .enqueue(&job, EnqueueOptions::default())
        .await
        .unwrap()
        .id
}

async fn enqueue_many(queue: &Queue, n: usize, suffix: &str) -> Vec<String> {
    queue
        .enqueue_bulk((0..n).map(|i| bvn_opts(format!("22{i:05}{suffix}"))))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

async fn finished(queue: &Queue, id: &str, logs: &str) -> JobRecord {
    match queue.wait(id, Duration::from_secs(20)).await {
        Ok(r) => r,
        Err(e) => panic!("{e}; worker log:\n{logs}"),
    }
}

/// Class, reason, HTTP status, Okra type and attempts of a dead letter.
fn death(r: &JobRecord) -> (String, String, Option<u16>, Option<String>, u32) {
    assert_eq!(r.state, JobState::Dead, "{r:#?}");
    let f = r
        .last_error
        .clone()
        .expect("dead letters keep their failure");
    (
        f.class,
        f.reason.unwrap_or_default(),
        f.http_status,
        f.error_type,
        r.attempts,
    )
}

/// Waits until the queue is paused; returns how long it took and the reason.
async fn paused_within(queue: &Queue, limit: Duration) -> (Duration, String) {
    let started = Instant::now();
    loop {
        let s = queue.stats().await.unwrap();
        if s.paused {
            return (started.elapsed(), s.pause_reason.unwrap_or_default());
        }
        assert!(
            started.elapsed() < limit,
            "not paused within {limit:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn run_admin(server: &RedisServer, queue: &str, args: &[&str]) -> String {
    common::procs::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--redis-url", &server.url(), "--queue", queue])
            .args(args)
            .env_remove("OKQ_CONFIG"),
    )
}
