//! The dashboard's pages and actions. Reads go through the same library calls as the CLI (the
//! dead-letter index for filters, pages and counts); every action arrives as a [`Posted`] form,
//! which cannot reach a handler without the CSRF token or on a read-only dashboard.

use std::fmt::Write as _;

use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use okra_queue::ident::IdType;
use okra_queue::rdb::{JobBrief, Minute};
use okra_queue::{DeadFilter, JobFilter, JobState, Queue, QueueError, RequeueAt, Stats};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::Shared;
use super::view::{self, page, post_button};
use crate::output::{ago, brief_when, millis, parse_time_ago};

/// Dead letters or jobs per page.
const PAGE: u64 = 50;

/// A POSTed form, let through only with the right CSRF token and when the dashboard may act.
pub struct Posted<T>(pub T);

#[derive(Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    inner: T,
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
        let axum::Form(form) = axum::Form::<WithCsrf<T>>::from_request(req, app)
            .await
            .map_err(|e| view::error(StatusCode::BAD_REQUEST, &e.body_text()))?;
        app.guard.check_csrf(&form.csrf)?;
        Ok(Self(form.inner))
    }
}

#[derive(Deserialize)]
pub struct Nothing {}

/// The queue named in the path, if it exists.
async fn queue(app: &Shared, name: &str) -> Result<Queue, Response> {
    let q = app
        .base
        .sibling(name)
        .map_err(|e| view::error(StatusCode::BAD_REQUEST, &e.to_string()))?;
    q.ensure_known().await.map_err(|e| failed(&e))?;
    Ok(q)
}

fn failed(e: &QueueError) -> Response {
    let status = match e {
        QueueError::NotFound(_) | QueueError::UnknownQueue { .. } => StatusCode::NOT_FOUND,
        QueueError::WrongState { .. } | QueueError::NotEmpty(_) => StatusCode::CONFLICT,
        QueueError::Config(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    };
    view::error(status, &view::masked(&e.to_string()))
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
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

// ---------------------------------------------------------------- overview

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
    let csrf = app.guard.csrf();
    Ok(html! {
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
    Posted(_): Posted<Nothing>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
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

// ---------------------------------------------------------------- dead letters

/// The dead-letter filters, as they come in a query string or a form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeadQuery {
    #[serde(default)]
    class: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    okra_type: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    page: Option<u64>,
    /// `1`: count the letters even when that takes a scan (two or more filters).
    #[serde(default)]
    count: String,
}

impl DeadQuery {
    fn filter(&self) -> Result<DeadFilter, Response> {
        let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let bad = |m: String| view::error(StatusCode::BAD_REQUEST, &m);
        let time = |s: &str| opt(s).map(|s| parse_time_ago(&s)).transpose().map_err(bad);
        Ok(DeadFilter {
            class: opt(&self.class),
            kind: opt(&self.kind),
            http_status: opt(&self.status)
                .map(|s| s.parse::<u16>())
                .transpose()
                .map_err(|_| bad(format!("`{}` is not an HTTP status", self.status.trim())))?,
            error_type: opt(&self.okra_type).map(|t| t.to_ascii_uppercase()),
            since: time(&self.since)?,
            until: time(&self.until)?,
        })
    }

    /// Each filter: its form name, how it reads in a sentence, and its value.
    fn fields(&self) -> [(&'static str, &'static str, &str); 6] {
        [
            ("class", "class", &self.class),
            ("kind", "kind", &self.kind),
            ("status", "HTTP status", &self.status),
            ("okra_type", "Okra type", &self.okra_type),
            ("since", "died since", &self.since),
            ("until", "died before", &self.until),
        ]
    }

    /// The filters that are set, trimmed.
    fn set(&self) -> impl Iterator<Item = (&'static str, &'static str, &str)> {
        self.fields()
            .into_iter()
            .map(|(k, label, v)| (k, label, v.trim()))
            .filter(|(_, _, v)| !v.is_empty())
    }

    /// The filters as a query string (without the page).
    fn query(&self) -> String {
        self.set()
            .map(|(k, _, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .set()
            .map(|(_, label, v)| format!("{label} {v}"))
            .collect();
        if parts.is_empty() {
            "every dead letter".into()
        } else {
            parts.join(", ")
        }
    }

    fn hidden(&self) -> Markup {
        html! {
            @for (k, _, v) in self.fields() {
                input type="hidden" name=(k) value=(v);
            }
        }
    }
}

fn dead_filters_form(queue: &str, d: &DeadQuery) -> Markup {
    html! {
        form.filters method="get" action={ "/q/" (queue) "/dead" } {
            label { "class" input name="class" value=(d.class) placeholder="server_error"; }
            label { "kind" input name="kind" value=(d.kind) placeholder="bvn_verify"; }
            label { "HTTP status" input name="status" value=(d.status) inputmode="numeric" placeholder="500"; }
            label { "Okra type" input name="okra_type" value=(d.okra_type) placeholder="FLAGGED_USER"; }
            label { "died since" input name="since" value=(d.since) placeholder="1h or 2026-11-26T08:00:00Z"; }
            label { "died before" input name="until" value=(d.until) placeholder="10m"; }
            button type="submit" { "Filter" }
            a href={ "/q/" (queue) "/dead" } { "Clear" }
        }
    }
}

pub async fn dead_list(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(d): Query<DeadQuery>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let filter = d.filter()?;
    let page_no = d.page.unwrap_or(1).max(1);
    let letters = q
        .dead_page(&filter, page_no, PAGE)
        .await
        .map_err(|e| failed(&e))?;
    let total = if filter.is_indexed() || d.count == "1" {
        match q.dead_count(&filter).await {
            Ok(n) => Some(n),
            Err(e) => return Err(failed(&e)),
        }
    } else {
        None
    };
    let qs = d.query();
    let link = |p: u64| {
        format!(
            "/q/{name}/dead?{qs}{}page={p}",
            if qs.is_empty() { "" } else { "&" }
        )
    };
    let more = total.map_or(letters.len() as u64 == PAGE, |t| page_no * PAGE < t);
    Ok(page(
        "Dead letters",
        Some(&name),
        html! {
            h1 { "Dead letters" }
            (dead_filters_form(&name, &d))
            p.summary {
                @match total {
                    Some(t) => { b data-total=(t) { (t) } " dead letter" @if t != 1 { "s" } " match " i { (d.describe()) } },
                    None => {
                        "Letters matching " i { (d.describe()) } " · "
                        a href={ "/q/" (name) "/dead?" (qs) "&count=1" } { "count them" }
                        span.muted { " (two or more filters: counting reads them all)" }
                    },
                }
                " · " a href={ "/q/" (name) "/dead/summary?" (qs) } { "summary by class, kind and status" }
            }
            @if !app.read_only && total != Some(0) && !letters.is_empty() {
                div.actions {
                    a.button href={ "/q/" (name) "/dead/confirm?action=requeue&" (qs) } { "Requeue all matching…" }
                    a.button.danger href={ "/q/" (name) "/dead/confirm?action=purge&" (qs) } { "Purge all matching…" }
                }
            }
            @if letters.is_empty() {
                p.muted { @if page_no > 1 { "Page " (page_no) " is past the end." } @else { "No dead letters match." } }
            } @else {
                (view::letters(&name, &letters))
            }
            nav.pager {
                @if page_no > 1 { a href=(link(page_no - 1)) { "← newer" } }
                span { "page " (page_no) @if let Some(t) = total { " of " (t.div_ceil(PAGE).max(1)) } }
                @if more { a href=(link(page_no + 1)) { "older →" } }
            }
        },
    )
    .into_response())
}

pub async fn dead_summary(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(d): Query<DeadQuery>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let filter = d.filter()?;
    let b = q
        .dead_breakdown(filter.since, filter.until)
        .await
        .map_err(|e| failed(&e))?;
    let time = DeadQuery {
        since: d.since.clone(),
        until: d.until.clone(),
        ..DeadQuery::default()
    };
    let table = |title: &str, field: &str, rows: &[(String, u64)]| {
        html! {
            div.breakdown {
                h2 { (title) }
                table { tbody { @for (v, n) in rows { tr {
                    td { a href={ "/q/" (name) "/dead?" (field) "=" (enc(v)) @if !time.query().is_empty() { "&" (time.query()) } } { (v) } }
                    td.n { (n) }
                } } } }
            }
        }
    };
    Ok(page(
        "Dead-letter summary",
        Some(&name),
        html! {
            h1 { "Dead letters by class, kind and status" }
            p.muted { "Letters that died " @if filter.since.is_none() && filter.until.is_none() { "at any time" } @else { "in the chosen time range" } "; counted through the index." }
            div.breakdowns {
                (table("Class", "class", &b.by_class))
                (table("Kind", "kind", &b.by_kind))
                (table("HTTP status", "status", &b.by_status))
                (table("Okra type", "okra_type", &b.by_okra_type))
            }
        },
    )
    .into_response())
}

#[derive(Deserialize)]
pub struct Bulk {
    action: String,
    #[serde(flatten)]
    filter: DeadQuery,
}

fn verb(action: &str) -> Result<&'static str, Response> {
    match action {
        "requeue" => Ok("Requeue"),
        "purge" => Ok("Purge"),
        other => Err(view::error(
            StatusCode::BAD_REQUEST,
            &format!("unknown action `{other}`"),
        )),
    }
}

/// The dry run: exactly how many letters the action would change, and which filter.
pub async fn dead_confirm(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(b): Query<Bulk>,
) -> Result<Response, Response> {
    if app.read_only {
        return Err(view::error(
            StatusCode::FORBIDDEN,
            "This dashboard is read-only (--read-only): it changes nothing.",
        ));
    }
    let verb = verb(&b.action)?;
    let q = queue(&app, &name).await?;
    let filter = b.filter.filter()?;
    let (count, sample) = match (
        q.dead_count(&filter).await,
        q.dead_page(&filter, 1, 20).await,
    ) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => return Err(failed(&e)),
    };
    Ok(page(
        "Confirm",
        Some(&name),
        html! {
            h1 { (verb) " dead letters?" }
            p.confirm {
                (verb) " " b data-count=(count) { (count) } " dead letter" @if count != 1 { "s" } " matching " i { (b.filter.describe()) } "."
                @if b.action == "purge" { " Purged letters are gone for good." }
                @else { " Each gets a fresh attempt budget and keeps its history." }
            }
            @if count > 0 {
                form method="post" action={ "/q/" (name) "/dead/bulk" } {
                    input type="hidden" name="csrf" value=(app.guard.csrf());
                    input type="hidden" name="action" value=(b.action);
                    (b.filter.hidden())
                    button type="submit" class=(if b.action == "purge" { "danger" } else { "primary" }) { (verb) " " (count) " dead letter" @if count != 1 { "s" } }
                    " " a href={ "/q/" (name) "/dead?" (b.filter.query()) } { "Cancel" }
                }
                h2 { "The newest of them" }
                (view::letters(&name, &sample))
            } @else {
                p { "Nothing matches; nothing to do. " a href={ "/q/" (name) "/dead" } { "Back" } }
            }
        },
    )
    .into_response())
}

pub async fn dead_bulk(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Posted(b): Posted<Bulk>,
) -> Result<Response, Response> {
    let verb = verb(&b.action)?;
    let q = queue(&app, &name).await?;
    let filter = b.filter.filter()?;
    let report = if b.action == "purge" {
        q.dead_purge_matching(&filter, |_| {}).await
    } else {
        q.dead_requeue_matching(&filter, RequeueAt::Now, |_| {})
            .await
    };
    Ok(match report {
        Ok(r) => page(
            "Done",
            Some(&name),
            html! {
                h1 { (verb) "d" }
                p.flash.good data-changed=(r.changed) {
                    (verb) "d " b { (r.changed) } " of " (r.matched) " matching dead letter" @if r.matched != 1 { "s" } " (" i { (b.filter.describe()) } ")."
                }
                p { a href={ "/q/" (name) "/dead" } { "Back to the dead letters" } }
            },
        )
        .into_response(),
        Err(e) => failed(&e),
    })
}

pub async fn dead_show(
    State(app): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let rec = q.dead_get(&id).await.map_err(|e| failed(&e))?;
    let csrf = app.guard.csrf();
    Ok(page(
        "Dead letter",
        Some(&name),
        html! {
            h1 { "Dead letter" }
            @if !app.read_only {
                div.actions {
                    (post_button(&format!("/q/{name}/dead/{id}/requeue"), csrf, "Requeue", None, "primary"))
                    (post_button(&format!("/q/{name}/dead/{id}/purge"), csrf, "Purge", Some("Delete this dead letter for good?"), "danger"))
                }
            }
            (view::record(&rec))
        },
    )
    .into_response())
}

/// What one POST does to one job: `requeue` and `purge` (dead letters), `cancel` and `run-now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OneJob {
    Requeue,
    Purge,
    Cancel,
    RunNow,
}

/// `POST /q/{queue}/dead/{id}/{requeue|purge}` and `POST /q/{queue}/job/{id}/{cancel|run-now}`.
pub async fn one_job(
    State(app): State<Shared>,
    Path((name, id, action)): Path<(String, String, String)>,
    Posted(_): Posted<Nothing>,
) -> Result<Response, Response> {
    let what = match action.as_str() {
        "requeue" => OneJob::Requeue,
        "purge" => OneJob::Purge,
        "cancel" => OneJob::Cancel,
        "run-now" => OneJob::RunNow,
        other => {
            return Err(view::error(
                StatusCode::NOT_FOUND,
                &format!("there is no action `{other}`"),
            ));
        }
    };
    let q = queue(&app, &name).await?;
    let ids = [id.clone()];
    let done = match what {
        OneJob::Requeue => q
            .dead_requeue(&ids, RequeueAt::Now)
            .await
            .map(|c| !c.is_empty()),
        OneJob::Purge => q.dead_delete(&ids).await.map(|c| !c.is_empty()),
        OneJob::Cancel => q.cancel(&id).await.map(|()| true),
        OneJob::RunNow => q.run_now(&id).await.map(|()| true),
    };
    Ok(match done {
        Ok(false) => view::error(
            StatusCode::CONFLICT,
            &format!("{id} is no longer a dead letter."),
        ),
        Ok(true) if what == OneJob::Purge => {
            Redirect::to(&format!("/q/{name}/dead")).into_response()
        }
        Ok(true) => Redirect::to(&format!("/q/{name}/job/{id}")).into_response(),
        Err(e) => failed(&e),
    })
}

// ---------------------------------------------------------------- jobs

#[derive(Deserialize)]
pub struct JobsQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    page: Option<u64>,
}

const STATES: [(&str, JobState); 5] = [
    ("ready", JobState::Ready),
    ("scheduled", JobState::Scheduled),
    ("running", JobState::Running),
    ("completed", JobState::Completed),
    ("cancelled", JobState::Cancelled),
];

pub async fn jobs_list(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(j): Query<JobsQuery>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let state_name = if j.state.is_empty() {
        "ready"
    } else {
        j.state.as_str()
    };
    let Some((_, state)) = STATES.iter().find(|(n, _)| *n == state_name) else {
        return Err(view::error(
            StatusCode::BAD_REQUEST,
            "state must be ready, scheduled, running, completed or cancelled",
        ));
    };
    let kind = Some(j.kind.trim().to_string()).filter(|k| !k.is_empty());
    let page_no = j.page.unwrap_or(1).max(1);
    let filter = JobFilter {
        state: *state,
        kind: kind.clone(),
    };
    let p = q
        .jobs(&filter, page_no, PAGE)
        .await
        .map_err(|e| failed(&e))?;
    let kind_q = kind
        .as_deref()
        .map(|k| format!("&kind={}", enc(k)))
        .unwrap_or_default();
    let csrf = app.guard.csrf();
    Ok(page(
        "Jobs",
        Some(&name),
        html! {
            h1 { "Jobs" }
            nav.tabs {
                @for (n, _) in STATES {
                    a href={ "/q/" (name) "/jobs?state=" (n) (kind_q) } class=[(n == state_name).then_some("active")] { (n) }
                }
            }
            form.filters method="get" action={ "/q/" (name) "/jobs" } {
                input type="hidden" name="state" value=(state_name);
                label { "kind" input name="kind" value=(j.kind) placeholder="bvn_verify"; }
                button type="submit" { "Filter" }
            }
            @if p.jobs.is_empty() {
                p.muted { @if page_no > 1 { "Page " (page_no) " is past the end." } @else { "No " (state_name) " jobs." } }
            } @else {
                (job_table(&name, &p.jobs, csrf, app.read_only))
            }
            @if p.truncated { p.muted { "Stopped after reading " (okra_queue::browse::SCAN_LIMIT) " jobs; narrow the filter." } }
            nav.pager {
                @if page_no > 1 { a href={ "/q/" (name) "/jobs?state=" (state_name) (kind_q) "&page=" (page_no - 1) } { "← previous" } }
                span { "page " (page_no) }
                @if p.more { a href={ "/q/" (name) "/jobs?state=" (state_name) (kind_q) "&page=" (page_no + 1) } { "next →" } }
            }
        },
    )
    .into_response())
}

/// A table of jobs, each with the actions its state allows (unless read-only).
fn job_table(queue: &str, jobs: &[JobBrief], csrf: &str, read_only: bool) -> Markup {
    html! {
        div.scroll { table {
            thead { tr { th { "id" } th { "kind" } th { "state" } th { "attempts" } th { "created" } th { "when" } th { "last failure" } @if !read_only { th {} } } }
            tbody { @for b in jobs { (job_row(queue, b, csrf, read_only)) } }
        } }
    }
}

fn job_row(queue: &str, b: &JobBrief, csrf: &str, read_only: bool) -> Markup {
    html! {
        tr data-job=(b.id) {
            td.mono { a href={ "/q/" (queue) "/job/" (b.id) } { (b.id) } }
            td { (b.kind) }
            td { span class={ "state " (b.state) } { (b.state) } }
            td { (b.attempts) }
            td { (ago(b.created_at)) }
            td { (brief_when(b)) }
            td { (b.last_class.clone().unwrap_or_default()) }
            @if !read_only {
                td.row-actions {
                    @if b.state == JobState::Scheduled {
                        (post_button(&format!("/q/{queue}/job/{}/run-now", b.id), csrf, "Run now", None, ""))
                    }
                    @if matches!(b.state, JobState::Ready | JobState::Scheduled) {
                        (post_button(&format!("/q/{queue}/job/{}/cancel", b.id), csrf, "Cancel", Some("Cancel this job? It will not run."), "danger"))
                    }
                }
            }
        }
    }
}

pub async fn job_show(
    State(app): State<Shared>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let rec = match q.job(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(view::error(
                StatusCode::NOT_FOUND,
                &format!("no job with id {id}"),
            ));
        }
        Err(e) => return Err(failed(&e)),
    };
    let csrf = app.guard.csrf();
    Ok(page(
        "Job",
        Some(&name),
        html! {
            h1 { "Job" }
            @if !app.read_only {
                div.actions {
                    @if rec.state == JobState::Scheduled { (post_button(&format!("/q/{name}/job/{id}/run-now"), csrf, "Run now", None, "primary")) }
                    @if matches!(rec.state, JobState::Ready | JobState::Scheduled) { (post_button(&format!("/q/{name}/job/{id}/cancel"), csrf, "Cancel", Some("Cancel this job? It will not run."), "danger")) }
                    @if rec.state == JobState::Dead { (post_button(&format!("/q/{name}/dead/{id}/requeue"), csrf, "Requeue", None, "primary")) }
                }
            }
            (view::record(&rec))
        },
    )
    .into_response())
}

// ---------------------------------------------------------------- find

#[derive(Deserialize)]
pub struct FindQuery {
    #[serde(default)]
    by: String,
    #[serde(default)]
    value: String,
}

pub async fn find(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(f): Query<FindQuery>,
) -> Result<Response, Response> {
    let q = queue(&app, &name).await?;
    let value = f.value.trim();
    let found: Option<Result<Vec<String>, QueueError>> = if value.is_empty() {
        None
    } else {
        Some(match f.by.as_str() {
            "key" => q
                .find_by_idempotency_key(value)
                .await
                .map(|o| o.into_iter().collect()),
            "bvn" => q.find_by_identity(IdType::Bvn, value, 200).await,
            "nin" => q.find_by_identity(IdType::Nin, value, 200).await,
            "nuban" => q.find_by_identity(IdType::Nuban, value, 200).await,
            _ => q
                .state(value)
                .await
                .map(|s| s.map(|_| value.to_string()).into_iter().collect()),
        })
    };
    let briefs = match found {
        None => None,
        Some(Ok(ids)) => Some(Ok(q.job_briefs(ids).await.map_err(|e| failed(&e))?)),
        Some(Err(e)) => Some(Err(e)),
    };
    let csrf = app.guard.csrf();
    Ok(page(
        "Find",
        Some(&name),
        html! {
            h1 { "Find jobs" }
            form.filters method="get" action={ "/q/" (name) "/find" } {
                label { "by"
                    select name="by" {
                        @for (v, label) in [("id", "job id"), ("key", "idempotency key"), ("bvn", "BVN"), ("nin", "NIN"), ("nuban", "account number")] {
                            option value=(v) selected[f.by == v] { (label) }
                        }
                    }
                }
                // The value is never shown back: an identifier typed here stays off the page.
                label { "value" input name="value" value="" autocomplete="off" required; }
                button type="submit" { "Find" }
            }
            p.muted { "BVN, NIN and account numbers are looked up through a keyed hash (queue.index_key); the number is not stored and not shown." }
            @match briefs {
                None => {},
                Some(Err(e)) => { p.flash.bad { (view::masked(&e.to_string())) } },
                Some(Ok(b)) if b.is_empty() => { p.flash { "No job found." } },
                Some(Ok(b)) => {
                    (job_table(&name, &b, csrf, app.read_only))
                },
            }
        },
    )
    .into_response())
}
