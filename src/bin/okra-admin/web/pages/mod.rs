//! The dashboard's pages and actions, one file per page: the overview with its controls, the
//! dead letters, the jobs, find, erasing a person, the audit trail, webhooks. Reads go through the same library calls as the CLI (the
//! dead-letter index for filters, pages and counts); every action arrives as a [`Posted`] form,
//! which cannot reach a handler without the CSRF token or on a read-only dashboard.

mod audit;
mod dead;
mod erase;
mod find;
mod jobs;
mod overview;
mod webhooks;

pub use audit::audit;
pub use dead::{dead_bulk, dead_confirm, dead_list, dead_show, dead_summary};
pub use erase::{erase, erase_confirm};
pub use find::{find, find_form};
pub use jobs::{job_show, jobs_list, one_job};
pub use overview::{control, overview, overview_fragment};
pub use webhooks::{webhook_remove, webhooks};

use std::fmt::Write as _;

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;
use okra_queue::{Queue, QueueError};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Shared;
use super::guard::Actor;
use super::view;

/// Dead letters or jobs per page.
pub(super) const PAGE: u64 = 50;

/// A POSTed form that changes something: let through only with the right CSRF token and when
/// the dashboard may act, with who sent it (the token's name, for the audit trail).
pub struct Posted<T>(pub T, pub String);

/// A POSTed form that only reads (find: what is typed stays out of URLs), let through with the
/// right CSRF token, read-only or not.
pub struct Checked<T>(pub T, pub String);

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    inner: T,
}

impl<T: DeserializeOwned + Send> FromRequest<Shared> for Checked<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Shared) -> Result<Self, Response> {
        let actor = req
            .extensions()
            .get::<Actor>()
            .map_or_else(|| app.base.actor(), |a| a.0.clone());
        let axum::Form(form) = axum::Form::<WithCsrf<T>>::from_request(req, app)
            .await
            .map_err(|e| view::error(StatusCode::BAD_REQUEST, &view::masked(&e.body_text())))?;
        app.guard.check_csrf(&form.csrf)?;
        Ok(Self(form.inner, actor))
    }
}

impl<T: DeserializeOwned + Send> FromRequest<Shared> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Shared) -> Result<Self, Response> {
        if app.read_only {
            return Err(view::error(
                StatusCode::FORBIDDEN,
                "This dashboard is read-only (--read-only): it changes nothing.",
            ));
        }
        let Checked(form, actor) = Checked::<T>::from_request(req, app).await?;
        Ok(Self(form, actor))
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

/// The queue named in the path, if it exists.
pub(super) async fn queue(app: &Shared, name: &str) -> Result<Queue, Response> {
    let q = app
        .base
        .sibling(name)
        .map_err(|e| view::error(StatusCode::BAD_REQUEST, &e.to_string()))?;
    q.ensure_known().await.map_err(|e| failed(&e))?;
    Ok(q)
}

/// The queue named in the path, acting as `actor` (its changes are audited under that name).
pub(super) async fn acting(app: &Shared, name: &str, actor: &str) -> Result<Queue, Response> {
    Ok(queue(app, name).await?.acting_as(actor))
}

pub(super) fn failed(e: &QueueError) -> Response {
    let status = match e {
        QueueError::NotFound(_) | QueueError::UnknownQueue { .. } => StatusCode::NOT_FOUND,
        QueueError::WrongState { .. } | QueueError::NotEmpty(_) => StatusCode::CONFLICT,
        QueueError::Config(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    };
    view::error(status, &view::masked(&e.to_string()))
}

/// Percent-encodes a query value.
pub(super) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
