//! The job routes: enqueue one, enqueue a batch, read one (optionally waiting for its end,
//! woken by the queue's events), cancel one.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use okra_queue::api_keys::{ApiKey, Scope};
use okra_queue::job::TraceContext;
use okra_queue::{EnqueueOptions, Enqueued, JobRecord, JobState, Queue, QueueError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Shared;
use crate::body::{self, BatchRequest, EnqueueRequest, Parsed};
use crate::guard::permit;
use crate::params::{Params, Segments};
use crate::problem::{ApiError, BodyRefused, Kind, PROBLEM, Problem, Refused};

/// What an enqueue did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The job's id (the original job's, for a repeat).
    pub id: String,
    pub queue: String,
    /// `ready`, `scheduled`, or for a repeat the original job's state now.
    #[schema(example = "ready")]
    pub state: String,
    /// True when the idempotency key was seen before: nothing new was enqueued.
    pub duplicate: bool,
}

/// One item of a batch's answer: the job (as for a single enqueue) or its error.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// Why this item was not enqueued (nothing of it was written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Problem>,
}

/// A batch's answer: one item per job, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub queue: String,
    pub results: Vec<BatchItem>,
}

/// Why a job died (a dead letter).
#[derive(Debug, Serialize, ToSchema)]
pub struct FailureView {
    /// Failure class (`flagged_user`, `server_error`, `attempts_exhausted`, ...).
    pub class: String,
    /// Why it died: `terminal`, `attempts_exhausted`, `retry_window_exceeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub message: String,
    /// The provider's HTTP status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
}

/// A job as the gateway shows it (never its payload: that holds the identifier).
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub queue: String,
    pub kind: String,
    /// `scheduled`, `ready`, `running`, `completed`, `dead` or `cancelled`.
    pub state: String,
    /// Attempts spent.
    pub attempts: u32,
    pub max_attempts: u32,
    /// Enqueue time, ms since the epoch.
    pub created_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// The last failure (a dead letter's cause; a retrying job's last error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureView>,
    /// The result once completed (opened with the seal keys on a sealed queue).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The metadata given at enqueue.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
}

impl JobView {
    fn of(queue: &str, rec: JobRecord) -> Self {
        let metadata = rec.metadata();
        Self {
            queue: queue.into(),
            kind: okra_queue::job::kind_for_log(&rec.meta.kind),
            state: rec.state.as_str().into(),
            attempts: okra_queue::job::attempts_shown(rec.attempts, rec.state),
            max_attempts: rec.max_attempts,
            created_at: rec.meta.created_at,
            finished_at: rec.finished_at.or(rec.died_at),
            failure: rec.last_error.map(|f| FailureView {
                class: f.class,
                reason: f.reason,
                message: f.message,
                http_status: f.http_status,
            }),
            result: rec.result,
            metadata,
            id: rec.id,
        }
    }
}

/// `?wait=30s`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Hold the request until the job is completed, dead or cancelled, or this long has
    /// passed (at most `gateway.max_wait`); then answer the job as it is.
    #[param(example = "30s")]
    pub wait: Option<String>,
}

/// A queue's handle for a key allowed `scope` on it.
async fn queue_for(
    app: &Shared,
    key: &ApiKey,
    queue: &str,
    scope: Scope,
) -> Result<Queue, ApiError> {
    permit(key, queue, scope)?;
    app.hub.queue(queue).await
}

/// A job id as the queue makes them (a ULID); anything else names no job.
fn check_id(id: &str) -> Result<(), ApiError> {
    if id.len() == 26 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ApiError::new(
            Kind::NotFound,
            "no job with this id in this queue",
        ))
    }
}

fn new_state(p: &Parsed) -> &'static str {
    if p.options.delay.is_some() {
        "scheduled"
    } else {
        "ready"
    }
}

/// The state to show for an enqueue's answer.
async fn shown_state(q: &Queue, e: &Enqueued, fresh: &'static str) -> String {
    if !e.duplicate {
        return fresh.into();
    }
    match q.state(&e.id).await {
        Ok(Some(s)) => s.as_str().into(),
        _ => "unknown".into(),
    }
}

#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/jobs",
    tag = "jobs",
    params(
        ("queue" = String, Path, description = "The queue (the API key's own)"),
        ("Idempotency-Key" = Option<String>, Header, description = "A repeat with the same key and body returns the first job (200, duplicate true); another body is refused (422)"),
    ),
    request_body = EnqueueRequest,
    responses(
        (status = 201, description = "Enqueued", body = Accepted),
        (status = 200, description = "A repeat of an idempotency key: the first job", body = Accepted),
        (status = 403, description = "Another queue, or no `enqueue` scope", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Unknown queue", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Invalid job or field, or the idempotency key used with another body", body = Problem, content_type = PROBLEM),
        (status = 503, description = "Redis unavailable (`unavailable`): retry with the same Idempotency-Key; or the job written but not confirmed at `redis.durability` (`not-durable`, its id in `id`): look it up before enqueueing it again without one", body = Problem, content_type = PROBLEM),
        Refused,
        BodyRefused,
    ),
    security(("bearer" = []))
)]
pub async fn enqueue(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments(queue): Segments<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // The key's queue and scope before the body: a refused key learns nothing from it.
    let q = queue_for(&app, &key, &queue, Scope::Enqueue).await?;
    let body = body::read(body)?;
    if headers.get_all("idempotency-key").iter().count() > 1 {
        return Err(ApiError::new(
            Kind::InvalidRequest,
            "Idempotency-Key is given more than once; send one",
        )
        .field("Idempotency-Key"));
    }
    let header_key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().map_err(|_| {
                ApiError::new(
                    Kind::InvalidRequest,
                    "Idempotency-Key must be visible ASCII",
                )
                .field("Idempotency-Key")
            })?;
            body::check_idempotency_key(k, "Idempotency-Key")?;
            Some(k)
        }
    };
    let p = body::parse_job(body::json_body(&headers, &body)?, header_key)?;
    if let Some(k) = &p.options.idempotency_key
        && !q.same_request(k, &p.fingerprint).await?
    {
        return Err(conflict());
    }
    let fresh = new_state(&p);
    let e = q.enqueue(&p.job, traced(&headers, p.options)).await?;
    let state = shown_state(&q, &e, fresh).await;
    let status = if e.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(Accepted {
            id: e.id,
            queue,
            state,
            duplicate: e.duplicate,
        }),
    )
        .into_response())
}

/// The caller's W3C trace context (`traceparent`, `tracestate`), stored with the job so its
/// attempts join the caller's trace. One that does not parse is ignored, as the W3C
/// recommendation says: the job starts a trace of its own, and the request is not refused.
fn traced(headers: &HeaderMap, options: EnqueueOptions) -> EnqueueOptions {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("traceparent") {
        Some(tp) if TraceContext::parse(tp, header("tracestate")).is_ok() => {
            options.traceparent(tp, header("tracestate"))
        }
        _ => options,
    }
}

/// The refusal of an idempotency key met again with another body (422): the first job stands.
fn conflict() -> ApiError {
    ApiError::new(
        Kind::IdempotencyConflict,
        "this idempotency key was first used with another body; use a new key for a new job",
    )
    .field("idempotency_key")
}

#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/jobs/batch",
    tag = "jobs",
    params(("queue" = String, Path, description = "The queue (the API key's own)")),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One result per job, in order: its id; or its error, when nothing of that job was written; or its id and a `not-durable` error, when it was written but not confirmed at `redis.durability` (look it up before enqueueing it again)", body = BatchResponse),
        (status = 403, description = "Another queue, or no `enqueue` scope", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Unknown queue", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Not a batch of 1 to 1,000 jobs, or an Idempotency-Key header (a batch takes one per job)", body = Problem, content_type = PROBLEM),
        (status = 503, description = "Redis unavailable: no job was written", body = Problem, content_type = PROBLEM),
        Refused,
        BodyRefused,
    ),
    security(("bearer" = []))
)]
pub async fn batch(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments(queue): Segments<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BatchResponse>, ApiError> {
    // The key's queue and scope before the body: a refused key learns nothing from it.
    let q = queue_for(&app, &key, &queue, Scope::Enqueue).await?;
    let body = body::read(body)?;
    if headers.contains_key("idempotency-key") {
        // Ignoring it would let a client believe its retry is safe.
        return Err(ApiError::new(
            Kind::InvalidRequest,
            "a batch takes an idempotency_key per job, not the Idempotency-Key header",
        )
        .field("Idempotency-Key"));
    }
    let items = body::parse_batch(body::json_body(&headers, &body)?)?;
    // Idempotency keys first (concurrently): a key used with another body refuses its item.
    let checks = futures::future::join_all(items.iter().map(|i| async {
        match i {
            Ok(p) => match &p.options.idempotency_key {
                Some(k) => q.same_request(k, &p.fingerprint).await.map(Some),
                None => Ok(Some(true)),
            },
            Err(_) => Ok(None),
        }
    }))
    .await;
    let mut results: Vec<Option<BatchItem>> = Vec::with_capacity(items.len());
    let mut todo = Vec::new();
    for (n, (item, check)) in items.into_iter().zip(checks).enumerate() {
        match (item, check?) {
            (Err(e), _) => results.push(Some(failed(e))),
            (Ok(_), Some(false)) => results.push(Some(failed(conflict()))),
            (Ok(p), _) => {
                results.push(None);
                todo.push((n, p));
            }
        }
    }
    let states: Vec<&'static str> = todo.iter().map(|(_, p)| new_state(p)).collect();
    let slots: Vec<usize> = todo.iter().map(|(n, _)| *n).collect();
    // The library's bulk write is not `Send` (its chunk stream borrows across awaits), so it
    // runs to its end on this thread, which the runtime replaces meanwhile.
    let written = tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(
            q.enqueue_bulk(
                todo.into_iter()
                    .map(|(_, p)| (p.job, traced(&headers, p.options))),
            ),
        )
    });
    // What was written, by position, and whether `redis.durability` confirmed it.
    let (enqueued, durable): (Vec<(usize, Enqueued)>, bool) = match written {
        Ok(all) => (all.into_iter().enumerate().collect(), true),
        // Stopped part-way: those whose fate is unknown named with their ids, the written
        // ones as below, the rest refused as not written.
        Err(QueueError::PartialEnqueue(p)) if !p.written.is_empty() || !p.unknown.is_empty() => {
            let p = *p;
            for (at, id) in p.unknown {
                results[slots[at]] = Some(flagged(ApiError::unknown_fate(id)));
            }
            (p.written, p.unconfirmed.is_none())
        }
        // Written, in order, but not confirmed.
        Err(QueueError::Unconfirmed { ids, .. }) if ids.len() == slots.len() => {
            let written = ids.into_iter().map(|id| Enqueued {
                id,
                duplicate: false,
            });
            (written.enumerate().collect(), false)
        }
        Err(e) => return Err(e.into()),
    };
    for (at, e) in enqueued {
        // Not confirmed: the item says so with its id, so a client without idempotency keys
        // looks it up instead of enqueueing it twice.
        results[slots[at]] = Some(if !durable {
            flagged(ApiError::not_durable(e.id))
        } else {
            let state = shown_state(&q, &e, states[at]).await;
            BatchItem {
                id: Some(e.id),
                state: Some(state),
                duplicate: Some(e.duplicate),
                error: None,
            }
        });
    }
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| failed(ApiError::unavailable())))
        .collect();
    Ok(Json(BatchResponse { queue, results }))
}

/// An item that was (or may have been) written: its id, and what is wrong.
fn flagged(e: ApiError) -> BatchItem {
    BatchItem {
        id: e.1.id.clone(),
        state: None,
        duplicate: None,
        error: Some(*e.1),
    }
}

fn failed(e: ApiError) -> BatchItem {
    BatchItem {
        id: None,
        state: None,
        duplicate: None,
        error: Some(*e.1),
    }
}

#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/jobs/{id}",
    tag = "jobs",
    params(
        ("queue" = String, Path, description = "The queue (the API key's own)"),
        ("id" = String, Path, description = "The job's id"),
        WaitQuery,
    ),
    responses(
        (status = 200, description = "The job (with its result once completed)", body = JobView),
        (status = 403, description = "Another queue, or no `read` scope", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Unknown queue or job", body = Problem, content_type = PROBLEM),
        (status = 422, description = "`wait` is not a duration or over the maximum", body = Problem, content_type = PROBLEM),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = PROBLEM),
        Refused,
    ),
    security(("bearer" = []))
)]
pub async fn show(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments((queue, id)): Segments<(String, String)>,
    Params(query): Params<WaitQuery>,
) -> Result<Json<JobView>, ApiError> {
    let q = queue_for(&app, &key, &queue, Scope::Read).await?;
    let wait = match query.wait.as_deref() {
        None => None,
        Some(w) => {
            let d = humantime::parse_duration(w.trim()).map_err(|_| {
                ApiError::new(
                    Kind::InvalidRequest,
                    "wait must be a duration such as \"30s\"",
                )
                .field("wait")
            })?;
            if d > app.max_wait {
                return Err(ApiError::new(
                    Kind::InvalidRequest,
                    format!(
                        "wait is over the maximum of {} (gateway.max_wait)",
                        humantime::format_duration(app.max_wait)
                    ),
                )
                .field("wait"));
            }
            Some(d)
        }
    };
    check_id(&id)?;
    let rec = match wait {
        Some(d) if !d.is_zero() => match q.wait(&id, d).await {
            Ok(rec) => Some(rec),
            Err(QueueError::Timeout(_)) => q.job(&id).await?,
            Err(e) => return Err(e.into()),
        },
        _ => q.job(&id).await?,
    };
    let rec = rec.ok_or_else(|| ApiError::from(QueueError::NotFound(id.clone())))?;
    if rec.result.is_some() {
        // Recorded before it is handed out: a read that cannot be recorded is not answered.
        q.record_result_read(&key.name, &id).await?;
    }
    Ok(Json(JobView::of(&queue, rec)))
}

#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/jobs/{id}",
    tag = "jobs",
    params(
        ("queue" = String, Path, description = "The queue (the API key's own)"),
        ("id" = String, Path, description = "The job's id"),
    ),
    responses(
        (status = 200, description = "Cancelled: the job as it is now", body = JobView),
        (status = 403, description = "Another queue, or no `cancel` scope", body = Problem, content_type = PROBLEM),
        (status = 404, description = "Unknown queue or job", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Not waiting or scheduled (running, finished, dead)", body = Problem, content_type = PROBLEM),
        (status = 503, description = "Redis unavailable", body = Problem, content_type = PROBLEM),
        Refused,
    ),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments((queue, id)): Segments<(String, String)>,
) -> Result<Json<JobView>, ApiError> {
    let q = queue_for(&app, &key, &queue, Scope::Cancel).await?;
    check_id(&id)?;
    q.acting_as(&format!("api-key:{}", key.name))
        .cancel(&id)
        .await?;
    let rec = q
        .job(&id)
        .await?
        .ok_or_else(|| ApiError::from(QueueError::NotFound(id.clone())))?;
    debug_assert_eq!(rec.state, JobState::Cancelled);
    Ok(Json(JobView::of(&queue, rec)))
}
