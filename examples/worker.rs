//! A custom worker and an app that waits for its result, in one process (README, "Library API").
//! Run against a real Redis: `REDIS_URL=redis://127.0.0.1:6379 cargo run --example worker`.
//! Built by `make test` without default features, and run by `tests/library.rs`.

use std::time::Duration;

use apalis::prelude::{BoxDynError, Monitor, WorkerBuilder};
use futures::StreamExt;
use okra_queue::events::Since;
use okra_queue::okra::{OkraJob, OkraResult};
use okra_queue::{
    EnqueueOptions, JobContext, JobError, Queue, QueueConfig, RedisSettings, WorkerOptions,
};

/// Stands in for a real call: a BVN ending in 0 fails once (retried), then everything succeeds.
async fn verify(job: OkraJob, ctx: JobContext) -> Result<OkraResult, BoxDynError> {
    let OkraJob::BvnVerify { bvn, .. } = &job else {
        return Err(JobError::terminal("unsupported", "only bvn_verify here").into());
    };
    if bvn.ends_with('0') && ctx.attempt == 1 {
        return Err(JobError::retryable("server_error", "first try fails").into());
    }
    let profile = serde_json::json!({ "bvn": bvn, "first_name": "Ada" });
    Ok(OkraResult::found("/products/kyc/bvn-verify", profile))
}

#[tokio::main]
async fn main() -> Result<(), BoxDynError> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut config = QueueConfig::new("examples");
    config.retry.base_delay = Duration::from_millis(50);
    let queue = Queue::connect(&RedisSettings::new(url), config).await?;

    // The worker side: our backend under apalis's Monitor.
    let runtime = queue.runtime(WorkerOptions::default()).await?;
    let backend = runtime.backend::<OkraJob>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let monitor = tokio::spawn(
        Monitor::new()
            .register(move |_| {
                WorkerBuilder::new("example")
                    .backend(backend.clone())
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
    let job = OkraJob::BvnVerify {
        bvn: "22234567890".into(),
        matching: None,
    };
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

    let _ = stop.send(());
    monitor.await??;
    runtime.shutdown().await;
    Ok(())
}
