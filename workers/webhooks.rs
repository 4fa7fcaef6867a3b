//! Webhook deliveries in every `okra-worker`: the companion queue `<queue>.webhooks` runs in
//! the same process (its own runtime, under `[webhooks] retry_schedule` instead of `[retry]`,
//! without the Okra account's rate limit), with the forwarder that turns the queue's outcomes
//! into its delivery jobs. See `okra_queue::webhooks`.

use std::sync::Arc;

use apalis::prelude::{BoxDynError, Data, Monitor, WorkerBuilder};
use okra_queue::config::Settings;
use okra_queue::webhooks::{Delivered, Deliverer, Delivery, Forwarder, companion};
use okra_queue::{JobContext, Queue, Runtime};
use tracing::{Instrument, info_span};

/// The companion queue's runtime, its sender and the forwarder.
pub struct Webhooks {
    pub runtime: Runtime,
    pub deliverer: Arc<Deliverer>,
    forwarder: tokio::task::JoinHandle<()>,
}

/// Starts deliveries for `queue`; `None` (with a warning) when its name is too long for a
/// companion queue (`webhook add` refuses such a queue too).
pub async fn start(settings: &Settings, queue: &Queue) -> anyhow::Result<Option<Webhooks>> {
    let mut cfg = settings.queue_config();
    cfg.name = companion(queue.name());
    if let Err(why) = okra_queue::keys::validate_queue_name(&cfg.name) {
        tracing::warn!(why, "no webhook deliveries for this queue");
        return Ok(None);
    }
    cfg.retry = settings.webhooks.policy();
    cfg.account = None;
    cfg.rate_limit = None;
    let deliveries = Queue::connect(&settings.redis, cfg).await?;
    let runtime = deliveries.runtime(settings.worker.clone()).await?;
    let forwarder = tokio::spawn(Forwarder::new(queue.clone(), deliveries).run());
    let allow = settings.webhooks.allow_insecure_hosts.clone();
    Ok(Some(Webhooks {
        runtime,
        deliverer: Arc::new(
            Deliverer::new(queue.clone(), allow).with_propagation(settings.telemetry.propagation),
        ),
        forwarder,
    }))
}

/// Adds the delivery worker loop to `monitor` (when deliveries started).
pub fn register(monitor: Monitor, hooks: Option<&Webhooks>) -> Monitor {
    let Some(h) = hooks else {
        return monitor;
    };
    let (backend, deps) = (h.runtime.backend(), h.deliverer.clone());
    monitor.register(move |restarts| {
        WorkerBuilder::new(format!("webhooks-{restarts}"))
            .backend(backend.clone())
            .data(deps.clone())
            .build(run)
    })
}

impl Webhooks {
    /// Stops the forwarder (what it held is taken back by another's sweep) and the runtime.
    pub async fn shutdown(self) {
        self.forwarder.abort();
        self.runtime.shutdown().await;
    }
}

/// Runs one delivery job.
pub async fn run(
    d: Delivery,
    ctx: JobContext,
    deps: Data<Arc<Deliverer>>,
) -> Result<Delivered, BoxDynError> {
    let span = info_span!("webhook", id = %ctx.id(), attempt = ctx.attempt, endpoint = d.endpoint);
    deps.deliver(&d, ctx.attempt)
        .instrument(span)
        .await
        .map_err(Into::into)
}
