//! The Okra job handler. Okra's answers are untrusted input: a success counts only when its
//! profile has the documented shape and names the identifier asked about. Failures that belong
//! to the account (bad key, plan, a redirect) pause the queue instead of burning the backlog.
//! And Okra is paid once per answer: an answer paid for within `okra.reuse_window` is reused,
//! concurrent jobs for one person make one paid call, a job whose last attempt may have been
//! charged looks with the free lookup first and pays again only when the lookup answers that
//! Okra has nothing, and the daily budget caps what the account spends.

use std::sync::Arc;
use std::time::Instant;

use apalis::prelude::{BoxDynError, Data};
use okra_queue::job::{Failure, Job};
use okra_queue::okra::{
    Action, Classifier, Delays, MatchSettings, OkraClient, OkraError, OkraJob, OkraResult,
    OkraSettings, ProfileError, Reply, WithoutLookup, checked_lookup, checked_profile,
};
use okra_queue::rdb::{NotFound, Spent};
use okra_queue::{JobContext, JobError, Queue};
use serde_json::Value;
use tracing::{Instrument, error, info, info_span, warn};

use crate::pay_once::{Gate, PayOnce, Settled, receipt_credits};

/// What every job needs.
pub struct Deps {
    pub client: OkraClient,
    pub classifier: Classifier,
    pub delays: Delays,
    pub queue: Queue,
    /// `[okra]`: the lookups, the guard, what a kind without a lookup does.
    pub okra: OkraSettings,
    pub pay: PayOnce,
    /// `[match]`: the answer to a job's match request, and whether its profile is kept.
    pub matching: MatchSettings,
}

/// Runs one Okra job; its result is an [`OkraResult`] (`lookup: "free"` when the profile came
/// from a free lookup instead of a paid verify, `source: "reuse"` when it was paid for by an
/// earlier job within the reuse window).
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
    // The last attempt may have been charged without its answer reaching us.
    let mut look_first = ctx.last_error.as_ref().is_some_and(|f| uncertain(deps, f));
    let lock = deps.pay.lock(job, deps.queue.name(), ctx);
    if let Some(lock) = &lock {
        match deps.pay.begin(lock, ctx.meta.fresh).await {
            Ok(Gate::Reused(result)) => {
                give_back_slot(deps, ctx).await;
                info!("profile paid for within okra.reuse_window; reused, no call");
                deps.pay
                    .count(ctx.redis_now_ms(), job.kind(), Spent::SavedReuse, 0.0);
                return Ok(answer_match(job, deps, result.reused()));
            }
            Ok(Gate::Go { look_first: l }) => look_first |= l,
            Ok(Gate::Busy) => {
                give_back_slot(deps, ctx).await;
                return Err(JobError::retryable(
                    "coalesced",
                    "another job is still paying for this person; waiting for its answer",
                )
                .without_attempt()
                .with_delay(std::time::Duration::from_secs(1)));
            }
            Err(e) => {
                give_back_slot(deps, ctx).await;
                return Err(queue_unavailable(e));
            }
        }
    }
    let (result, settled) = attempt(job, ctx, deps, look_first).await;
    let settled = keep_for_reuse(job, deps, settled);
    if let Some(lock) = &lock {
        deps.pay.end(lock, settled).await;
    }
    result.map(|r| answer_match(job, deps, r))
}

/// Issue 28: the answer to the job's match request, from the profile; under `[match]
/// keep_profile = false` the result keeps the answer, not the profile.
fn answer_match(job: &OkraJob, deps: &Deps, result: OkraResult) -> OkraResult {
    result.answer_match(job.match_request(), &deps.matching)
}

/// Issue 28: under `[match] keep_profile = false`, a job with a match request does not leave
/// its profile in the reuse store either (the lock is released as if nothing was paid for).
fn keep_for_reuse(job: &OkraJob, deps: &Deps, settled: Settled) -> Settled {
    match settled {
        Settled::Answer(_) if !deps.matching.keeps_profile(job.match_request()) => Settled::Nothing,
        other => other,
    }
}

/// One attempt past the pay lock: look first when the charge is uncertain, then pay.
async fn attempt(
    job: &OkraJob,
    ctx: &JobContext,
    deps: &Deps,
    look_first: bool,
) -> (Result<OkraResult, JobError>, Settled) {
    if look_first {
        match look(job, ctx, deps).await {
            Looked::Found(result) => return (Ok(result.clone()), Settled::Answer(result)),
            Looked::Failed(e) => return (Err(e), Settled::Unsure),
            Looked::Absent => {}
        }
    }
    pay(job, ctx, deps, look_first).await
}

/// What the free lookup before a repeat said.
enum Looked {
    /// Okra has the profile: done, for free.
    Found(OkraResult),
    /// Okra answered that it has no such identity: paying is safe.
    Absent,
    /// No definite answer: the attempt ends, and the next one looks again.
    Failed(JobError),
}

/// The free lookup before paying again for a job whose last attempt may have been charged.
async fn look(job: &OkraJob, ctx: &JobContext, deps: &Deps) -> Looked {
    let Some(path) = deps.okra.lookup_for(job.kind()) else {
        return match deps.okra.without_lookup {
            WithoutLookup::Verify => Looked::Absent,
            WithoutLookup::Hold => {
                give_back_slot(deps, ctx).await;
                Looked::Failed(
                    JobError::terminal(
                        "unresolved_charge",
                        format!(
                            "Okra may have charged for an answer that never arrived, and {} has no free lookup to check (okra.lookup); enqueue it again if a second charge is acceptable",
                            job.kind()
                        ),
                    )
                    .uncertain(),
                )
            }
        };
    };
    if let Some(e) = still_ours(ctx) {
        return Looked::Failed(e.uncertain());
    }
    let unresolved = |why: String| {
        Looked::Failed(
            JobError::retryable(
                "unresolved_charge",
                format!(
                    "Okra may have charged for an answer that never arrived, and the free lookup {path} did not answer: {why}"
                ),
            )
            .uncertain(),
        )
    };
    match call(deps, path, job.body()).await {
        Ok(Reply::Data(data)) => match checked_lookup(job, &data) {
            Ok(Some(profile)) => {
                info!(
                    lookup = path,
                    "profile found with the free lookup; no second paid verify"
                );
                deps.pay.found();
                deps.pay
                    .count(ctx.redis_now_ms(), job.kind(), Spent::SavedLookup, 0.0);
                Looked::Found(OkraResult {
                    lookup: Some("free".into()),
                    ..OkraResult::found(path, profile)
                })
            }
            Ok(None) => {
                info!(
                    lookup = path,
                    "the free lookup has no profile; verifying again"
                );
                Looked::Absent
            }
            Err(e) => unresolved(e.to_string()),
        },
        Ok(Reply::NoContent) => Looked::Absent,
        Err(e) => {
            let (_, action) = deps.classifier.job_error(&e, &deps.delays);
            // A 429 (or an account failure) from the lookup stops this run like any other,
            // and the next attempt still looks first.
            if matches!(action, Action::RateLimited | Action::Pause) {
                return Looked::Failed(failed(deps, &e).await.uncertain());
            }
            warn!(lookup = path, status = %status_text(&e), "the free lookup did not answer; not paying again");
            unresolved(e.to_string())
        }
    }
}

/// The paid call: a budget slot, a rate-limit slot, the verify, and the ledger.
async fn pay(
    job: &OkraJob,
    ctx: &JobContext,
    deps: &Deps,
    looked: bool,
) -> (Result<OkraResult, JobError>, Settled) {
    // Still unresolved if this run cannot pay after all: the next attempt looks again.
    let keep = |e: JobError| if looked { e.uncertain() } else { e };
    let unsettled = || {
        if looked {
            Settled::Unsure
        } else {
            Settled::Nothing
        }
    };
    match deps.pay.budget_take().await {
        Ok(true) => {}
        Ok(false) => {
            give_back_slot(deps, ctx).await;
            warn!(
                "okra.daily_budget is spent: the account's queues are held until the next UTC day or `okra-admin queue resume`"
            );
            let e = JobError::retryable("budget", "okra.daily_budget is spent for today")
                .without_attempt();
            return (Err(keep(e)), unsettled());
        }
        Err(e) => {
            give_back_slot(deps, ctx).await;
            return (Err(keep(queue_unavailable(e))), unsettled());
        }
    }
    if looked {
        // The claim paid for one call (the lookup); the verify is a second one.
        match deps.queue.permit().await {
            Ok(None) => {}
            Ok(Some(wait)) => {
                deps.pay.budget_give_back().await;
                let e = JobError::retryable(
                    "rate_limited",
                    "waiting for a slot of okra.requests_per_minute",
                )
                .with_delay(wait)
                .without_attempt();
                return (Err(keep(e)), unsettled());
            }
            Err(e) => {
                deps.pay.budget_give_back().await;
                return (Err(keep(queue_unavailable(e))), unsettled());
            }
        }
    }
    if let Some(e) = still_ours(ctx) {
        give_back_slot(deps, ctx).await;
        deps.pay.budget_give_back().await;
        return (Err(keep(e)), unsettled());
    }
    let now = || ctx.redis_now_ms();
    match call(deps, job.path(), job.body()).await {
        Ok(Reply::Data(data)) => {
            // Okra charged for a success, whatever its profile turns out to be.
            deps.pay
                .count(now(), job.kind(), Spent::Paid, receipt_credits(&data));
            match checked_profile(job, &data) {
                Ok(profile) => {
                    deps.pay.found();
                    let result = OkraResult {
                        verified_at: Some(now()),
                        ..OkraResult::found(job.path(), profile)
                    };
                    (Ok(result.clone()), Settled::Answer(result))
                }
                Err(e) => (Err(refused(e)), Settled::Nothing),
            }
        }
        // A valid account with no BVN attached: Okra does not charge for it.
        Ok(Reply::NoContent) => {
            deps.pay.budget_give_back().await;
            let result = OkraResult {
                http_status: 204,
                profile: None,
                note: Some("valid account with no BVN attached".into()),
                ..OkraResult::found(job.path(), Value::Null)
            };
            (Ok(result), Settled::Nothing)
        }
        Err(e) if e.uncertain() => {
            deps.pay.count(now(), job.kind(), Spent::Uncertain, 0.0);
            (Err(failed(deps, &e).await), Settled::Unsure)
        }
        Err(e) => {
            deps.pay.budget_give_back().await;
            (Err(failed(deps, &e).await), Settled::Nothing)
        }
    }
}

/// Whether the attempt that ended with `f` may have been charged at Okra without its answer
/// reaching us (see `OkraError::uncertain`; a lease lost or expired mid-call too). Records
/// from before the flag existed are judged by their class.
fn uncertain(deps: &Deps, f: &Failure) -> bool {
    f.uncertain
        || deps.classifier.is_okra_timeout_class(&f.class)
        || matches!(
            f.class.as_str(),
            "lease_expired" | "lease_lost" | "unresolved_charge"
        )
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
async fn call(deps: &Deps, path: &str, body: Value) -> Result<Reply, OkraError> {
    let started = Instant::now();
    let result = deps.client.post(path, body).await;
    let status = match &result {
        Ok(Reply::Data(_)) => "200".to_string(),
        Ok(Reply::NoContent) => "204".to_string(),
        Err(e) => e
            .status()
            .map_or_else(|| "transport".to_string(), |s| s.to_string()),
    };
    metrics::counter!("okra_http_requests_total", "queue" => deps.queue.name().to_string(), "endpoint" => path.to_string(), "status" => status)
        .increment(1);
    metrics::histogram!("okra_request_duration_seconds", "queue" => deps.queue.name().to_string(), "endpoint" => path.to_string())
        .record(started.elapsed().as_secs_f64());
    result
}

/// Classifies a failed call; after a 429 the whole fleet stops calling Okra until the wait
/// ends, an account failure pauses the queue, and a `not_found` counts towards the drain guard.
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
    } else if je.class() == "not_found" {
        return drain_guard(deps, je).await;
    } else if je.is_terminal() {
        info!(class = je.class(), status = %status_text(e), "terminal failure");
    } else {
        // The retry policy decides whether the budget allows another attempt.
        info!(class = je.class(), status = %status_text(e), "retryable failure");
    }
    je
}

/// The drain guard: many `not_found` in a row, with no success between, mean a wrong base URL
/// or path rather than many unknown identifiers. Counting and pausing are one step in Redis,
/// and an answer that arrives once the breaker or the guard has paused the queue gives its job
/// back instead of burying it.
async fn drain_guard(deps: &Deps, je: JobError) -> JobError {
    let reason = format!(
        "drain guard: {} consecutive not_found (404) answers with no success between: check okra.base_url ({})",
        deps.okra.drain_guard,
        deps.client.base_url()
    );
    match deps
        .queue
        .rdb()
        .not_found(deps.okra.drain_guard, &reason)
        .await
    {
        Ok(NotFound::Held(paused)) => {
            info!(
                paused,
                "not_found while the queue is paused: the job goes back, no attempt spent"
            );
            let message = format!("{} (the queue was paused: given back)", je.failure.message);
            JobError::retryable("not_found", message)
                .http_status(je.failure.http_status.unwrap_or(404))
                .without_attempt()
        }
        Ok(NotFound::Tripped(_)) => {
            error!(
                reason,
                "queue paused by the drain guard; fix the cause, then `okra-admin queue resume`"
            );
            je
        }
        Ok(NotFound::Counted(_)) => {
            info!(class = je.class(), "terminal failure");
            je
        }
        Err(err) => {
            warn!(error = %err, "drain guard could not count a not_found");
            je
        }
    }
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
