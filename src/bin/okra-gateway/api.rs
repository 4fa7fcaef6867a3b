//! The OpenAPI 3.1 document, generated from the handlers' annotations and the types they
//! take and answer (utoipa), and the probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::Shared;
use crate::body::{BatchRequest, EnqueueRequest};
use crate::jobs::{Accepted, BatchItem, BatchResponse, FailureView, JobView};
use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "okra-gateway",
        description = "Enqueue identity-verification jobs and read their results over HTTP. Every /v1 request needs `Authorization: Bearer <API key>` (okra-admin api-key create). Errors are RFC 9457 problem details (application/problem+json) with a stable `type`."
    ),
    paths(
        crate::jobs::enqueue,
        crate::jobs::batch,
        crate::jobs::show,
        crate::jobs::cancel,
        healthz,
        readyz
    ),
    components(schemas(
        EnqueueRequest,
        BatchRequest,
        Accepted,
        BatchItem,
        BatchResponse,
        JobView,
        FailureView,
        Problem,
        Health
    )),
    modifiers(&Bearer),
    tags((name = "jobs", description = "Jobs of the API key's queue"), (name = "probes", description = "Liveness and readiness"))
)]
pub struct Doc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// `GET /openapi.json`
pub async fn openapi() -> Response {
    let mut r = Doc::openapi().to_json().unwrap_or_default().into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    r
}

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or why not.
    pub status: String,
}

#[utoipa::path(get, path = "/healthz", tag = "probes",
    responses((status = 200, description = "The process serves", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

#[utoipa::path(get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Redis answers", body = Health),
        (status = 503, description = "Redis does not answer", body = Health),
    ))]
pub async fn readyz(State(app): State<Shared>) -> Response {
    let ready = match app.hub.base().await {
        Ok(q) => q.rdb().ping().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.1.detail),
    };
    match ready {
        Ok(()) => Json(Health {
            status: "ok".into(),
        })
        .into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(axum::http::header::RETRY_AFTER, "2")],
            Json(Health {
                status: format!("not ready: {why}"),
            }),
        )
            .into_response(),
    }
}
