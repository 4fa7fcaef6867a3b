//! The webhook routes (scope `admin`): add an endpoint for the key's queue, list its
//! endpoints, remove one, rotate its secret. As `okra-admin webhook`: the secret is answered
//! once, by add and rotate-secret; the list never holds one. The library checks the URL (the
//! SSRF guard) and writes the audit trail, with the key as the actor.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use okra_queue::api_keys::{ApiKey, Scope};
use okra_queue::webhooks::{Endpoint, EventType, NewEndpoint};
use okra_queue::{Queue, QueueError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Shared;
use crate::body;
use crate::guard::permit;
use crate::params::Segments;
use crate::problem::{ApiError, BodyRefused, Kind, PROBLEM, Problem, Refused};

/// What every webhook route refuses besides [`Refused`]: the key's queue or scope, and Redis.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum AdminRefused {
    #[response(
        status = 403,
        description = "Another queue, or no `admin` scope",
        content_type = "application/problem+json"
    )]
    Forbidden(Problem),
    #[response(
        status = 503,
        description = "Redis unavailable",
        content_type = "application/problem+json"
    )]
    NoRedis(Problem),
}

/// An endpoint to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// The receiver's URL: https, to a public address (hosts in
    /// `webhooks.allow_insecure_hosts` may use http and any address).
    #[schema(example = "https://app.example.com/hooks/kyc")]
    pub url: String,
    /// Events to send: `job.completed`, `job.dead`, `job.retrying` [default: job.completed
    /// and job.dead].
    #[serde(default)]
    pub events: Vec<String>,
    /// Full events: the result (and failure messages) in the body; thin ones (the default)
    /// carry none, the app fetches it.
    #[serde(default)]
    pub full: bool,
}

/// An endpoint's id and signing secret (`whsec_...`): shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    #[schema(example = "ep_01jf3v9q2k8m7x4c5n6b7a8d9e")]
    pub id: String,
    pub secret: String,
}

/// An endpoint as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    pub id: String,
    pub queue: String,
    pub url: String,
    /// The events it takes.
    pub events: Vec<String>,
    /// Full events (the result in the body) or thin.
    pub full: bool,
    /// Why deliveries stopped (the receiver answered 410 Gone), when they did.
    pub disabled: Option<String>,
    /// When it was added, ms since the epoch.
    pub created_at: u64,
    /// Until when the secret a rotation replaced still signs (ms), after a rotation.
    pub previous_secret_until: Option<u64>,
}

impl WebhookView {
    fn of(e: Endpoint) -> Self {
        Self {
            events: e.events.iter().map(|v| v.as_str().to_string()).collect(),
            previous_secret_until: e.previous.is_some().then_some(e.previous_until),
            id: e.id,
            queue: e.queue,
            url: e.url,
            full: e.full,
            disabled: e.disabled,
            created_at: e.created_at,
        }
    }
}

/// The queue's handle for a key with `admin` on it, acting as the key in the audit trail.
async fn admin_queue(app: &Shared, key: &ApiKey, queue: &str) -> Result<Queue, ApiError> {
    permit(key, queue, Scope::Admin)?;
    Ok(app
        .hub
        .queue(queue)
        .await?
        .acting_as(&format!("api-key:{}", key.name)))
}

fn unknown() -> ApiError {
    ApiError::new(
        Kind::WebhookNotFound,
        "no webhook endpoint with this id in this queue",
    )
}

/// Endpoint `id` of `q` (never another queue's: `webhook_remove` and `webhook_rotate` act on
/// any queue's endpoint, so the key's queue is checked here).
async fn own(q: &Queue, id: &str) -> Result<(), ApiError> {
    match q.webhook(id).await? {
        Some(e) if e.queue == q.name() => Ok(()),
        _ => Err(unknown()),
    }
}

#[utoipa::path(
    get,
    path = "/v1/queues/{queue}/webhooks",
    tag = "webhooks",
    params(("queue" = String, Path, description = "The queue (the API key's own)")),
    responses(
        (status = 200, description = "The queue's endpoints, oldest first (never their secrets)", body = Vec<WebhookView>),
        (status = 404, description = "Unknown queue", body = Problem, content_type = PROBLEM),
        Refused,
        AdminRefused,
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments(queue): Segments<String>,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let q = admin_queue(&app, &key, &queue).await?;
    let list = q.webhooks().await?;
    Ok(Json(list.into_iter().map(WebhookView::of).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/webhooks",
    tag = "webhooks",
    params(("queue" = String, Path, description = "The queue (the API key's own)")),
    request_body = WebhookRequest,
    responses(
        (status = 201, description = "Added: its id and secret (shown only now)", body = WebhookSecret),
        (status = 404, description = "Unknown queue", body = Problem, content_type = PROBLEM),
        (status = 422, description = "An invalid field, or the URL refused by the SSRF guard (the rule named)", body = Problem, content_type = PROBLEM),
        Refused,
        AdminRefused,
        BodyRefused,
    ),
    security(("bearer" = []))
)]
pub async fn add(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments(queue): Segments<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // The key's queue and scope before the body: a refused key learns nothing from it.
    let q = admin_queue(&app, &key, &queue).await?;
    let body = body::read(body)?;
    let req: WebhookRequest = serde_json::from_value(body::json_body(&headers, &body)?)
        .map_err(|_| {
            ApiError::new(
                Kind::InvalidRequest,
                "the body must be {\"url\": string, \"events\": [string], \"full\": boolean} (url required)",
            )
        })?;
    let events = req
        .events
        .iter()
        .map(|e| EventType::parse(e))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            ApiError::new(
                Kind::InvalidRequest,
                "unknown event (expected job.completed, job.dead or job.retrying)",
            )
            .field("events")
        })?;
    let allow = &app.hub.settings.webhooks.allow_insecure_hosts;
    let new = NewEndpoint {
        url: req.url,
        events,
        full: req.full,
    };
    let e = q.webhook_add(new, allow).await.map_err(|e| match e {
        // The SSRF guard's refusal (or a URL that is none): its rule, as okra-admin prints it.
        QueueError::Config(m) if m.contains("webhook URL") || m.contains("webhook host") => {
            ApiError::new(Kind::InvalidRequest, m).field("url")
        }
        QueueError::Config(m) => ApiError::new(Kind::InvalidRequest, m),
        other => other.into(),
    })?;
    let answer = WebhookSecret {
        id: e.id,
        secret: e.secret,
    };
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

#[utoipa::path(
    delete,
    path = "/v1/queues/{queue}/webhooks/{id}",
    tag = "webhooks",
    params(
        ("queue" = String, Path, description = "The queue (the API key's own)"),
        ("id" = String, Path, description = "The endpoint's id"),
    ),
    responses(
        (status = 204, description = "Removed: its pending deliveries send nothing"),
        (status = 404, description = "Unknown queue or endpoint", body = Problem, content_type = PROBLEM),
        Refused,
        AdminRefused,
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments((queue, id)): Segments<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let q = admin_queue(&app, &key, &queue).await?;
    own(&q, &id).await?;
    if !q.webhook_remove(&id).await? {
        return Err(unknown());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/queues/{queue}/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(
        ("queue" = String, Path, description = "The queue (the API key's own)"),
        ("id" = String, Path, description = "The endpoint's id"),
    ),
    responses(
        (status = 200, description = "A new secret (shown only now); both the old and the new one sign for 24 hours", body = WebhookSecret),
        (status = 404, description = "Unknown queue or endpoint", body = Problem, content_type = PROBLEM),
        Refused,
        AdminRefused,
    ),
    security(("bearer" = []))
)]
pub async fn rotate(
    State(app): State<Shared>,
    Extension(key): Extension<Arc<ApiKey>>,
    Segments((queue, id)): Segments<(String, String)>,
) -> Result<Json<WebhookSecret>, ApiError> {
    let q = admin_queue(&app, &key, &queue).await?;
    own(&q, &id).await?;
    let e = q.webhook_rotate(&id).await?.ok_or_else(unknown)?;
    Ok(Json(WebhookSecret {
        id: e.id,
        secret: e.secret,
    }))
}
