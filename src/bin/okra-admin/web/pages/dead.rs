//! Dead letters: the filtered list with paging and totals, the summary, one letter, and the
//! bulk requeue or purge through a confirmation.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use okra_queue::{DeadFilter, RequeueAt};
use serde::Deserialize;

use super::{PAGE, Posted, acting, enc, failed, queue};
use crate::output::parse_time_ago;
use crate::web::Shared;
use crate::web::view::{self, page, post_button};

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
            error_type: opt(&self.okra_type),
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
    Posted(b, actor): Posted<Bulk>,
) -> Result<Response, Response> {
    let verb = verb(&b.action)?;
    let q = acting(&app, &name, &actor).await?;
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
