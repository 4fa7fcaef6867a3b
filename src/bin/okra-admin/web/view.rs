//! The pages' shared look: the layout, the error page, and the pieces several pages show (a
//! job's record, a table of dead letters, a form that posts with the CSRF token). Everything
//! shown is masked (identifiers to their last four digits, names to initials, birth date,
//! gender, address and e-mail hidden, idempotency keys too); the dashboard has no reveal
//! (`okra-admin job show --reveal` is the audited way).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use okra_queue::okra::mask;
use okra_queue::{DeadLetter, Failure, JobRecord};

use crate::output::{ago, cell, millis, when};

/// The CSRF token of the log-out button, set once at start when the dashboard has a token.
pub static LOGOUT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A whole page. `queue` puts the queue's sections in the navigation.
pub fn page(title: &str, queue: Option<&str>, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " · okra-queue" }
                    link rel="stylesheet" href="/static/app.css";
                    script src="/static/app.js" defer {}
                }
                body {
                    header.top {
                        a.brand href="/" { "okra-queue" }
                        nav {
                            a href="/" { "Overview" }
                            a href="/audit" { "Audit" }
                            @if let Some(q) = queue {
                                a href={ "/q/" (q) "/dead" } { "Dead letters" }
                                a href={ "/q/" (q) "/jobs?state=ready" } { "Jobs" }
                                a href={ "/q/" (q) "/find" } { "Find" }
                                a href={ "/q/" (q) "/webhooks" } { "Webhooks" }
                                a href={ "/q/" (q) "/api-keys" } { "API keys" }
                                span.queue { "queue " b { (q) } }
                            }
                            @if let Some(csrf) = LOGOUT.get() {
                                (post_button("/logout", csrf, "Log out", None, "logout"))
                            }
                        }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

/// An error page with the right status.
pub fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        page(
            "Error",
            None,
            html! { h1 { (status.canonical_reason().unwrap_or("Error")) } p.flash.bad { (message) } p { a href="/" { "Back to the overview" } } },
        ),
    )
        .into_response()
}

/// A button that POSTs to `action` with the CSRF token; `confirm` asks first (app.js).
pub fn post_button(
    action: &str,
    csrf: &str,
    label: &str,
    confirm: Option<&str>,
    class: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=[confirm] {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" class=(class) { (label) }
        }
    }
}

pub fn masked(text: &str) -> String {
    mask::mask_text(text)
}

pub fn masked_json(text: &str) -> String {
    mask::mask_json_text(text)
}

/// A table of dead letters, each linking to its record.
pub fn letters(queue: &str, letters: &[DeadLetter]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr { th { "id" } th { "died" } th { "kind" } th { "class" } th { "http" } th { "type" } th { "attempts" } th { "message" } } }
            tbody {
                @for l in letters {
                    tr {
                        td.mono { a href={ "/q/" (queue) "/dead/" (l.id) } { (l.id) } }
                        td title=(when(l.died_at)) { (ago(l.died_at)) }
                        td { (masked(&l.kind)) }
                        td { span.tag { (l.class) } }
                        td { (l.http_status.map(|s| s.to_string()).unwrap_or_default()) }
                        td { (l.okra_type.clone().unwrap_or_default()) }
                        td { (l.attempts) "/" (l.max_attempts) }
                        td { (cell(&masked(&l.message), 90)) }
                    }
                }
            }
        } }
    }
}

fn failure(f: &Failure) -> Markup {
    html! {
        dl.record {
            dt { "class" } dd { span.tag { (f.class) } @if let Some(r) = &f.reason { " (" (r) ")" } }
            @if let Some(s) = f.http_status { dt { "HTTP" } dd { (s) } }
            @if let Some(t) = &f.error_type { dt { "Okra type" } dd { (t) } }
            @if let Some(c) = &f.code { dt { "code" } dd { (c) } }
            @if let Some(m) = &f.method { dt { "method" } dd { (m) } }
            dt { "message" } dd { (masked(&f.message)) }
            @if let Some(b) = &f.body { dt { "Okra said" } dd { pre { (cell(&masked_json(b), 4000)) } } }
        }
    }
}

/// A job's whole record: state, budget, times, masked payload, last failure, history, result.
pub fn record(rec: &JobRecord) -> Markup {
    let m = &rec.meta;
    html! {
        dl.record {
            dt { "id" } dd.mono { (rec.id) }
            dt { "state" } dd { span class={ "state " (rec.state) } { (rec.state) } }
            dt { "kind" } dd { (masked(&m.kind)) }
            dt { "attempts" } dd { (rec.attempts) " of " (rec.max_attempts) @if m.requeues > 0 { " (requeued " (m.requeues) ")" } }
            dt { "created" } dd { (when(m.created_at)) " (" (ago(m.created_at)) ")" }
            @if let Some(t) = rec.due_at { dt { "due" } dd { (when(t)) " (" (ago(t)) ")" } }
            @if let Some(t) = rec.lease_until { dt { "running" } dd { "on " (rec.worker.clone().unwrap_or_default()) ", lease until " (when(t)) } }
            @if let Some(t) = rec.finished_at { dt { "finished" } dd { (when(t)) " (" (ago(t)) ")" } }
            @if let Some(t) = rec.died_at { dt { "died" } dd { (when(t)) " (" (ago(t)) ")" } }
            @if let Some(k) = &m.idempotency_key { dt { "idempotency key" } dd.mono { (mask::mask_id(k)) } }
            dt { "payload" } dd { pre { (masked_json(&rec.payload)) } }
        }
        @if let Some(f) = &rec.last_error { h2 { "Last failure" } (failure(f)) }
        h2 { "History" }
        @if rec.history.is_empty() { p.muted { "No attempt finished yet." } } @else {
            div.scroll { table {
                thead { tr { th { "#" } th { "at" } th { "outcome" } th { "class" } th { "http" } th { "type" } th { "took" } th { "next in" } th { "worker" } th { "message" } } }
                tbody { @for h in &rec.history { tr {
                    td { @if h.attempt > 0 { (h.attempt) } @else { "-" } }
                    td { (when(h.at)) }
                    td { (h.outcome) }
                    td { (h.class.clone().unwrap_or_default()) }
                    td { (h.http_status.map(|s| s.to_string()).unwrap_or_default()) }
                    td { (h.error_type.clone().unwrap_or_default()) }
                    td { (h.duration_ms.map(millis).unwrap_or_default()) }
                    td { (h.retry_in_ms.map(millis).unwrap_or_default()) }
                    td.mono { (h.worker.clone().unwrap_or_default()) }
                    td { (cell(&masked(h.message.as_deref().unwrap_or("")), 120)) }
                } } }
            } }
        }
        @if let Some(r) = &rec.result {
            h2 { "Result" }
            pre { (masked_json(&r.to_string())) }
        }
    }
}
