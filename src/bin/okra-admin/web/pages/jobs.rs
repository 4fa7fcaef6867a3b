//! Jobs by state, one job's record, and the one-job actions (requeue or purge a dead letter,
//! cancel or run now a live job).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use okra_queue::rdb::JobBrief;
use okra_queue::{JobFilter, JobState, RequeueAt};
use serde::Deserialize;

use super::{Nothing, PAGE, Posted, acting, enc, failed, queue};
use crate::output::{ago, brief_when};
use crate::web::Shared;
use crate::web::view::{self, page, post_button};

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
    Posted(_, actor): Posted<Nothing>,
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
    let q = acting(&app, &name, &actor).await?;
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

#[derive(Deserialize)]
pub struct JobsQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    page: Option<u64>,
}

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
    let Some(state) = JobState::parse(state_name).filter(|s| JobState::LISTABLE.contains(s)) else {
        return Err(view::error(
            StatusCode::BAD_REQUEST,
            "state must be ready, scheduled, running, completed or cancelled",
        ));
    };
    let kind = Some(j.kind.trim().to_string()).filter(|k| !k.is_empty());
    let page_no = j.page.unwrap_or(1).max(1);
    let filter = JobFilter {
        state,
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
                @for n in JobState::LISTABLE.map(JobState::as_str) {
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
            @if p.truncated { p.muted { "Stopped after reading " (okra_queue::queue::browse::SCAN_LIMIT) " jobs; narrow the filter." } }
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
pub(super) fn job_table(queue: &str, jobs: &[JobBrief], csrf: &str, read_only: bool) -> Markup {
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
            td { (crate::web::view::masked(&b.kind)) }
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
