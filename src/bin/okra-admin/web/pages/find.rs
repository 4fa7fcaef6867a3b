//! Find jobs by id, idempotency key, or the identifier they verify (through the keyed-hash
//! index; the number typed is never shown back).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use okra_queue::QueueError;
use okra_queue::ident::IdType;
use serde::Deserialize;

use super::jobs::job_table;
use super::{failed, queue};
use crate::web::Shared;
use crate::web::view::{self, page};

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
    // The erase button carries the person's keyed hash, never the number.
    let person = match (f.by.as_str(), q.config().index_key.as_ref()) {
        ("bvn", Some(k)) if !value.is_empty() => Some(("bvn", k.hash(IdType::Bvn, value))),
        ("nin", Some(k)) if !value.is_empty() => Some(("nin", k.hash(IdType::Nin, value))),
        ("nuban", Some(k)) if !value.is_empty() => Some(("nuban", k.hash(IdType::Nuban, value))),
        _ => None,
    };
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
