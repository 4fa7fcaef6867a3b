//! The overview (every queue, live, and what the Okra account spent) and the queue controls
//! (pause, resume, unthrottle).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use okra_queue::rdb::{Minute, SpendRow, utc_day};
use okra_queue::{QueueError, Stats};

use super::{Nothing, Posted, acting, failed};
use crate::output::millis;
use crate::web::Shared;
use crate::web::view::{self, page, post_button};

pub async fn overview(State(app): State<Shared>) -> Response {
    match overview_body(&app).await {
        Ok(body) => page(
            "Overview",
            Some(app.base.name()),
            html! {
                h1 { "Queues" }
                div data-refresh="/fragment/overview" { (body) }
            },
        )
        .into_response(),
        Err(e) => failed(&e),
    }
}

pub async fn overview_fragment(State(app): State<Shared>) -> Response {
    match overview_body(&app).await {
        Ok(body) => axum::response::Html(body.into_string()).into_response(),
        Err(e) => failed(&e),
    }
}

async fn overview_body(app: &Shared) -> Result<Markup, QueueError> {
    let mut rows = Vec::new();
    for name in app.base.queues().await? {
        let q = app.base.sibling(&name)?;
        rows.push((q.stats().await?, q.throughput(60).await?));
    }
    let spend = match app.base.account() {
        Some(a) => Some((a.name().to_string(), a.spend(30).await?)),
        None => None,
    };
    let csrf = app.guard.csrf();
    Ok(html! {
        @if let Some((account, rows)) = &spend { (spend_block(account, rows)) }
        @if rows.is_empty() {
            p.muted { "No queues yet: a queue appears when a job is first enqueued to it or a worker starts on it." }
        }
        @for (s, minutes) in &rows {
            section.queue-card id={ "queue-" (s.queue) } {
                header {
                    h2 { (s.queue) }
                    (status_badge(s))
                    span.muted { (s.workers) " live worker" @if s.workers != 1 { "s" } }
                    @if s.latency_ms > 0 { span.muted { " · oldest ready job waiting " (millis(s.latency_ms)) } }
                }
                div.counts {
                    (count_link(&s.queue, "ready", s.ready, "jobs?state=ready"))
                    (count_link(&s.queue, "scheduled", s.scheduled, "jobs?state=scheduled"))
                    (count_link(&s.queue, "running", s.running, "jobs?state=running"))
                    (count_link(&s.queue, "dead", s.dead, "dead"))
                    (count_link(&s.queue, "completed", s.completed, "jobs?state=completed"))
                    (count_link(&s.queue, "cancelled", s.cancelled, "jobs?state=cancelled"))
                }
                (chart(minutes))
                @if !app.read_only {
                    div.actions {
                        @if s.paused {
                            (post_button(&format!("/q/{}/resume", s.queue), csrf, "Resume", None, "primary"))
                        } @else {
                            (post_button(&format!("/q/{}/pause", s.queue), csrf, "Pause", Some("Pause the queue? Running jobs finish; nothing new starts."), ""))
                        }
                        @if s.throttled_ms > 0 {
                            (post_button(&format!("/q/{}/unthrottle", s.queue), csrf, "Lift the throttle", None, ""))
                        }
                    }
                }
            }
        }
    })
}

/// Today's and the last 30 days' Okra spend of the account, from its ledger.
fn spend_block(account: &str, rows: &[SpendRow]) -> Markup {
    let today = utc_day(okra_queue::job::now_ms());
    let sum = |today_only: bool| {
        rows.iter().filter(|r| !today_only || r.day == today).fold(
            SpendRow::default(),
            |mut t, r| {
                t.paid += r.paid;
                t.uncertain += r.uncertain;
                t.saved_lookup += r.saved_lookup;
                t.saved_reuse += r.saved_reuse;
                t.credits += r.credits;
                t
            },
        )
    };
    let row = |label: &str, r: SpendRow| {
        html! {
            tr {
                th { (label) }
                td.n data-spend=(label) { (r.paid) }
                td.n { (r.uncertain) }
                td.n { (r.saved_lookup + r.saved_reuse) " (" (r.saved_lookup) " lookup, " (r.saved_reuse) " reuse)" }
                td.n { (format!("{:.2}", r.credits)) }
            }
        }
    };
    html! {
        section.spend {
            h2 { "Okra spend · account " (account) }
            table {
                thead { tr { th {} th { "paid calls" } th { "uncertain" } th { "saved" } th { "credits" } } }
                tbody {
                    (row("today", sum(true)))
                    (row("last 30 days", sum(false)))
                }
            }
            p.muted { "Paid: verifies Okra answered with success. Uncertain: answers that never came (the next attempt looks first). Saved: paid calls avoided by a free lookup or by reusing a profile paid for within okra.reuse_window. UTC days; " code { "okra-admin spend" } " has the detail." }
        }
    }
}

fn status_badge(s: &Stats) -> Markup {
    html! {
        @if s.paused {
            span.badge.bad data-state="paused" { "paused: " (s.pause_reason.clone().unwrap_or_else(|| "paused by an operator".into())) }
        } @else if s.throttled_ms > 0 {
            span.badge.warn data-state="throttled" { "throttled for " (millis(s.throttled_ms)) " (Okra rate limit)" }
        } @else {
            span.badge.good data-state="running" { "running" }
        }
    }
}

fn count_link(queue: &str, label: &str, n: u64, path: &str) -> Markup {
    html! {
        a.count href={ "/q/" (queue) "/" (path) } data-count=(label) {
            span.n { (n) } span.label { (label) }
        }
    }
}

/// Attempts per minute over the last hour as bars (failed ones on top, in red), in SVG.
fn chart(minutes: &[Minute]) -> Markup {
    let top = minutes
        .iter()
        .map(|m| m.processed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (total, failed): (u64, u64) = minutes
        .iter()
        .fold((0, 0), |(t, f), m| (t + m.processed, f + m.failed));
    let h = 40.0;
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (minutes.len() * 4) " 40" } preserveAspectRatio="none" role="img" aria-label="attempts per minute, last hour" {
                @for (i, m) in minutes.iter().enumerate() {
                    @let ok = (m.processed - m.failed.min(m.processed)) as f64 / top * h;
                    @let bad = m.failed.min(m.processed) as f64 / top * h;
                    rect.ok x=(i * 4) y=(format!("{:.1}", h - ok)) width="3" height=(format!("{:.1}", ok)) {}
                    rect.fail x=(i * 4) y=(format!("{:.1}", h - ok - bad)) width="3" height=(format!("{:.1}", bad)) {}
                }
            }
            figcaption { "last hour: " b { (total) } " attempts, " b { (failed) } " failed · busiest minute " (top as u64) }
        }
    }
}

// ---------------------------------------------------------------- controls

/// `POST /q/{queue}/{pause|resume|unthrottle}`, then back to the overview.
pub async fn control(
    State(app): State<Shared>,
    Path((name, action)): Path<(String, String)>,
    Posted(_, actor): Posted<Nothing>,
) -> Result<Response, Response> {
    let q = acting(&app, &name, &actor).await?;
    let done = match action.as_str() {
        "pause" => q.pause().await,
        "resume" => q.resume().await,
        "unthrottle" => q.unthrottle().await.map(|_| ()),
        other => {
            return Err(view::error(
                StatusCode::NOT_FOUND,
                &format!("there is no control `{other}`"),
            ));
        }
    };
    Ok(match done {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => failed(&e),
    })
}
