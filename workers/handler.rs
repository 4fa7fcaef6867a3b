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
use okra_queue::job::Job;
use okra_queue::okra::lookup::{self, Answer, Nothing, Verdict};
use okra_queue::okra::providers::{self, Charged, Picked, Route, Uncertain};
use okra_queue::okra::{
    Action, Classifier, Delays, MatchSettings, OkraError, OkraJob, OkraResult, OkraSettings,
    ProfileError, Reply, WithoutLookup, checked_profile,
};
use okra_queue::rdb::{NotFound, Spent};
use okra_queue::telemetry::{Propagation, spans};
use okra_queue::{JobContext, JobError, Queue};
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::{Instrument, error, info, info_span, warn};

use okra_queue::okra::pay_once::{Begin, Charge, PayOnce, Settled, receipt_credits};

use crate::answer::{Answered, Kept, answered, settled, unencodable};

/// What every job needs.
pub struct Deps {
    /// The providers, in `[provider] order` (Okra alone without one), and their health.
    pub route: Route,
    pub classifier: Classifier,
    pub delays: Delays,
    pub queue: Queue,
    /// `[okra]`: the lookups, the guard, what a kind without a lookup does.
    pub okra: OkraSettings,
    pub pay: Arc<PayOnce>,
    /// `[match]`: the answer to a job's match request, and whether its profile is kept.
    pub matching: MatchSettings,
    /// `[telemetry] propagation`: an attempt's span linked to the producer's, or its child.
    pub propagation: Propagation,
}

/// Runs one Okra job; its result is an [`OkraResult`] (`lookup: "free"` when the profile came
/// from a free lookup instead of a paid verify, `source: "reuse"` when it was paid for by an
/// earlier job within the reuse window).
pub async fn run(
    job: OkraJob,
    ctx: JobContext,
    deps: Data<Arc<Deps>>,
) -> Result<Box<RawValue>, BoxDynError> {
    // The exported span (no subject, not even masked); the logs' `job` span inside it.
    let waited = ctx.claimed_at_ms.saturating_sub(ctx.meta.due_at);
    let (queue, trace) = (deps.queue.name(), ctx.meta.trace.as_ref());
    let process = spans::process(
        queue,
        ctx.id(),
        ctx.attempt,
        waited,
        trace,
        deps.propagation,
    );
    // The retry or dead letter this attempt leads to is traced under it.
    ctx.trace_under(&process);
    let span = info_span!(parent: &process, "job", id = %ctx.id(), kind = job.kind(), attempt = ctx.attempt, subject = %job.subject(false));
    let out = async { run_inner(&job, &ctx, &deps).await }
        .instrument(span)
        .instrument(process.clone())
        .await;
    if out.as_ref().is_ok_and(|a| a.reused) {
        process.record("okra.charge", "reuse");
    }
    spans::outcome(&process, out.as_ref().err().map(|e| e.class()));
    out.map(|a| a.text).map_err(Into::into)
}

async fn run_inner(job: &OkraJob, ctx: &JobContext, deps: &Deps) -> Result<Answered, JobError> {
    // The claim's rate-limit slot is the charge's: given back on every path that makes no call.
    let charge = deps.pay.charge(ctx);
    // A record written by another producer is checked as enqueue checks it; Okra never sees
    // an invalid one. The message names the rule, never the value.
    if let Err(why) = job.validate() {
        return Err(JobError::terminal(
            "invalid_payload",
            format!("the job fails validation: {why}"),
        ));
    }
    let mut charge = match charge.begin(job, ctx).await? {
        Begin::Reused(result) => {
            return answered(&answer_match(job, deps, result)).map_err(unencodable);
        }
        Begin::Go(charge) => charge,
    };
    let (result, kept) = attempt(job, ctx, deps, &mut charge).await;
    let result = match result {
        Ok(result) => result,
        Err(e) => {
            ctx.record_after(charge.settle(settled(kept, None)));
            return Err(e);
        }
    };
    // A result that does not serialise loses an answer that came: as uncertain as one that
    // never did (this job's next attempt and the person's next job look first; now is the
    // latest the call can have started).
    let now = charge.now();
    let lost = |e: serde_json::Error| match kept {
        Kept::Answer => unencodable(e).uncertain_since(now),
        _ => unencodable(e),
    };
    // Under `[match] keep_profile = false`, a job with a match request does not leave its
    // profile in the reuse store either (the lock is released as if nothing was paid for).
    let keep = matches!(kept, Kept::Answer) && deps.matching.keeps_profile(job.match_request());
    // The answer as it came, serialised only when it is kept: for the store and, without a
    // match request, as the job's result too.
    let stored = match keep.then(|| answered(&result)).transpose() {
        Ok(stored) => stored,
        Err(e) => {
            ctx.record_after(charge.settle(Settled::Unsure));
            return Err(lost(e));
        }
    };
    // Settled before the outcome is written (a job shown finished has stored its profile),
    // without this job waiting for it.
    ctx.record_after(charge.settle(settled(kept, stored.as_ref().map(|a| &*a.text))));
    match (stored, job.match_request()) {
        (Some(text), None) => Ok(text),
        _ => answered(&answer_match(job, deps, result)).map_err(lost),
    }
}

/// The answer to the job's match request, from the profile; under `[match]
/// keep_profile = false` the result keeps the answer, not the profile.
fn answer_match(job: &OkraJob, deps: &Deps, result: OkraResult) -> OkraResult {
    result.answer_match(job.match_request(), &deps.matching)
}

/// One attempt past the pay lock: look first when the last charge is uncertain, then pay.
async fn attempt(
    job: &OkraJob,
    ctx: &JobContext,
    deps: &Deps,
    charge: &mut Charge,
) -> (Result<OkraResult, JobError>, Kept) {
    let last = ctx.last_error.as_ref();
    if let Some(since) = charge.look_first() {
        // The charge is uncertain at one provider: this attempt stays with it.
        let Some(picked) = paid_at(deps, last.and_then(|f| f.provider.as_deref())) else {
            let e = JobError::terminal(
                "unresolved_charge",
                "a lost lease left a charge uncertain, and with several providers in the order the one it may have been paid at is unknown; enqueue it again if a second charge is acceptable",
            );
            return (Err(charge.keep(e)), Kept::Unsure);
        };
        match look(job, ctx, deps, charge, since, picked).await {
            Looked::Found(result) => return (Ok(result), Kept::Answer),
            Looked::Failed(e) => return (Err(e), Kept::Unsure),
            Looked::Absent => {}
        }
        return pay(job, ctx, deps, charge, picked).await;
    }
    // A provider that certainly did not take this job's last call is skipped once.
    let avoid = last
        .filter(|f| f.unavailable)
        .and_then(|f| f.provider.as_deref());
    let Some(picked) = deps.route.pick(job.kind(), avoid) else {
        let e = JobError::terminal(
            "not_sold",
            format!(
                "no provider of provider.order sells {}; it was never sent",
                job.kind()
            ),
        );
        return (Err(e), Kept::Nothing);
    };
    pay(job, ctx, deps, charge, picked).await
}

/// The provider an uncertain charge may have been paid at: the one the failed attempt named,
/// or the only one there is.
fn paid_at<'a>(deps: &'a Deps, named: Option<&str>) -> Option<Picked<'a>> {
    match named {
        Some(name) => deps.route.named(name),
        None if deps.route.callers().len() == 1 => deps.route.named(deps.route.callers()[0].name()),
        None => None,
    }
}

/// What the free lookup before a repeat said.
enum Looked {
    /// Okra has the profile: done, for free.
    Found(OkraResult),
    /// Okra answered definitely that it has no such identity: paying is safe.
    Absent,
    /// No definite answer yet: the attempt ends, and the next one looks again.
    Failed(JobError),
}

/// The free lookup before paying again for a job whose last attempt may have been charged by
/// a call that started at `since` at the latest (see [`okra_queue::okra::lookup`]).
async fn look(
    job: &OkraJob,
    ctx: &JobContext,
    deps: &Deps,
    charge: &mut Charge,
    since: u64,
    picked: Picked<'_>,
) -> Looked {
    let provider = picked.caller.name();
    let is_okra = provider == providers::okra::SPEC.name;
    let path = if is_okra {
        deps.okra.lookup_for(job.kind())
    } else {
        None
    };
    let Some(path) = path else {
        let pay_again = if is_okra {
            deps.okra.without_lookup == WithoutLookup::Verify
        } else {
            picked.caller.conf().uncertain == Uncertain::Retry
        };
        if pay_again {
            return Looked::Absent;
        }
        let setting = if is_okra {
            "okra.lookup, okra.without_lookup".to_string()
        } else {
            format!("provider.{provider}.uncertain = \"hold\"")
        };
        return Looked::Failed(charge.keep(
            JobError::terminal(
                "unresolved_charge",
                format!(
                    "{provider} may have charged for an answer that never arrived, and {} has no free lookup there to check ({setting}); enqueue it again if a second charge is acceptable",
                    job.kind()
                ),
            )
            .provider(provider),
        ));
    };
    if let Some(e) = still_ours(ctx) {
        return Looked::Failed(charge.keep(e));
    }
    if let Err(e) = charge.calling().await {
        return Looked::Failed(charge.keep(e));
    }
    let reply = call(deps, picked, job, Some(path)).await;
    if let Err(e) = &reply {
        let (_, action) = deps.classifier.job_error(e, &deps.delays);
        // A 429 (or an account failure) from the lookup stops this run like any other,
        // and the next attempt still looks first.
        if matches!(action, Action::RateLimited | Action::Pause) {
            return Looked::Failed(charge.keep(failed(deps, picked, e).await.provider(provider)));
        }
    }
    let pay = charge.pay_once();
    let nothing = match lookup::read(job, &reply) {
        Answer::Profile(profile) => {
            info!(
                lookup = path,
                "profile found with the free lookup; no second paid verify"
            );
            pay.prove_lookup(path).await;
            pay.found();
            pay.count(charge.now(), job.kind(), Spent::SavedLookup, 0.0);
            return Looked::Found(OkraResult {
                lookup: Some("free".into()),
                provider: Some(provider.into()),
                ..OkraResult::found(path, profile)
            });
        }
        Answer::Nothing(nothing) => nothing,
    };
    let proven = matches!(nothing, Nothing::NotFound(_)) && pay.lookup_proven(path).await;
    match lookup::absence(
        nothing,
        proven,
        since,
        charge.now(),
        deps.okra.answer_deadline,
    ) {
        Verdict::Absent => {
            info!(
                lookup = path,
                "the free lookup has no such identity; verifying again"
            );
            Looked::Absent
        }
        Verdict::TooEarly { wait, what } => {
            info!(lookup = path, wait = %humantime::format_duration(wait), "no identity yet, but the uncertain call may still be finishing; looking again at okra.answer_deadline");
            Looked::Failed(charge.keep(
                JobError::retryable(
                    "awaiting_answer",
                    format!(
                        "Okra may still be finishing a call whose answer never arrived: the free lookup {path} answered {what}, which counts as \"no such identity\" only once okra.answer_deadline ({}) has passed since that call; looking again then",
                        humantime::format_duration(deps.okra.answer_deadline)
                    ),
                )
                .with_delay(wait)
                .without_attempt()
                .provider(provider),
            ))
        }
        Verdict::Unresolved(why) => {
            warn!(
                lookup = path,
                "the free lookup gave no definite answer; not paying again"
            );
            Looked::Failed(charge.keep(
                JobError::retryable(
                    "unresolved_charge",
                    format!(
                        "Okra may have charged for an answer that never arrived, and the free lookup {path} did not answer definitely: {why}"
                    ),
                )
                .provider(provider),
            ))
        }
    }
}

/// The paid call: a budget slot, a rate-limit slot, the verify, and the ledger. A slot not
/// spent on a charged call goes back by itself.
async fn pay(
    job: &OkraJob,
    ctx: &JobContext,
    deps: &Deps,
    charge: &mut Charge,
    picked: Picked<'_>,
) -> (Result<OkraResult, JobError>, Kept) {
    let (result, settled) = pay_at(job, ctx, deps, charge, picked).await;
    let provider = picked.caller.name();
    let result = match result {
        Ok(r) => Ok(OkraResult {
            provider: Some(provider.into()),
            ..r
        }),
        Err(e) if e.failure.provider.is_none() => Err(e.provider(provider)),
        Err(e) => Err(e),
    };
    (result, settled)
}

/// The paid call at `picked`.
async fn pay_at(
    job: &OkraJob,
    ctx: &JobContext,
    deps: &Deps,
    charge: &mut Charge,
    picked: Picked<'_>,
) -> (Result<OkraResult, JobError>, Kept) {
    // Still unresolved if this run cannot pay after all: the next attempt looks again.
    let unsettled = |charge: &Charge| {
        if charge.look_first().is_some() {
            Kept::Unsure
        } else {
            Kept::Nothing
        }
    };
    let ready = match charge.take_budget().await {
        Ok(()) => match still_ours(ctx) {
            Some(e) => Err(e),
            None => charge.calling().await,
        },
        Err(e) => Err(e),
    };
    if let Err(e) = ready {
        return (Err(charge.keep(e)), unsettled(charge));
    }
    let started = charge.now();
    let reply = call(deps, picked, job, None).await;
    deps.route.report(picked, &reply);
    let ledger = providers::ledger_kind(picked.caller.name(), job.kind());
    let source = source_of(picked, job);
    match reply {
        Ok(Reply::Data(data)) => {
            // Okra charged for a success, whatever its profile turns out to be.
            charge.charged();
            let pay = charge.pay_once();
            pay.count(charge.now(), &ledger, Spent::Paid, receipt_credits(&data));
            match checked_profile(job, &data) {
                Ok(profile) => {
                    pay.found();
                    let result = OkraResult {
                        verified_at: Some(charge.now()),
                        ..OkraResult::found(&source, profile)
                    };
                    (Ok(result), Kept::Answer)
                }
                // Paid for, but no usable profile: the free lookup may have one.
                Err(e @ ProfileError::Malformed(_)) => {
                    (Err(refused(e).uncertain_since(started)), Kept::Unsure)
                }
                Err(e) => (Err(refused(e)), Kept::Nothing),
            }
        }
        // A valid account with no BVN attached: Okra does not charge for it.
        Ok(Reply::NoContent) => {
            let result = OkraResult {
                http_status: 204,
                profile: None,
                note: Some("valid account with no BVN attached".into()),
                ..OkraResult::found(&source, Value::Null)
            };
            (Ok(result), Kept::Nothing)
        }
        // No answer, or one that cannot be read (a 2xx Okra charged for): the budget slot
        // stays spent, and the next attempt looks first.
        Err(e) if e.uncertain() => {
            charge.charged();
            charge
                .pay_once()
                .count(charge.now(), &ledger, Spent::Uncertain, 0.0);
            (
                Err(failed(deps, picked, &e).await.uncertain_since(started)),
                Kept::Unsure,
            )
        }
        Err(e) => {
            let billing = picked.caller.provider().spec().billing;
            if providers::charged(billing, &Err(e.clone())) == Charged::Yes {
                // A provider that bills this answer (its own word, or its rule): paid for.
                charge.charged();
                charge
                    .pay_once()
                    .count(charge.now(), &ledger, Spent::Paid, 0.0);
            }
            let je = failed(deps, picked, &e).await;
            let je = if providers::certainly_unavailable(&Err(e)) {
                je.unavailable()
            } else {
                je
            };
            (Err(je), Kept::Nothing)
        }
    }
}

/// What answered: Okra's endpoint, or `provider:kind`.
fn source_of(picked: Picked<'_>, job: &OkraJob) -> String {
    match picked.caller.name() {
        "okra" => job.path().to_string(),
        other => format!("{other}:{}", job.kind()),
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

/// One call to a provider (its paid verify, or Okra's free lookup at `lookup`), with its
/// metrics.
async fn call(
    deps: &Deps,
    picked: Picked<'_>,
    job: &OkraJob,
    lookup: Option<&str>,
) -> Result<Reply, OkraError> {
    let started = Instant::now();
    let span = spans::call(
        picked.caller.name(),
        lookup.is_some(),
        picked.caller.base_url(),
    );
    let (result, endpoint) = match lookup {
        Some(path) => (
            picked
                .caller
                .lookup(job)
                .instrument(span.clone())
                .await
                // Never an answer made up here: without one, the lookup settles nothing.
                .unwrap_or_else(|| {
                    Err(OkraError::Transport {
                        timeout: false,
                        connect: true,
                        message: format!("{} has no free lookup", picked.caller.name()),
                    })
                }),
            path.to_string(),
        ),
        None => (
            picked.caller.call(job).instrument(span.clone()).await,
            source_of(picked, job),
        ),
    };
    let charge = match &result {
        _ if lookup.is_some() => "lookup",
        Ok(_) => "paid",
        Err(e) if e.uncertain() => "uncertain",
        Err(_) => "none",
    };
    let code = match &result {
        Ok(Reply::Data(_)) => Some(200),
        Ok(Reply::NoContent) => Some(204),
        Err(e) => e.status(),
    };
    spans::called(&span, code, charge);
    let status = match &result {
        Ok(Reply::Data(_)) => "200".to_string(),
        Ok(Reply::NoContent) => "204".to_string(),
        Err(e) => e
            .status()
            .map_or_else(|| "transport".to_string(), |s| s.to_string()),
    };
    let provider = picked.caller.name();
    metrics::counter!("okra_http_requests_total", "queue" => deps.queue.name().to_string(), "provider" => provider, "endpoint" => endpoint.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("okra_request_duration_seconds", "queue" => deps.queue.name().to_string(), "provider" => provider, "endpoint" => endpoint)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Classifies a failed call; after a 429 the whole fleet stops calling Okra until the wait
/// ends, an account failure pauses the queue, and a `not_found` counts towards the drain guard.
async fn failed(deps: &Deps, picked: Picked<'_>, e: &OkraError) -> JobError {
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
        let reason = pause_reason(&je, e, picked.caller.name());
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
        return drain_guard(deps, picked, je).await;
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
async fn drain_guard(deps: &Deps, picked: Picked<'_>, je: JobError) -> JobError {
    let setting = match picked.caller.name() {
        "okra" => "okra.base_url".to_string(),
        other => format!("provider.{other}.base_url"),
    };
    let reason = format!(
        "drain guard: {} consecutive not_found answers with no success between: check {setting} ({})",
        deps.okra.drain_guard,
        picked.caller.base_url()
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
fn pause_reason(je: &JobError, e: &OkraError, provider: &str) -> String {
    let hint = match je.class() {
        "unauthorized" | "forbidden" => {
            let vars: Vec<&str> = providers::spec(provider)
                .map(|s| s.secrets.iter().map(|(name, _)| *name).collect())
                .unwrap_or_default();
            format!(": check {}", vars.join(", "))
        }
        "plan" | "expired" if provider == "okra" => ": check the Okra plan and billing".into(),
        "plan" | "expired" => format!(": check the {provider} plan and billing"),
        "wallet_empty" => format!(": top up the {provider} wallet, then `okra-admin queue resume`"),
        "wrong_path" | "unexpected_redirect" => format!(": check the base URL of {provider}"),
        "env" => ": the key is for another environment (sandbox or live)".into(),
        _ => String::new(),
    };
    let what = match e.status() {
        Some(status) => format!(
            "{provider} answered {status} {}",
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("")
        ),
        None => format!("{provider} call failed"),
    };
    format!("{} ({}){hint}", what.trim_end(), je.class())
}

/// `503`, or `none` when Okra never answered.
fn status_text(e: &OkraError) -> String {
    e.status().map_or_else(|| "none".into(), |s| s.to_string())
}
