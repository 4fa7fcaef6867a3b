//! The webhooks page of a queue: its endpoints (never their secrets) with a remove button,
//! the deliveries waiting, the recent ones, those being retried, and the failures (the
//! companion queue's dead letters, which its own dead-letter pages requeue).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use okra_queue::webhooks::{Delivered, Delivery, Reference, companion};
use okra_queue::{DeadFilter, JobFilter, JobState, Queue};

use super::{Nothing, Posted, acting, failed, queue};
use crate::output::{ago, cell, when};
use crate::web::Shared;
use crate::web::view::{self, page, post_button};

/// Deliveries shown per list.
const SHOWN: u64 = 20;

/// One delivery job as the page shows it.
struct Row {
    id: String,
    at: Option<u64>,
    attempts: u32,
    last_class: Option<String>,
    reference: Option<Reference>,
    endpoint: String,
    done: Option<Delivered>,
}

async fn rows(d: &Queue, state: JobState) -> okra_queue::Result<Vec<Row>> {
    let filter = JobFilter { state, kind: None };
    let mut out = Vec::new();
    for b in d.jobs(&filter, 1, SHOWN).await?.jobs {
        let rec = d.job(&b.id).await?;
        let delivery = rec
            .as_ref()
            .and_then(|r| serde_json::from_str::<Delivery>(&r.payload).ok());
        out.push(Row {
            reference: delivery.as_ref().and_then(|x| Reference::parse(&x.event)),
            endpoint: delivery.map(|x| x.endpoint).unwrap_or_default(),
            done: rec
                .and_then(|r| r.result)
                .and_then(|v| serde_json::from_value(v).ok()),
            id: b.id,
            at: b.at,
            attempts: b.attempts,
            last_class: b.last_class,
        });
    }
    Ok(out)
}

fn table(queue: &str, deliveries: &str, rows: &[Row], finished: bool) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th { @if finished { "finished" } @else { "due" } }
                th { "event" } th { "job" } th { "endpoint" } th { "attempts" }
                th { @if finished { "answer" } @else { "last failure" } }
                th { "delivery" }
            } }
            tbody { @for r in rows { tr {
                td title=[r.at.map(when)] { (r.at.map(ago).unwrap_or_default()) }
                td { @if let Some(x) = &r.reference { span.tag { (x.event.as_str()) } } }
                td.mono { @if let Some(x) = &r.reference { a href={ "/q/" (queue) "/job/" (x.job_id) } { (x.job_id) } } }
                td.mono { (r.endpoint) }
                td { (r.attempts) }
                td { @if finished {
                    @match &r.done {
                        Some(Delivered { status: Some(s), ms, .. }) => { (s) " in " (ms) " ms" }
                        Some(Delivered { skipped: Some(why), .. }) => { "skipped: " (why) }
                        _ => {}
                    }
                } @else { (r.last_class.clone().unwrap_or_default()) } }
                td.mono { a href={ "/q/" (deliveries) "/job/" (r.id) } { (r.id) } }
            } } }
        } }
    }
}

/// `GET /q/{queue}/webhooks`
pub async fn webhooks(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let endpoints = q.webhooks().await.map_err(|e| failed(&e))?;
    let dname = companion(&name);
    let d = q.sibling(&dname).map_err(|e| failed(&e))?;
    let stats = d.stats().await.map_err(|e| failed(&e))?;
    let (waiting, held) = q.rdb().outbox_sizes().await.map_err(|e| failed(&e))?;
    let recent = rows(&d, JobState::Completed)
        .await
        .map_err(|e| failed(&e))?;
    let retrying = rows(&d, JobState::Scheduled)
        .await
        .map_err(|e| failed(&e))?;
    let dead = d
        .dead_page(&DeadFilter::default(), 1, SHOWN)
        .await
        .map_err(|e| failed(&e))?;
    let csrf = app.guard.csrf();
    Ok(page(
        "Webhooks",
        Some(&name),
        html! {
            h1 { "Webhooks" }
            p.muted { "Standard Webhooks 1.0: each outcome an endpoint takes is a delivery job on " b { (dname) } ", retried on its schedule. Secrets are shown once, by " code { "okra-admin webhook add" } " and " code { "rotate-secret" } "." }
            h2 { "Endpoints" }
            @if endpoints.is_empty() { p.muted { "No endpoints. Add one with " code { "okra-admin webhook add URL --queue " (name) } "." } } @else {
                div.scroll { table {
                    thead { tr { th { "id" } th { "url" } th { "events" } th { "body" } th { "state" } th { "added" } th {} } }
                    tbody { @for e in &endpoints { tr {
                        td.mono { (e.id) }
                        td.mono { (cell(&e.url, 80)) }
                        td { @for ev in &e.events { span.tag { (ev.as_str()) } " " } }
                        td { @if e.full { "full" } @else { "thin" } }
                        td { @match &e.disabled { Some(why) => { span.badge.bad { "disabled: " (why) } } None => { "enabled" } }
                             @if e.previous.is_some() { br; span.muted { "old secret signs until " (when(e.previous_until)) } } }
                        td title=(when(e.created_at)) { (ago(e.created_at)) }
                        td { @if !app.read_only {
                            (post_button(&format!("/q/{name}/webhooks/{}/remove", e.id), csrf, "Remove", Some("Remove this endpoint? Its pending deliveries send nothing."), "danger"))
                        } }
                    } } }
                } }
            }
            h2 { "Deliveries" }
            p {
                b { (stats.ready + stats.scheduled + stats.running) } " pending · "
                b { (stats.succeeded) } " delivered · "
                b { (stats.retried) } " retries · "
                b { (stats.dead) } " failed · "
                b { (waiting + held) } " outcomes not yet forwarded"
            }
            h3 { "Recent" }
            @if recent.is_empty() { p.muted { "None yet." } } @else { (table(&name, &dname, &recent, true)) }
            h3 { "Retrying" }
            @if retrying.is_empty() { p.muted { "None." } } @else { (table(&name, &dname, &retrying, false)) }
            h3 { "Failures" }
            @if dead.is_empty() { p.muted { "None." } } @else {
                (view::letters(&dname, &dead))
                p { a href={ "/q/" (dname) "/dead" } { "All failed deliveries, to requeue or purge" } }
            }
        },
    )
    .into_response())
}

/// `POST /q/{queue}/webhooks/{id}/remove`
pub async fn webhook_remove(
    State(app): State<Shared>,
    Path((name, id)): Path<(String, String)>,
    Posted(_, actor): Posted<Nothing>,
) -> Result<Response, Response> {
    let q = acting(&app, &name, &actor).await?;
    match q.webhook_remove(&id).await {
        Ok(_) => Ok(Redirect::to(&format!("/q/{name}/webhooks")).into_response()),
        Err(e) => Err(failed(&e)),
    }
}
