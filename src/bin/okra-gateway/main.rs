//! okra-gateway: enqueue jobs and read their results over HTTP/JSON, for apps in any language.
//! The routes are in `jobs.rs` and `webhooks.rs` (documented by `api.rs`'s OpenAPI document), the front door
//! and API keys in `guard.rs`, request bodies in `body.rs`, errors in `problem.rs`.

mod api;
mod body;
mod guard;
mod jobs;
mod params;
mod problem;
mod webhooks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use clap::Parser;
use okra_queue::config::Settings;
use okra_queue::http_guard::HostPolicy;
use okra_queue::{Queue, QueueError};

use problem::{ApiError, Kind};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "okra-gateway",
    version,
    about = "Enqueue jobs and read their results over HTTP/JSON (API keys from `okra-admin api-key create`)",
    after_help = "Example:\n  okra-gateway --config /etc/okq/okq.toml --addr 127.0.0.1:7410\n  curl -H \"Authorization: Bearer $OKQ_TOKEN\" -H 'Content-Type: application/json' \\\n    -d '{\"job\": {\"kind\": \"bvn_verify\", \"bvn\": \"22212345678\"}}' \\\n    http://127.0.0.1:7410/v1/queues/identity/jobs\n\n\
The same settings file, OKQ_<SECTION>__<KEY> environment variables and REDIS_URL as the other\n\
binaries; `[gateway]` sets the address, public names, max_wait and max_body. The OpenAPI\n\
document is served at /openapi.json. SIGTERM or Ctrl-C stops it after the requests in flight."
)]
struct Args {
    /// Settings file [default: config/default.toml when present]
    #[arg(long, env = "OKQ_CONFIG")]
    config: Option<PathBuf>,
    /// Address to serve on [default: gateway.addr, 127.0.0.1:7410]
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// Redis URL [default: redis.url from the config]
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// `pretty` or `json` logs [default: log.format]
    #[arg(long, value_parser = ["pretty", "json"])]
    log_format: Option<String>,
    /// Check the configuration, print the effective settings (secrets masked) and exit.
    #[arg(long)]
    check_config: bool,
    /// With --check-config: also connect to Redis.
    #[arg(long, requires = "check_config")]
    connect: bool,
}

/// How long what the registry said of a queue is taken as true without asking again: the
/// longest a deleted queue (`okra-admin queue delete`) still takes jobs here, and a queue
/// registered again is still refused.
const KNOWN_FOR: Duration = Duration::from_secs(1);

/// Queue handles by name, connected on first use; and for each queue seen, whether the
/// registry had it when last asked, and when.
pub struct Hub {
    settings: Settings,
    handles: RwLock<HashMap<String, Queue>>,
    known: RwLock<HashMap<String, (Instant, bool)>>,
}

impl Hub {
    /// The handle of `name`, a registered queue: 404 for a queue not in the registry, 503
    /// when Redis does not answer.
    pub async fn queue(&self, name: &str) -> Result<Queue, ApiError> {
        if okra_queue::keys::validate_queue_name(name).is_err() {
            return Err(ApiError::unknown_queue());
        }
        let q = self.handle(name).await?;
        let seen = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .copied();
        let registered = match seen {
            Some((at, registered)) if at.elapsed() < KNOWN_FOR => registered,
            stale => {
                let registered = match stale {
                    // Seen before: only the registry counts, so jobs written as the queue was
                    // deleted do not bring it back.
                    Some(_) => q.rdb().is_registered().await?,
                    // First sight: a queue from before the registry is registered on the way.
                    None => {
                        q.ensure_known().await?;
                        true
                    }
                };
                self.known
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(name.to_string(), (Instant::now(), registered));
                registered
            }
        };
        if registered {
            Ok(q)
        } else {
            Err(ApiError::unknown_queue())
        }
    }

    /// The configured queue's handle, registered or not: API keys are read through it.
    pub async fn base(&self) -> Result<Queue, ApiError> {
        self.handle(&self.settings.queue.name.clone()).await
    }

    /// A connected handle of `name` (kept once connected).
    async fn handle(&self, name: &str) -> Result<Queue, ApiError> {
        if let Some(q) = self
            .handles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
        {
            return Ok(q.clone());
        }
        let mut cfg = self.settings.queue_config();
        cfg.name = name.to_string();
        cfg.actor = Some("okra-gateway".into());
        let q = Queue::connect(&self.settings.redis, cfg)
            .await
            .map_err(|e| match e {
                QueueError::Config(m) => {
                    tracing::error!(error = %m, "cannot open the queue");
                    ApiError::new(
                        Kind::Internal,
                        "the gateway cannot open this queue; see its log",
                    )
                }
                _ => ApiError::unavailable(),
            })?;
        self.handles
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_string(), q.clone());
        Ok(q)
    }
}

/// What every handler shares.
pub struct App {
    pub hub: Hub,
    pub hosts: HostPolicy,
    pub keys: guard::Keys,
    pub max_wait: Duration,
    pub max_body: usize,
}

pub type Shared = Arc<App>;

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("okra-gateway: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.check_config {
        okra_queue::telemetry::quiet_on_closed_pipe(true);
        let loaded = load(&args);
        return if rt.block_on(okra_queue::config::run_check(
            loaded,
            |_| Vec::new(),
            args.connect,
        )) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let settings = match load(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("okra-gateway: {e}");
            return ExitCode::from(2);
        }
    };
    okra_queue::telemetry::init(&settings.log.format, &settings.log.level);
    match rt.block_on(serve(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("okra-gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &Args) -> Result<Settings, QueueError> {
    let mut s = Settings::load(args.config.as_deref())?;
    if let Some(url) = &args.redis_url {
        s.redis.url = url.clone();
    }
    if let Some(a) = &args.addr {
        s.gateway.addr = a.clone();
    }
    if let Some(f) = &args.log_format {
        s.log.format = f.clone();
    }
    s.validate()?;
    Ok(s)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let addr: SocketAddr = settings.gateway.addr.parse()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    let app = Arc::new(App {
        hosts: HostPolicy::new(bound, &settings.gateway.public_hosts),
        keys: guard::Keys::default(),
        max_wait: settings.gateway.max_wait,
        max_body: settings.gateway.max_body,
        hub: Hub {
            settings,
            handles: RwLock::new(HashMap::new()),
            known: RwLock::new(HashMap::new()),
        },
    });
    // Connect now when Redis answers; a gateway started while it is down answers 503 until it
    // does.
    if let Err(e) = app.hub.base().await {
        tracing::warn!(problem = %e.1.detail, "Redis not reachable yet");
    }
    println!("okra-gateway: serving on http://{bound}");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
    Ok(())
}

fn router(app: Shared) -> Router {
    let v1 = Router::new()
        .route("/v1/queues/{queue}/jobs", post(jobs::enqueue))
        .route("/v1/queues/{queue}/jobs/batch", post(jobs::batch))
        .route(
            "/v1/queues/{queue}/jobs/{id}",
            get(jobs::show).delete(jobs::cancel),
        )
        // Webhook endpoints (scope `admin`), behind the same key check.
        .route(
            "/v1/queues/{queue}/webhooks",
            get(webhooks::list).post(webhooks::add),
        )
        .route(
            "/v1/queues/{queue}/webhooks/{id}",
            axum::routing::delete(webhooks::remove),
        )
        .route(
            "/v1/queues/{queue}/webhooks/{id}/rotate-secret",
            post(webhooks::rotate),
        )
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::authenticate,
        ));
    Router::new()
        .merge(v1)
        .route("/openapi.json", get(api::openapi))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .fallback(|| async { ApiError::new(Kind::NoRoute, "no such route; see /openapi.json") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                Kind::MethodNotAllowed,
                "this route does not take that method; see /openapi.json",
            )
        })
        .layer(DefaultBodyLimit::max(app.max_body))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::front_door,
        ))
        .with_state(app)
}
