//! The API keys page of a queue: its keys for the gateway (name, scopes, rate, made when;
//! never a token or its hash) with a revoke button. Keys are made with `okra-admin api-key
//! create`, the only place a token is ever shown.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::{Nothing, Posted, acting, failed, queue};
use crate::output::{ago, when};
use crate::web::Shared;
use crate::web::view::{self, page, post_button};

/// `GET /q/{queue}/api-keys`
pub async fn api_keys(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let mut keys = q.api_keys().await.map_err(|e| failed(&e))?;
    keys.retain(|k| k.queue == name);
    keys.sort_by(|a, b| a.name.cmp(&b.name));
    let csrf = app.guard.csrf();
    Ok(page(
        "API keys",
        Some(&name),
        html! {
            h1 { "API keys" }
            p.muted { "Keys let apps use this queue through " code { "okra-gateway" } ". A key's token is shown once, by " code { "okra-admin api-key create" } "; Redis keeps only its hash. A revoked key stops working on every gateway within a second." }
            @if keys.is_empty() { p.muted { "No API keys. Make one with " code { "okra-admin api-key create NAME --queue " (name) } "." } } @else {
                div.scroll { table {
                    thead { tr { th { "name" } th { "scopes" } th { "rate" } th { "created" } th {} } }
                    tbody { @for k in &keys { tr {
                        td.mono { (k.name) }
                        td { @for s in &k.scopes { span.tag { (s) } " " } }
                        td { (k.rate) " / s" }
                        td title=(when(k.created_at)) { (ago(k.created_at)) }
                        td { @if !app.read_only {
                            (post_button(&format!("/q/{name}/api-keys/{}/revoke", k.name), csrf, "Revoke", Some("Revoke this API key? Apps using it are refused from now on."), "danger"))
                        } }
                    } } }
                } }
            }
        },
    )
    .into_response())
}

/// `POST /q/{queue}/api-keys/{key}/revoke`: only a key of this queue (the library revokes a
/// key of any queue by name).
pub async fn api_key_revoke(
    State(app): State<Shared>,
    Path((name, key)): Path<(String, String)>,
    Posted(_, actor): Posted<Nothing>,
) -> Result<Response, Response> {
    let q = acting(&app, &name, &actor).await?;
    let keys = q.api_keys().await.map_err(|e| failed(&e))?;
    if !keys.iter().any(|k| k.name == key && k.queue == name) {
        return Err(view::error(
            StatusCode::NOT_FOUND,
            "No API key of that name on this queue.",
        ));
    }
    match q.api_key_revoke(&key).await {
        Ok(_) => Ok(Redirect::to(&format!("/q/{name}/api-keys")).into_response()),
        Err(e) => Err(failed(&e)),
    }
}
