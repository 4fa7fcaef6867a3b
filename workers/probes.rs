//! The worker's HTTP listener at `worker.metrics_addr`: `/metrics` for Prometheus, `/healthz`
//! for liveness (every background loop goes round) and `/readyz` for readiness (claiming, Redis
//! answering, the queue neither paused nor held, not shutting down). Probes answer `200 ok` or
//! `503` with a one-line JSON reason. The listener is up before Redis is reached, so a worker
//! waiting for Redis is alive and not ready rather than refused.

use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use okra_queue::Runtime;
use tracing::{info, warn};

/// Paths an orchestrator probes (the Kubernetes example and the tests use these).
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";

/// What the probes read: the runtime, once it has started.
#[derive(Clone, Default)]
pub struct Probes {
    runtime: Arc<OnceLock<Runtime>>,
}

impl Probes {
    /// The worker runtime has started: probes read it from now on.
    pub fn started(&self, runtime: Runtime) {
        let _ = self.runtime.set(runtime);
    }
}

#[derive(Clone)]
struct Served {
    probes: Probes,
    metrics: PrometheusHandle,
}

/// Binds `addr` and serves in the background; a bad or busy address fails at once.
pub async fn serve(addr: &str, probes: Probes, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics and probes on {addr}"))?;
    let app = Router::new()
        .route("/metrics", get(render))
        .route(HEALTHZ, get(healthz))
        .route(READYZ, get(readyz))
        .with_state(Served { probes, metrics });
    info!(
        addr,
        "Prometheus metrics on /metrics, probes on {HEALTHZ} and {READYZ}"
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            warn!(error = %e, "the metrics and probes listener stopped");
        }
    });
    Ok(())
}

async fn render(State(s): State<Served>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// Alive while every loop goes round; alive too while it starts (waiting for Redis is not a
/// fault a restart would cure).
async fn healthz(State(s): State<Served>) -> Response {
    match s.probes.runtime.get().map(Runtime::health) {
        None | Some(Ok(())) => answer(Ok(())),
        Some(Err(reason)) => answer(Err(reason)),
    }
}

async fn readyz(State(s): State<Served>) -> Response {
    match s.probes.runtime.get() {
        None => answer(Err("starting: waiting for Redis".into())),
        Some(rt) => answer(rt.readiness().await),
    }
}

/// `200 {"status":"ok"}`, or `503 {"status":"unavailable","reason":"…"}` on one line.
fn answer(r: Result<(), String>) -> Response {
    match r {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok"})),
        )
            .into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "reason": reason})),
        )
            .into_response(),
    }
}
