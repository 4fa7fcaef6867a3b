//! The Okra job handler: one call per job (two for a BVN verify after a 503), each failure
//! classified into a `JobError` the queue's retry policy understands.

use std::sync::Arc;
use std::time::Instant;

use apalis::prelude::{BoxDynError, Data};
use okra_queue::job::Job;
use okra_queue::okra::{
    Action, Classifier, Delays, OkraClient, OkraError, OkraJob, Reply, profile_of,
};
use okra_queue::{JobContext, JobError, Queue};
use serde_json::{Value, json};
use tracing::{Instrument, debug, info, info_span, warn};

/// What every job needs.
pub struct Deps {
    pub client: OkraClient,
    pub classifier: Classifier,
    pub delays: Delays,
    pub queue: Queue,
}

const GET_BY_BVN: &str = "/identity/getByBvn";

/// Runs one Okra job. The result is `{"source": <endpoint>, "http_status": ..., "profile": ...}`.
pub async fn run(
    job: OkraJob,
    ctx: JobContext,
    deps: Data<Arc<Deps>>,
) -> Result<Value, BoxDynError> {
    let span = info_span!("job", id = %ctx.id(), kind = job.kind(), attempt = ctx.attempt, subject = %job.subject(false));
    async move { run_inner(&job, &ctx, &deps).await.map_err(Into::into) }
        .instrument(span)
        .await
}

async fn run_inner(job: &OkraJob, ctx: &JobContext, deps: &Deps) -> Result<Value, JobError> {
    if let OkraJob::BvnVerify { bvn } = job
        && ctx
            .last_error
            .as_ref()
            .is_some_and(|f| deps.classifier.is_okra_timeout_class(&f.class))
    {
        // Okra may finish a timed-out verify in the background, and every verify is charged:
        // look for the profile with the free lookup before paying again.
        if let Some(e) = still_ours(ctx) {
            return Err(e);
        }
        match call(deps, GET_BY_BVN, json!({ "bvn": bvn })).await {
            Ok(Reply::Data(data)) => {
                if let Some(profile) = profile_of(&data) {
                    info!("profile found with getByBvn after a 503; no second verify");
                    return Ok(
                        json!({ "source": GET_BY_BVN, "http_status": 200, "profile": profile }),
                    );
                }
                debug!("getByBvn has no profile yet; verifying again");
            }
            Ok(Reply::NoContent) => {}
            Err(e) => debug!(error = %e, "getByBvn failed; verifying again"),
        }
        // The claim paid for one call; the verify is a second one.
        if let Some(wait) = deps.queue.permit().await.map_err(queue_unavailable)? {
            return Err(JobError::retryable(
                "rate_limited",
                "waiting for a slot of okra.requests_per_minute",
            )
            .with_delay(wait)
            .without_attempt());
        }
    }
    if let Some(e) = still_ours(ctx) {
        return Err(e);
    }
    match call(deps, job.path(), job.body()).await {
        Ok(Reply::Data(data)) => Ok(json!({
            "source": job.path(),
            "http_status": 200,
            "profile": profile_of(&data).unwrap_or(Value::Null),
        })),
        Ok(Reply::NoContent) => Ok(json!({
            "source": job.path(),
            "http_status": 204,
            "profile": null,
            "note": "valid account with no BVN attached",
        })),
        Err(e) => Err(failed(deps, &e).await),
    }
}

/// Refuses any further upstream call once this run's lease is lost: the job runs again
/// elsewhere, and a call from here could only pay twice. (The outcome is rejected as late.)
fn still_ours(ctx: &JobContext) -> Option<JobError> {
    ctx.lease_lost().then(|| {
        warn!("lease lost while running; no further Okra call from this run");
        JobError::retryable(
            "lease_lost",
            "the lease was lost while the job ran; it runs again elsewhere",
        )
    })
}

/// One Okra call, with its metrics.
async fn call(deps: &Deps, path: &'static str, body: Value) -> Result<Reply, OkraError> {
    let started = Instant::now();
    let result = deps.client.post(path, body).await;
    let status = match &result {
        Ok(Reply::Data(_)) => "200".to_string(),
        Ok(Reply::NoContent) => "204".to_string(),
        Err(e) => e
            .status()
            .map_or_else(|| "transport".to_string(), |s| s.to_string()),
    };
    metrics::counter!("okra_http_requests_total", "endpoint" => path, "status" => status)
        .increment(1);
    metrics::histogram!("okra_request_duration_seconds", "endpoint" => path)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Classifies a failed call; after a 429 the whole fleet stops calling Okra until the wait ends.
async fn failed(deps: &Deps, e: &OkraError) -> JobError {
    let (je, action) = deps.classifier.job_error(e, &deps.delays);
    if action == Action::RateLimited {
        let wait = match &je.action {
            okra_queue::policy::ErrorAction::Retry { delay: Some(d), .. } => *d,
            _ => deps.delays.rate_limit,
        };
        match deps.queue.throttle(wait).await {
            Ok(left) => warn!(
                pause = %humantime::format_duration(left),
                "Okra rate limit hit: every worker stops calling Okra until the wait is over"
            ),
            Err(err) => {
                warn!(error = %err, "Okra rate limit hit, but the fleet pause could not be set")
            }
        }
    } else if je.is_terminal() {
        debug!(class = je.class(), status = %status_text(e), "terminal failure");
    } else {
        // The retry policy decides whether the budget allows another attempt.
        info!(class = je.class(), status = %status_text(e), "retryable failure");
    }
    je
}

fn queue_unavailable(e: okra_queue::QueueError) -> JobError {
    JobError::retryable(
        "queue_unavailable",
        format!("could not reach the queue's rate limiter: {e}"),
    )
}

/// `503`, or `none` when Okra never answered.
fn status_text(e: &OkraError) -> String {
    e.status().map_or_else(|| "none".into(), |s| s.to_string())
}
