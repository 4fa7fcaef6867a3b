//! `okra-admin check lookups`: calls each configured free lookup once with an identity that
//! cannot exist and says whether the route answers like a lookup, so a wrong `okra.lookup`
//! path shows before an uncertain charge depends on it.

use std::process::ExitCode;

use clap::Subcommand;
use okra_queue::Queue;
use okra_queue::okra::kinds::{Kind, Shape};
use okra_queue::okra::lookup::{self, Answer, Nothing};
use okra_queue::okra::{KINDS, OkraClient, OkraJob, OkraSettings, SecretKey};
use serde::Serialize;

use crate::output::{Out, table};

#[derive(Debug, Subcommand)]
pub enum CheckCmd {
    /// Call each kind's free lookup (okra.lookup) once with an identity that cannot exist,
    /// and report whether the route answers like a lookup. Needs OKRA_SECRET_KEY.
    #[command(
        after_help = "Examples:\n  OKRA_SECRET_KEY=... okra-admin check lookups\n  okra-admin --json check lookups\n\nok: an empty answer, or a 404 with Okra's error envelope from a route that has answered\nwith a profile before (both are a definite \"no such identity\"). unproven: a 404 with the\nenvelope from a route that never answered with a profile yet; it becomes definite once it\ndoes. problem: anything else (the path may not exist); exit status 1."
    )]
    Lookups,
}

/// One lookup's check.
#[derive(Debug, Serialize)]
struct Row {
    kind: &'static str,
    path: Option<String>,
    /// What the route answered.
    answer: String,
    /// It has answered some job with a profile before (kept in Redis per account).
    proven: bool,
    /// `ok`, `unproven`, `problem` or `none` (the kind has no lookup).
    verdict: &'static str,
    /// What it means, and what to do.
    note: String,
}

pub async fn run(
    queue: &Queue,
    okra: &OkraSettings,
    cmd: CheckCmd,
    out: Out,
) -> anyhow::Result<ExitCode> {
    let CheckCmd::Lookups = cmd;
    let secret = SecretKey::from_env().map_err(anyhow::Error::msg)?;
    let client = OkraClient::new(okra, secret).map_err(anyhow::Error::msg)?;
    let account = queue.account();
    let mut rows = Vec::new();
    for spec in KINDS {
        let kind = spec.name;
        let Some(path) = okra.lookup_for(kind) else {
            rows.push(Row {
                kind,
                path: None,
                answer: String::new(),
                proven: false,
                verdict: "none",
                note: format!(
                    "no free lookup: after an uncertain charge okra.without_lookup = {:?} applies",
                    okra.without_lookup
                )
                .to_lowercase(),
            });
            continue;
        };
        let job = nobody(spec).map_err(anyhow::Error::msg)?;
        let reply = client.post(path, job.body()).await;
        let proven = match account {
            Some(a) => a.lookup_proven(path).await?,
            None => false,
        };
        let (answer, verdict, note) = match lookup::read(&job, &reply) {
            Answer::Profile(_) => (
                "a profile".to_string(),
                "problem",
                "answered with a profile for an identity that cannot exist: is this a lookup?"
                    .to_string(),
            ),
            Answer::Nothing(Nothing::Empty(what)) => (
                what.to_string(),
                "ok",
                "answers like a lookup: \"no identity\" is definite once okra.answer_deadline has passed".to_string(),
            ),
            Answer::Nothing(Nothing::NotFound(what)) if proven => (
                what,
                "ok",
                "a 404 with the error envelope from a route that has answered with a profile: definite \"no such identity\"".to_string(),
            ),
            Answer::Nothing(Nothing::NotFound(what)) => (
                what,
                "unproven",
                "a 404 with the error envelope, from a route that has never answered with a profile: not taken as \"no such identity\" until it does (a requeue after that pays at most once)".to_string(),
            ),
            Answer::Nothing(Nothing::Failed(why)) => (
                why,
                "problem",
                format!("fix okra.lookup.{kind} (a path on okra.base_url, or \"none\")"),
            ),
        };
        rows.push(Row {
            kind,
            path: Some(path.to_string()),
            answer,
            proven,
            verdict,
            note,
        });
    }
    let failed = rows.iter().any(|r| r.verdict == "problem");
    if out.json {
        out.json(&rows);
    } else {
        println!("free lookups on {}", client.base_url());
        let mut t = table(&["kind", "lookup", "verdict", "proven", "answered"]);
        for r in &rows {
            t.add_row(vec![
                r.kind.to_string(),
                r.path.clone().unwrap_or_else(|| "none".into()),
                r.verdict.to_string(),
                if r.path.is_some() {
                    yes_no(r.proven)
                } else {
                    ""
                }
                .to_string(),
                r.answer.clone(),
            ]);
        }
        println!("{t}");
        for r in rows.iter().filter(|r| r.verdict != "ok") {
            println!("{}: {}", r.kind, r.note);
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// A job of `kind` about an identity that cannot exist (all zeros).
fn nobody(kind: &'static Kind) -> Result<OkraJob, String> {
    let zeros: Vec<(&str, String)> = kind
        .fields
        .iter()
        .map(|f| {
            let n = match f.shape {
                Shape::Digits(n) => n,
                Shape::Text => 24,
            };
            (f.name, "0".repeat(n))
        })
        .collect();
    let fields: Vec<(&str, &str)> = zeros.iter().map(|(n, v)| (*n, v.as_str())).collect();
    OkraJob::new(kind.name, &fields)
}
