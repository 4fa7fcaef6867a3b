//! Every error the gateway answers, as RFC 9457 problem details (`application/problem+json`):
//! a stable `type` per error (what a client branches on), a `title` per type, and a `detail`
//! for this occurrence that names the field and the rule, never a value from the request (a
//! job carries a person's identifier).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use okra_queue::QueueError;
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// Every problem type, with its status and title. The `type` member is `/problems/<slug>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MalformedJson,
    Unauthorized,
    Forbidden,
    CrossSite,
    NotFound,
    WebhookNotFound,
    UnknownQueue,
    NoRoute,
    MethodNotAllowed,
    WrongState,
    TooLarge,
    UnsupportedMediaType,
    MisdirectedHost,
    InvalidRequest,
    InvalidJob,
    IdempotencyConflict,
    RateLimited,
    HeadersTooLarge,
    Internal,
    Unavailable,
    NotDurable,
}

impl Kind {
    pub fn slug(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed-json",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::CrossSite => "cross-site",
            Self::NotFound => "job-not-found",
            Self::WebhookNotFound => "webhook-not-found",
            Self::UnknownQueue => "unknown-queue",
            Self::NoRoute => "no-route",
            Self::MethodNotAllowed => "method-not-allowed",
            Self::WrongState => "wrong-state",
            Self::TooLarge => "body-too-large",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::MisdirectedHost => "misdirected-host",
            Self::InvalidRequest => "invalid-request",
            Self::InvalidJob => "invalid-job",
            Self::IdempotencyConflict => "idempotency-conflict",
            Self::RateLimited => "rate-limited",
            Self::HeadersTooLarge => "headers-too-large",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::NotDurable => "not-durable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::MalformedJson => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::CrossSite => StatusCode::FORBIDDEN,
            Self::NotFound | Self::WebhookNotFound | Self::UnknownQueue | Self::NoRoute => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::WrongState => StatusCode::CONFLICT,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MisdirectedHost => StatusCode::MISDIRECTED_REQUEST,
            Self::InvalidRequest | Self::InvalidJob | Self::IdempotencyConflict => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable | Self::NotDurable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Self::MalformedJson => "The body is not JSON",
            Self::Unauthorized => "A valid API key is needed",
            Self::Forbidden => "The API key may not do this",
            Self::CrossSite => "Refused: the request came from another site",
            Self::NotFound => "No such job",
            Self::WebhookNotFound => "No such webhook endpoint",
            Self::UnknownQueue => "No such queue",
            Self::NoRoute => "No such route",
            Self::MethodNotAllowed => "Method not allowed on this route",
            Self::WrongState => "The job is not in a state that allows this",
            Self::TooLarge => "The body is too large",
            Self::UnsupportedMediaType => "The body must be application/json",
            Self::MisdirectedHost => "This server does not answer to that Host",
            Self::InvalidRequest => "The request is not valid",
            Self::InvalidJob => "The job is not valid",
            Self::IdempotencyConflict => "The idempotency key was used with another body",
            Self::RateLimited => "Too many requests for this API key",
            Self::HeadersTooLarge => "The request's headers are too large",
            Self::Internal => "Internal error",
            Self::Unavailable => "The queue's store is unavailable; retry later",
            Self::NotDurable => "Written, but not confirmed at the configured durability",
        }
    }
}

/// A problem details object (RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// Stable identifier of the error: `/problems/<slug>`.
    #[serde(rename = "type")]
    #[schema(example = "/problems/invalid-job")]
    pub kind: String,
    /// Short summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// This occurrence: the field and the rule it breaks (never a value from the request).
    pub detail: String,
    /// The request field at fault, when there is one (`job`, `delay`, `wait`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before retrying (as `Retry-After`), on 429 and 503.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// On `not-durable`, the job that was written (it may be lost if Redis's primary fails
    /// now); on `unavailable`, a job sent whose fate is unknown. Look it up before enqueueing
    /// it again without an idempotency key.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "01JD7Q2X8M4W3T5V6B9C0N1P2R")]
    pub id: Option<String>,
}

/// A problem as an answer: the body plus, on 429/503, `Retry-After` and on 401
/// `WWW-Authenticate`.
#[derive(Debug)]
pub struct ApiError(pub Kind, pub Box<Problem>);

impl ApiError {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self(
            kind,
            Box::new(Problem {
                kind: format!("/problems/{}", kind.slug()),
                title: kind.title().into(),
                status: kind.status().as_u16(),
                detail: detail.into(),
                field: None,
                retry_after: None,
                id: None,
            }),
        )
    }

    /// The field at fault.
    pub fn field(mut self, field: &str) -> Self {
        self.1.field = Some(field.into());
        self
    }

    /// Waits `d` (whole seconds, at least 1) before a retry.
    pub fn retry_after(mut self, d: Duration) -> Self {
        self.1.retry_after = Some(okra_queue::http_guard::retry_after_secs(d).max(1));
        self
    }

    /// Job `id` was written but not confirmed at `redis.durability`: 503 with its id, so a
    /// caller without an idempotency key looks it up instead of writing it twice.
    pub fn not_durable(id: String) -> Self {
        Self::about_job(
            Kind::NotDurable,
            "the job was written (its id is `id`) but not confirmed at the configured durability; look it up before enqueueing it again, or retry with the same Idempotency-Key",
            id,
        )
    }

    /// Job `id` was sent, and Redis stopped answering before it could be told whether it was
    /// written: 503 with its id, to look up once Redis answers.
    pub fn unknown_fate(id: String) -> Self {
        Self::about_job(
            Kind::Unavailable,
            "the job was sent (its id is `id`) but Redis stopped answering before it could be checked: look it up once Redis answers, before enqueueing it again",
            id,
        )
    }

    /// A 503 that names the job it is about, retried in a few seconds.
    fn about_job(kind: Kind, detail: &str, id: String) -> Self {
        let mut e = Self::new(kind, detail).retry_after(Duration::from_secs(2));
        e.1.id = Some(id);
        e
    }

    /// The queue is not in the registry: 404 (nothing is made for it).
    pub fn unknown_queue() -> Self {
        Self::new(Kind::UnknownQueue, "the queue is not in the registry")
    }

    /// Redis could not be reached or did not answer: 503, retry in a few seconds.
    pub fn unavailable() -> Self {
        Self::new(
            Kind::Unavailable,
            "the queue's Redis did not answer; nothing was done unless an id was returned",
        )
        .retry_after(Duration::from_secs(2))
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotFound(_) => Self::new(Kind::NotFound, "no job with this id in this queue"),
            QueueError::UnknownQueue { .. } => Self::unknown_queue(),
            QueueError::InvalidJob(m) => Self::new(Kind::InvalidJob, m).field("job"),
            QueueError::WrongState { state, hint, .. } => {
                Self::new(Kind::WrongState, format!("the job is {state}: {hint}"))
            }
            QueueError::Unconfirmed { mut ids, .. } if ids.len() == 1 => {
                Self::not_durable(ids.pop().unwrap_or_default())
            }
            QueueError::Unconfirmed { .. } | QueueError::NotDurable(_) => Self::new(
                Kind::Unavailable,
                "the write was not confirmed at the configured durability; retry with the same Idempotency-Key",
            )
            .retry_after(Duration::from_secs(2)),
            QueueError::Redis(_) | QueueError::Connect { .. } | QueueError::Timeout(_) => {
                Self::unavailable()
            }
            QueueError::PartialEnqueue(_) => Self::unavailable(),
            other => {
                tracing::error!(error = %other, "request failed");
                Self::new(Kind::Internal, "the request failed; see the gateway's log")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (kind, problem) = (self.0, self.1);
        let retry = problem.retry_after;
        let body = serde_json::to_vec(&*problem).unwrap_or_default();
        let mut r = (kind.status(), body).into_response();
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = retry {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if kind == Kind::Unauthorized {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"okra-gateway\""),
            );
        }
        r
    }
}

/// The media type of every refusal.
pub const PROBLEM: &str = "application/problem+json";

/// What every route can refuse with, in its OpenAPI entry (`responses(..., Refused)`): the
/// front door's checks (`guard::front_door`) and the key's; each route lists its own 403, 404,
/// 422 and 503, whose reasons differ.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum Refused {
    #[response(
        status = 401,
        description = "No valid API key",
        content_type = "application/problem+json"
    )]
    NoKey(Problem),
    #[response(
        status = 413,
        description = "A body over gateway.max_body: declared so (refused unread), or grown past it while read",
        content_type = "application/problem+json"
    )]
    TooLarge(Problem),
    #[response(
        status = 421,
        description = "A Host that names another server",
        content_type = "application/problem+json"
    )]
    Misdirected(Problem),
    #[response(
        status = 429,
        description = "Over the key's rate",
        content_type = "application/problem+json"
    )]
    OverRate(Problem),
    #[response(
        status = 431,
        description = "Request headers over 16 KiB",
        content_type = "application/problem+json"
    )]
    HeadersTooLarge(Problem),
}

/// What every route that takes a JSON body can also refuse with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum BodyRefused {
    #[response(
        status = 400,
        description = "Malformed JSON",
        content_type = "application/problem+json"
    )]
    Malformed(Problem),
    #[response(
        status = 415,
        description = "Not application/json",
        content_type = "application/problem+json"
    )]
    NotJson(Problem),
}
