//! The audit trail: operator changes in every queue, newest first.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::failed;
use crate::output::{ago, cell, parse_time_ago, when};
use crate::web::Shared;
use crate::web::view::{self, page};

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    since: String,
}

/// `GET /audit?since=7d`
pub async fn audit(
    State(app): State<Shared>,
    Query(a): Query<AuditQuery>,
) -> Result<Response, Response> {
    let since_text = if a.since.trim().is_empty() {
        "1d"
    } else {
        a.since.trim()
    };
    let since = parse_time_ago(since_text)
        .map_err(|e| view::error(axum::http::StatusCode::BAD_REQUEST, &e))?;
    let entries = app
        .base
        .audit_log(SystemTime::UNIX_EPOCH + Duration::from_millis(since), 500)
        .await
        .map_err(|e| failed(&e))?;
    Ok(page(
        "Audit",
        None,
        html! {
            h1 { "Audit trail" }
            form.filters method="get" action="/audit" {
                label { "since" input name="since" value=(since_text) placeholder="1d, 7d, or an RFC 3339 time"; }
                button type="submit" { "Show" }
            }
            p.muted { "Operator changes in every queue, newest first (the last 500 since " (when(since)) "). Identifiers never appear: a person is a keyed hash. Failed logins are summarised once per window (actor unauthenticated)." }
            @if app.guard.needs_login() {
                p.muted data-failed-logins=(app.logins.failed_total.load(Ordering::Relaxed)) {
                    "Since this dashboard started: "
                    b { (app.logins.failed_total.load(Ordering::Relaxed)) } " failed logins, "
                    b { (app.logins.refused_total.load(Ordering::Relaxed)) } " refused by the login rate limit."
                }
            }
            @if entries.is_empty() { p.flash { "No operator changes in that time." } } @else {
                div.scroll { table.audit {
                    thead { tr { th { "at" } th { "actor" } th { "action" } th { "queue" } th { "filter" } th { "counts" } th { "result" } } }
                    tbody { @for e in &entries { tr {
                        td title=(when(e.at)) { (ago(e.at)) }
                        td { (e.actor) }
                        td { span.tag { (e.action) } }
                        td { (e.queue) }
                        td.mono { (cell(&view::masked(&e.filter), 80)) }
                        td { @if let serde_json::Value::Object(m) = &e.counts {
                            @for (k, v) in m.iter().filter(|(_, v)| v.as_u64() != Some(0)) { (k) "=" (v) " " }
                        } }
                        td { (cell(&view::masked(&e.result), 80)) }
                    } } }
                } }
            }
        },
    )
    .into_response())
}
