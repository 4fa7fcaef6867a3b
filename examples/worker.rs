//! A custom worker and an app that waits for its result, in one process (README, "Library API").
//! Run against a real Redis: `REDIS_URL=redis://127.0.0.1:6379 cargo run --example worker`.
//! Built by `make test` without default features, and run by `tests/readme.rs`.

use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data, Monitor, WorkerBuilder};
use futures::StreamExt;
use okra_queue::ident::IndexKey;
use okra_queue::okra::pay_once::{Begin, PayOnce, Settled};
use okra_queue::okra::{OkraJob, OkraResult, OkraSettings};
use okra_queue::queue::events::Since;
use okra_queue::rdb::AccountLimit;
use okra_queue::{
    EnqueueOptions, JobContext, JobError, Queue, QueueConfig, RedisSettings, WorkerOptions,
};
use serde_json::value::{RawValue, to_raw_value};

/// Pays once with the library's unit: reuse within the window, one paid call per person at a
/// time, the budget and rate slots given back on every path that does not pay. The call
/// itself is a stand-in: a BVN ending in 0 fails once (retried), then it answers.
async fn verify(
    job: OkraJob,
    ctx: JobContext,
    pay: Data<Arc<PayOnce>>,
) -> Result<Box<RawValue>, BoxDynError> {
    let Some(bvn) = job.field("bvn") else {
        return Err(JobError::terminal("unsupported", "only bvn_verify here").into());
    };
    let mut charge = match pay.charge(&ctx).begin(&job, &ctx).await? {
        Begin::Reused(result) => return Ok(to_raw_value(&result)?),
        Begin::Go(charge) => charge,
    };
    charge.take_budget().await?;
    charge.calling().await?;
    if bvn.ends_with('0') && ctx.attempt == 1 {
        // Not charged: the lock is released and the budget slot goes back.
        charge.settle(Settled::Nothing).await;
        return Err(JobError::retryable("server_error", "first try fails").into());
    }
    charge.charged();
    let profile = serde_json::json!({ "bvn": bvn, "first_name": "Ada" });
    let result = OkraResult::found("/products/kyc/bvn-verify", profile);
    // Serialised once: the job's result and the profile kept for reuse.
    let text = to_raw_value(&result)?;
    // Stored before the job shows finished, without this job waiting for it.
    ctx.record_after(charge.settle(Settled::Answer(&text)));
    Ok(text)
}

#[tokio::main]
async fn main() -> Result<(), BoxDynError> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut config = QueueConfig::new("examples");
    config.retry.base_delay = Duration::from_millis(50);
    // Paying once keys people by a keyed hash, and counts against the provider account.
    config.index_key = Some(IndexKey::new("an example index key, 32+ bytes long")?);
    config.account = Some(AccountLimit {
        name: "example".into(),
        limit: 0,
        window: Duration::from_secs(61),
    });
    let queue = Queue::connect(&RedisSettings::new(url), config).await?;
    let okra = OkraSettings {
        reuse_window: Duration::from_secs(3600),
        ..OkraSettings::default()
    };
    let pay = PayOnce::start(&queue, &okra, Duration::from_secs(30));

    // The worker side: our backend under apalis's Monitor.
    let runtime = queue.runtime(WorkerOptions::default()).await?;
    let backend = runtime.backend::<OkraJob>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let monitor = tokio::spawn(
        Monitor::new()
            .register(move |_| {
                WorkerBuilder::new("example")
                    .backend(backend.clone())
                    .data(pay.clone())
                    .build(verify)
            })
            .shutdown_timeout(Duration::from_secs(5))
            .run_with_signal(async move {
                let _ = stopped.await;
                Ok(())
            }),
    );

    // The app side: enqueue, follow the events, wait for the result (woken by its event).
    let mut events = Box::pin(queue.events(Since::Now).await?);
    let job = OkraJob::new("bvn_verify", &[("bvn", "22234567890")])?;
    let id = queue.enqueue(&job, EnqueueOptions::default()).await?.id;
    let done = queue.wait(&id, Duration::from_secs(30)).await?;
    let result: OkraResult = done.result_as()?.expect("a completed job has a result");
    println!(
        "{} {} after {} attempts: {}",
        done.id, done.state, done.attempts, result.source
    );
    while let Some(e) = events.next().await {
        let e = e?;
        println!(
            "event {} {} {}",
            e.event.as_str(),
            e.kind,
            e.class.unwrap_or_default()
        );
        if e.event.is_final() {
            break;
        }
    }
    // The same person again: the answer paid for above is reused, nothing is called.
    let again = queue.enqueue(&job, EnqueueOptions::default()).await?.id;
    let done = queue.wait(&again, Duration::from_secs(30)).await?;
    let result: OkraResult = done.result_as()?.expect("a completed job has a result");
    println!("the same person again: {}", result.source);

    let _ = stop.send(());
    monitor.await??;
    runtime.shutdown().await;
    Ok(())
}
