//! okra-worker: runs Okra identity jobs from the queue. Start as many as you like, on as many
//! machines as you like; they share the queue, the rate limit and the dead letters in Redis.

mod answer;
mod handler;
mod metrics;
mod probes;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use apalis::prelude::{Monitor, WorkerBuilder};
use clap::Parser;
use okra_queue::config::Settings;
use okra_queue::okra::pay_once::PayOnce;
use okra_queue::okra::{Classifier, OkraJob};
use okra_queue::{Queue, QueueError};
use tracing::{error, info, warn};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "okra-worker",
    version,
    about = "Runs Okra identity-verification jobs from the queue",
    after_help = "Example:\n  OKRA_SECRET_KEY=sk_test_... okra-worker --config config/default.toml --concurrency 200 --metrics-addr 0.0.0.0:9464\n\n\
Every setting can also come from the environment as OKQ_<SECTION>__<KEY>\n\
(e.g. OKQ_OKRA__BASE_URL=http://127.0.0.1:8088). SIGTERM or Ctrl-C stops claiming, lets\n\
running jobs finish within worker.shutdown_grace, and gives the rest back to the queue."
)]
struct Args {
    /// Settings file (default: config/default.toml when present).
    #[arg(long, env = "OKQ_CONFIG")]
    config: Option<PathBuf>,
    /// Redis URL (overrides redis.url and OKQ_REDIS__URL).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Queue name (overrides queue.name).
    #[arg(long, env = "OKQ_QUEUE")]
    queue: Option<String>,
    /// Jobs run at once by this process (overrides worker.concurrency).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Serve Prometheus metrics on host:port (overrides worker.metrics_addr).
    #[arg(long)]
    metrics_addr: Option<String>,
    /// Log format: pretty or json (overrides log.format).
    #[arg(long, value_parser = ["pretty", "json"])]
    log_format: Option<String>,
    /// Check the configuration (file, OKQ_CONFIG, environment, flags, the files it names and
    /// OKRA_SECRET_KEY), print the effective settings with secrets masked, and exit: 0 when
    /// sound, 1 listing every problem. Redis is not contacted unless --connect is given.
    #[arg(long)]
    check_config: bool,
    /// With --check-config: also connect to Redis and check the server.
    #[arg(long, requires = "check_config")]
    connect: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check_config {
        return check_config(&args);
    }
    let settings = match load(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("okra-worker: {e:#}");
            return ExitCode::from(2);
        }
    };
    // One thread by default: an I/O-bound worker spends most of a multi-threaded runtime's
    // CPU waking its threads (worker.threads).
    let runtime = match settings.endpoints.threads {
        1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 1 {
                b.worker_threads(n);
            }
            b.enable_all().build()
        }
    };
    match runtime {
        Ok(rt) => rt.block_on(start(settings)),
        Err(e) => {
            eprintln!("okra-worker: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn start(settings: Settings) -> ExitCode {
    let (log, t) = (&settings.log, &settings.telemetry);
    let _traces = okra_queue::telemetry::init_traced(&log.format, &log.level, t, "okra-worker");
    if settings.provider.order().contains(&"okra")
        && settings.okra.base_url == okra_queue::okra::OkraSettings::default().base_url
        && std::env::var_os("OKQ_OKRA__BASE_URL").is_none()
    {
        warn!(
            okra = settings.okra.base_url,
            "calling Okra's production API (the built-in default): set okra.base_url (or OKQ_OKRA__BASE_URL) to use okra-sandbox or another address"
        );
    }
    match run(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--check-config [--connect]`.
fn check_config(args: &Args) -> ExitCode {
    okra_queue::telemetry::quiet_on_closed_pipe(true);
    let loaded = load(args);
    let more = |s: Option<&Settings>| {
        let mut problems = Vec::new();
        // Without settings (they have problems of their own), the default order's secrets.
        let fallback = Settings::default();
        if let Err(e) = build_route(s.unwrap_or(&fallback)) {
            problems.push(e);
        }
        let addr = s.map_or_else(
            || args.metrics_addr.clone().unwrap_or_default(),
            |s| s.endpoints.metrics_addr.clone(),
        );
        if !addr.is_empty() && addr.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!("worker.metrics_addr `{addr}` is not host:port"));
        }
        problems
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) if rt.block_on(okra_queue::config::run_check(loaded, more, args.connect)) => {
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("okra-worker: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The providers of `[provider] order` with their secrets from the environment, refusing a
/// kind the fleet serves that none of them sells: one line per problem.
fn build_route(s: &Settings) -> Result<okra_queue::okra::providers::Route, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    // `build` validates first: every problem, one line each.
    let route = s
        .provider
        .build(&s.okra, &env)
        .map_err(|problems| problems.join("; "))?;
    // A kind no provider sells is refused at enqueue and never sent; said here once.
    let unsold: Vec<&str> = okra_queue::okra::kinds::names()
        .filter(|k| s.provider.sold(k).is_err())
        .collect();
    if !unsold.is_empty() {
        tracing::warn!(kinds = %unsold.join(", "), "no provider of provider.order sells these kinds: their jobs end as dead letters of class not_sold, never sent");
    }
    Ok(route)
}

fn load(args: &Args) -> Result<Settings, QueueError> {
    let mut s = Settings::load(args.config.as_deref())?;
    if let Some(url) = &args.redis_url {
        s.redis.url = url.clone();
    }
    if let Some(q) = &args.queue {
        s.queue.name = q.clone();
    }
    if let Some(c) = args.concurrency {
        s.worker.concurrency = c;
    }
    if let Some(m) = &args.metrics_addr {
        s.endpoints.metrics_addr = m.clone();
    }
    if let Some(f) = &args.log_format {
        s.log.format = f.clone();
    }
    s.validate()?;
    Ok(s)
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let route = build_route(&settings).map_err(anyhow::Error::msg)?;
    let classifier = Classifier::from_settings(&settings.classification)?;
    let mut stop = Box::pin(shutdown_signal().context("installing the signal handlers")?);
    // Metrics and probes listen before Redis is reached: a worker waiting for it is alive and
    // not ready, never refused.
    let probes = probes::Probes::default();
    let metrics = !settings.endpoints.metrics_addr.is_empty();
    if metrics {
        let handle = metrics::install(&settings.queue.name)?;
        probes::serve(&settings.endpoints.metrics_addr, probes.clone(), handle).await?;
    }
    let Some(queue) = connect(&settings, &mut stop).await? else {
        return Ok(());
    };
    let opts = settings.worker.clone();
    let grace = opts.shutdown_grace;
    let runtime = queue
        .runtime(opts)
        .await
        .context("starting the worker runtime")?;
    let hooks = webhooks::start(&settings, &queue)
        .await
        .context("starting webhook deliveries")?;
    if metrics {
        tokio::spawn(metrics::sample(
            queue.clone(),
            runtime.node_id().to_string(),
        ));
    }
    // A job waits for another job's paid call for the same person at most a lease.
    let pay = PayOnce::start(&queue, &settings.okra, settings.worker.lease);
    let primary = route
        .primary()
        .map(|c| (c.name(), c.base_url().to_string()));
    let deps = Arc::new(handler::Deps {
        route,
        classifier,
        delays: settings.delays,
        queue: queue.clone(),
        okra: settings.okra.clone(),
        pay: pay.clone(),
        matching: settings.matching.clone(),
        propagation: settings.telemetry.propagation,
    });
    info!(
        queue = queue.name(),
        worker = runtime.node_id(),
        concurrency = settings.worker.concurrency,
        provider = primary.as_ref().map_or("", |p| p.0),
        base_url = primary.as_ref().map_or("", |p| p.1.as_str()),
        order = %settings.provider.order().join(", "),
        requests_per_minute = settings.okra.requests_per_minute,
        "okra-worker started"
    );
    probes.started(runtime.clone());
    // Not ready from the moment the signal arrives, while running jobs finish.
    let stopping = (runtime.clone(), hooks.as_ref().map(|h| h.runtime.clone()));
    let stop = async move {
        let r = stop.await;
        stopping.0.begin_shutdown();
        stopping.1.inspect(|h| h.begin_shutdown());
        r
    };
    let backend = runtime.backend::<OkraJob>();
    let monitor = webhooks::register(Monitor::new(), hooks.as_ref())
        .register(move |restarts| {
            WorkerBuilder::new(format!("okra-{restarts}"))
                .backend(backend.clone())
                .data(deps.clone())
                .build(handler::run)
        })
        .should_restart(|worker, err| {
            // The backend never fails; anything that ends a worker loop is logged and retried.
            warn!(worker = worker.name(), error = %err, "worker loop stopped; restarting it");
            true
        })
        .shutdown_timeout(grace);
    if let Err(e) = monitor.run_with_signal(stop).await {
        warn!(error = %e, "worker monitor ended with an error");
    }
    info!(grace = %humantime::format_duration(grace), "stopping: recording outcomes and giving back unfinished jobs");
    let report = runtime.shutdown().await;
    if let Some(h) = hooks {
        h.shutdown().await;
    }
    // The last jobs' counts, before the process goes.
    pay.flush().await;
    info!(
        released = report.released,
        unrecorded = report.unrecorded,
        "okra-worker stopped"
    );
    Ok(())
}

/// Connects, waiting (with backoff, logged) while Redis is unreachable; `None` if stopped
/// first. A configuration the server refuses (a wrong seal key under a known id, a keyless
/// worker on a sealed queue) is an error: the process exits with status 1.
async fn connect(
    settings: &Settings,
    stop: &mut (impl std::future::Future<Output = std::io::Result<()>> + Unpin),
) -> Result<Option<Queue>, QueueError> {
    let mut wait = Duration::from_millis(200);
    loop {
        match Queue::connect(&settings.redis, settings.queue_config()).await {
            Ok(q) => return Ok(Some(q)),
            Err(e @ QueueError::Config(_)) => return Err(e),
            Err(e) => {
                warn!(error = %e, retry_in = %humantime::format_duration(wait), "waiting for Redis")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut *stop => return Ok(None),
        }
        wait = (wait * 2).min(Duration::from_secs(5));
    }
}

/// SIGTERM or SIGINT. The handlers are registered when this is called, not when the future
/// is first polled: a signal that arrives while the monitor is still starting is caught, never
/// the default "terminate at once".
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = std::io::Result<()>>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        info!("shutdown signal received");
        Ok(())
    })
}
