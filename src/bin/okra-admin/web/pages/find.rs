//! Find jobs by id, idempotency key, or the identifier they verify (through the keyed-hash
//! index; the number typed is never shown back). The form is POSTed with the CSRF token: what
//! is typed travels in the body, never in a URL (browser history, proxy logs, `Referer`).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use okra_queue::QueueError;
use okra_queue::ident::IdType;
use serde::Deserialize;

use super::jobs::job_table;
use super::{Checked, failed, queue};
use crate::web::Shared;
use crate::web::view::{self, page};

#[derive(Deserialize, Default)]
pub struct FindQuery {
    #[serde(default)]
    by: String,
    #[serde(default)]
    value: String,
}

/// `GET /q/{queue}/find`: the empty form. A query string is ignored: nothing typed is ever
/// looked up from a URL.
pub async fn find_form(
    State(app): State<Shared>,
    Path(name): Path<String>,
) -> Result<Response, Response> {
    queue(&app, &name).await?;
    render(&app, &name, &FindQuery::default(), None)
}

/// `POST /q/{queue}/find` (`by`, `value`, `csrf`): the matching jobs, on the answer itself (no
/// redirect, so the value never reaches a `Location`).
pub async fn find(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Checked(f, _): Checked<FindQuery>,
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
            by => match IdType::from_name(by) {
                Some(ty) => q.find_by_identity(ty, value, 200).await,
                None => q
                    .state(value)
                    .await
                    .map(|s| s.map(|_| value.to_string()).into_iter().collect()),
            },
        })
    };
    let briefs = match found {
        None => None,
        Some(Ok(ids)) => Some(Ok(q.job_briefs(ids).await.map_err(|e| failed(&e))?)),
        Some(Err(e)) => Some(Err(e)),
    };
    // The erase button carries the person's keyed hash, never the number.
    let person = match (IdType::from_name(&f.by), q.config().index_key.as_ref()) {
        (Some(ty), Some(k)) if !value.is_empty() => Some((ty.as_str(), k.hash(ty, value))),
        _ => None,
    };
    render(&app, &name, &f, Some((briefs, person)))
}

type Briefs = Option<Result<Vec<okra_queue::rdb::JobBrief>, QueueError>>;

fn render(
    app: &Shared,
    name: &str,
    f: &FindQuery,
    found: Option<(Briefs, Option<(&str, String)>)>,
) -> Result<Response, Response> {
    let csrf = app.guard.csrf();
    let (briefs, person) = found.unwrap_or((None, None));
    Ok(page(
        "Find",
        Some(name),
        html! {
            h1 { "Find jobs" }
            form.filters method="post" action={ "/q/" (name) "/find" } {
                input type="hidden" name="csrf" value=(csrf);
                label { "by"
                    select name="by" {
                        @for (v, label) in [("id", "job id"), ("key", "idempotency key")].into_iter().chain(IdType::ALL.map(|t| (t.as_str(), t.label()))) {
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
                    (job_table(name, &b, csrf, app.read_only))
                },
            }
            @if let (Some((by, hash)), false) = (&person, app.read_only) {
                p.erase {
                    a.button.danger href={ "/q/" (name) "/erase?by=" (by) "&person=" (hash) } { "Erase this person…" }
                    " every copy, in every queue (asks first)"
                }
            }
        },
    )
    .into_response())
}
