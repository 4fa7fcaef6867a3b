//! The Okra job handler. Okra's answers are untrusted input: a success counts only when its
//! profile has the documented shape and names the identifier asked about. Failures that belong
//! to the account (bad key, plan, a redirect) pause the queue instead of burning the backlog,
//! and a BVN verify that follows an attempt whose outcome at Okra is unknown looks with the
//! free `getByBvn` before paying again.

use std::sync::Arc;
use std::time::Instant;

use apalis::prelude::{BoxDynError, Data};
use okra_queue::job::{Failure, Job};
use okra_queue::okra::{
    Action, Classifier, Delays, OkraClient, OkraError, OkraJob, OkraResult, ProfileError, Reply,
    checked_lookup, checked_profile,
};
use okra_queue::{JobContext, JobError, Queue};
use serde_json::{Value, json};
use tracing::{Instrument, error, info, info_span, warn};

/// What every job needs.
pub struct Deps {
    pub client: OkraClient,
    pub classifier: Classifier,
    pub delays: Delays,
    pub queue: Queue,
    /// Consecutive `not_found` failures that pause the queue (0 = off).
    pub drain_guard: u32,
}

const GET_BY_BVN: &str = "/identity/getByBvn";

/// Runs one Okra job; its result is an [`OkraResult`] (`lookup: "free"` when the profile came
/// from `getByBvn` instead of a paid verify).
pub async fn run(
    job: OkraJob,
    ctx: JobContext,
    deps: Data<Arc<Deps>>,
) -> Result<OkraResult, BoxDynError> {
    let span = info_span!("job", id = %ctx.id(), kind = job.kind(), attempt = ctx.attempt, subject = %job.subject(false));
    async move { run_inner(&job, &ctx, &deps).await.map_err(Into::into) }
        .instrument(span)
        .await
}

async fn run_inner(job: &OkraJob, ctx: &JobContext, deps: &Deps) -> Result<OkraResult, JobError> {
    // A record written by another producer is checked as enqueue checks it; Okra never sees
    // an invalid one. The message names the rule, never the value.
    if let Err(why) = job.validate() {
        give_back_slot(deps, ctx).await;
        return Err(JobError::terminal(
            "invalid_payload",
            format!("the job fails validation: {why}"),
        ));
    }
    if let OkraJob::BvnVerify { bvn } = job
        && ctx.last_error.as_ref().is_some_and(|f| uncertain(deps, f))
    {
        // The last attempt may have been charged (Okra finishes a timed-out verify in the
        // background): look for the profile with the free lookup before paying again.
        if let Some(e) = still_ours(ctx) {
            return Err(e);
        }
        match call(deps, GET_BY_BVN, json!({ "bvn": bvn })).await {
            Ok(Reply::Data(data)) => match checked_lookup(bvn, &data) {
                Ok(Some(profile)) => {
                    info!("profile found with the free getByBvn; no second paid verify");
                    drain_guard_reset(deps).await;
                    return Ok(OkraResult {
                        lookup: Some("free".into()),
                        ..OkraResult::found(GET_BY_BVN, profile)
                    });
                }
                Ok(None) => info!("getByBvn has no profile yet; verifying again"),
                Err(e) => return Err(refused(e)),
            },
            Ok(Reply::NoContent) => {}
            Err(e) => {
                let (_, action) = deps.classifier.job_error(&e, &deps.delays);
                // A 429 (or an account failure) from the lookup stops this run like any other.
                if matches!(action, Action::RateLimited | Action::Pause) {
                    return Err(failed(deps, &e).await);
                }
                info!(status = %status_text(&e), "getByBvn failed; verifying again");
            }
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
        give_back_slot(deps, ctx).await;
        return Err(e);
    }
    match call(deps, job.path(), job.body()).await {
        Ok(Reply::Data(data)) => {
            let profile = checked_profile(job, &data).map_err(refused)?;
            drain_guard_reset(deps).await;
            Ok(OkraResult::found(job.path(), profile))
        }
        Ok(Reply::NoContent) => Ok(OkraResult {
            source: job.path().to_string(),
            http_status: 204,
            profile: None,
            lookup: None,
            note: Some("valid account with no BVN attached".into()),
        }),
        Err(e) => Err(failed(deps, &e).await),
    }
}

/// Whether the attempt that ended with `f` may have been charged at Okra without its answer
/// reaching us: Okra's 503, no answer at all (timeout, reset), or a lease lost mid-call.
fn uncertain(deps: &Deps, f: &Failure) -> bool {
    deps.classifier.is_okra_timeout_class(&f.class)
        || matches!(f.class.as_str(), "lease_expired" | "lease_lost")
        || (f.http_status.is_none() && f.class == deps.classifier.transport_class())
}

/// The claim took a rate-limit slot for this run's call; a run that makes none gives it back.
async fn give_back_slot(deps: &Deps, ctx: &JobContext) {
    if let Some(slot) = &ctx.slot
        && let Err(e) = deps.queue.give_back(std::slice::from_ref(slot)).await
    {
        info!(error = %e, "could not give a rate-limit slot back");
    }
}

/// An answer that is not a trustworthy profile.
fn refused(e: ProfileError) -> JobError {
    match e {
        ProfileError::Mismatched(_) => {
            error!(error = %e, "Okra answered with a profile about somebody else; not stored");
            JobError::terminal("mismatched_profile", e.to_string()).http_status(200)
        }
        ProfileError::Malformed(_) => {
            warn!(error = %e, "Okra's answer is not a profile");
            JobError::retryable("malformed_body", e.to_string()).http_status(200)
        }
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
    metrics::counter!("okra_http_requests_total", "queue" => deps.queue.name().to_string(), "endpoint" => path, "status" => status)
        .increment(1);
    metrics::histogram!("okra_request_duration_seconds", "queue" => deps.queue.name().to_string(), "endpoint" => path)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Classifies a failed call; after a 429 the whole fleet stops calling Okra until the wait ends.
async fn failed(deps: &Deps, e: &OkraError) -> JobError {
    let (je, action) = deps.classifier.job_error(e, &deps.delays);
    if action == Action::RateLimited {
        let wait = match &je.action {
            okra_queue::policy::ErrorAction::Retry { delay: Some(d), .. } => *d,
            _ => deps.delays.rate_limit_delay,
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
    } else if action == Action::Pause {
        // Every job would fail the same way: stop the queue, not the backlog.
        let reason = pause_reason(&je, e);
        match deps.queue.pause_because(&reason).await {
            Ok(true) => error!(
                reason,
                "queue paused by the circuit breaker; fix the cause, then `okra-admin queue resume`"
            ),
            Ok(false) => {}
            Err(err) => {
                warn!(error = %err, reason, "the circuit breaker could not pause the queue")
            }
        }
    } else if je.is_terminal() {
        info!(class = je.class(), status = %status_text(e), "terminal failure");
        if je.class() == "not_found" && deps.drain_guard > 0 {
            guard_drain(deps).await;
        }
    } else {
        // The retry policy decides whether the budget allows another attempt.
        info!(class = je.class(), status = %status_text(e), "retryable failure");
    }
    je
}

/// The drain guard: many `not_found` in a row, with no success between, mean a wrong base URL
/// or path rather than many unknown identifiers.
async fn guard_drain(deps: &Deps) {
    match deps.queue.rdb().not_found_streak(true).await {
        Ok(n) if n >= u64::from(deps.drain_guard) => {
            let reason = format!(
                "drain guard: {n} consecutive not_found (404) answers with no success between: check okra.base_url ({})",
                deps.client.base_url()
            );
            if let Ok(true) = deps.queue.pause_because(&reason).await {
                error!(
                    reason,
                    "queue paused by the drain guard; fix the cause, then `okra-admin queue resume`"
                );
            }
        }
        Ok(_) => {}
        Err(err) => warn!(error = %err, "drain guard could not count a not_found"),
    }
}

/// A success ends any run of `not_found` (for every worker: fleets may differ in their guard).
async fn drain_guard_reset(deps: &Deps) {
    let _ = deps.queue.rdb().not_found_streak(false).await;
}

/// What the operator reads in `stats` when the breaker paused the queue.
fn pause_reason(je: &JobError, e: &OkraError) -> String {
    let hint = match je.class() {
        "unauthorized" | "forbidden" => ": check OKRA_SECRET_KEY",
        "plan" | "expired" => ": check the Okra plan and billing",
        "env" => ": the key is for another environment (sandbox or live)",
        "unexpected_redirect" => ": check okra.base_url",
        _ => "",
    };
    let what = match e.status() {
        Some(status) => format!(
            "okra answered {status} {}",
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
        ),
        None => "okra call failed".into(),
    };
    format!("{} ({}){hint}", what.trim_end(), je.class())
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
