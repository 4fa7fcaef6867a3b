//! Erasing a person from the find page: a confirmation with the dry run's counts, then the
//! erase itself. Pages pass the person's keyed hash, never the number.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use okra_queue::ident::IdType;
use okra_queue::okra::erase::Erasure;
use serde::Deserialize;

use super::{Posted, acting, failed, queue};
use crate::web::Shared;
use crate::web::view::{self, page};

#[derive(Deserialize)]
pub struct Person {
    #[serde(default)]
    by: String,
    #[serde(default)]
    person: String,
}

impl Person {
    fn id_type(&self) -> Result<IdType, Response> {
        IdType::from_name(&self.by).ok_or_else(|| {
            view::error(
                StatusCode::BAD_REQUEST,
                "erase a person by bvn, nin or nuban",
            )
        })
    }
}

/// `GET /q/{queue}/erase?by=bvn&person=HASH`: what an erase would remove, and the button.
pub async fn erase_confirm(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Query(p): Query<Person>,
) -> Result<Response, Response> {
    if app.read_only {
        return Err(view::error(
            StatusCode::FORBIDDEN,
            "This dashboard is read-only (--read-only): it changes nothing.",
        ));
    }
    let ty = p.id_type()?;
    let q = queue(&app, &name).await?;
    let e = q
        .erase_hashed(ty, &p.person, true)
        .await
        .map_err(|e| failed(&e))?;
    let total = e.total();
    Ok(page(
        "Erase",
        Some(&name),
        html! {
            h1 { "Erase this person?" }
            p.confirm {
                "Erase every copy of this " (ty.as_str().to_uppercase()) " (keyed hash " span.mono { (e.person) } "): "
                b data-count=(total.jobs()) { (total.jobs()) } " job" @if total.jobs() != 1 { "s" }
                " in every queue, and " (e.reused) " profile" @if e.reused != 1 { "s" } " stored for reuse."
                " Erased records are gone for good; a job running now is erased when it finishes."
            }
            (counts(&e))
            form method="post" action={ "/q/" (name) "/erase" } {
                input type="hidden" name="csrf" value=(app.guard.csrf());
                input type="hidden" name="by" value=(p.by);
                input type="hidden" name="person" value=(e.person);
                button type="submit" class="danger" { "Erase" }
                " " a href={ "/q/" (name) "/find" } { "Cancel" }
            }
        },
    )
    .into_response())
}

/// `POST /q/{queue}/erase`: erases, then shows what went.
pub async fn erase(
    State(app): State<Shared>,
    Path(name): Path<String>,
    Posted(p, actor): Posted<Person>,
) -> Result<Response, Response> {
    let ty = p.id_type()?;
    let q = acting(&app, &name, &actor).await?;
    let e = q
        .erase_hashed(ty, &p.person, false)
        .await
        .map_err(|e| failed(&e))?;
    let total = e.total();
    Ok(page(
        "Erased",
        Some(&name),
        html! {
            h1 { "Erased" }
            p.flash.erased {
                "Erased " b data-erased=(total.jobs()) { (total.jobs()) } " job" @if total.jobs() != 1 { "s" }
                " and " (e.reused) " stored profile" @if e.reused != 1 { "s" } "."
            }
            (counts(&e))
            p { a href={ "/q/" (name) "/find" } { "Back to find" } }
        },
    )
    .into_response())
}

fn counts(e: &Erasure) -> Markup {
    html! {
        @if !e.queues.is_empty() {
            div.scroll { table.erase {
                thead { tr { th { "queue" } th { "ready" } th { "scheduled" } th { "running" } th { "completed" } th { "cancelled" } th { "dead" } th { "claims" } th { "index" } } }
                tbody { @for (q, c) in &e.queues { tr {
                    td { (q) } td { (c.ready) } td { (c.scheduled) } td { (c.running) } td { (c.completed) }
                    td { (c.cancelled) } td { (c.dead) } td { (c.claims) } td { (c.index) }
                } } }
            } }
        }
    }
}
