//! The README's producer example, compiled by `make test` and run against a real Redis in
//! `tests/okra.rs`. A producer needs only `okra-queue = { default-features = false }`.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run --example producer`

use std::time::Duration;

use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue, QueueConfig, QueueError, RedisSettings};

#[tokio::main]
async fn main() -> Result<(), QueueError> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let queue = Queue::connect(&RedisSettings::new(url), QueueConfig::new("identity")).await?;

    // One job, enqueued at most once per idempotency key.
    let job =
        OkraJob::new("bvn_verify", &[("bvn", "22234567890")]).map_err(QueueError::InvalidJob)?;
    let first = queue
        .enqueue(&job, EnqueueOptions::default().idempotency_key("order-42"))
        .await?;
    let again = queue
        .enqueue(&job, EnqueueOptions::default().idempotency_key("order-42"))
        .await?;
    assert!(again.duplicate && again.id == first.id); // nothing enqueued twice

    // Delayed, with its own attempt budget.
    queue
        .enqueue(
            &job,
            EnqueueOptions::delay(Duration::from_secs(30)).max_attempts(5),
        )
        .await?;

    // Many at once: (job, options) pairs, written in chunks of 1,000.
    let jobs = (0..3)
        .map(|i| OkraJob::new("bvn_verify", &[("bvn", &format!("2223456{i:04}"))]))
        .collect::<Result<Vec<_>, _>>()
        .map_err(QueueError::InvalidJob)?;
    let written = queue
        .enqueue_bulk(jobs.into_iter().map(|j| (j, EnqueueOptions::default())))
        .await?;
    println!("enqueued {} jobs; first {}", written.len() + 2, first.id);

    // Wait for the outcome when a worker runs (here: give up after `WAIT_SECS`, default 0).
    let wait: u64 = std::env::var("WAIT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if wait > 0 {
        let record = queue.wait(&first.id, Duration::from_secs(wait)).await?;
        println!("{} {:?}", record.state, record.result);
    }
    Ok(())
}
