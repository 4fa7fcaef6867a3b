//! `okra-admin job show|cancel|run-now|find` and `jobs list`, and the record view `dlq show`
//! shares.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use okra_queue::okra::mask;
use okra_queue::rdb::JobBrief;
use okra_queue::{Failure, JobFilter, JobRecord, JobState, Queue};
use serde_json::{Value, json};

use crate::output::{Out, ago, brief_when, cell, count, millis, table, when};

#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// A job's state, attempt history and result.
    #[command(
        after_help = "Examples:\n  okra-admin job show 01JD3ZK5Q0V6Y8T2N4M7R9W1XB\n  okra-admin job show 01JD3ZK5Q0V6Y8T2N4M7R9W1XB --json --reveal"
    )]
    Show {
        /// Job id.
        id: String,
    },
    /// Cancel a ready or scheduled job: it will not run, it is kept as cancelled until the
    /// completed retention ends, and its idempotency key is released. A running job cannot be
    /// cancelled.
    #[command(after_help = "Example:\n  okra-admin job cancel 01JD3ZK5Q0V6Y8T2N4M7R9W1XB")]
    Cancel {
        /// Job id.
        id: String,
    },
    /// Run a scheduled job (a delayed job or a waiting retry) next, instead of at its due time.
    #[command(after_help = "Example:\n  okra-admin job run-now 01JD3ZK5Q0V6Y8T2N4M7R9W1XB")]
    RunNow {
        /// Job id.
        id: String,
    },
    /// Find jobs by idempotency key, or by the BVN, NIN or account number they verify (through
    /// the keyed-hash index: needs queue.index_key, the key the producers use).
    #[command(
        after_help = "Examples:\n  okra-admin job find --idempotency-key order-42\n  OKQ_QUEUE__INDEX_KEY=... okra-admin job find --bvn 22234567890"
    )]
    Find(FindArgs),
}

#[derive(Debug, Args)]
pub struct FindArgs {
    /// The idempotency key given at enqueue (while it lasts: queue.idempotency_ttl).
    #[arg(long, conflicts_with = "person")]
    idempotency_key: Option<String>,
    #[command(flatten)]
    person: crate::PersonArgs,
}

#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Jobs in one state, in the order they run (finished ones newest first), a page at a time.
    #[command(
        after_help = "Examples:\n  okra-admin jobs list --state ready\n  okra-admin jobs list --state scheduled --kind bvn_verify --limit 50 --page 2\n  okra-admin jobs list --state completed --json"
    )]
    List {
        /// ready, scheduled, running, completed or cancelled (dead letters: `dlq list`).
        #[arg(long, value_parser = listable_state)]
        state: JobState,
        /// Only this kind (bvn_verify, nin_verify, ...).
        #[arg(long)]
        kind: Option<String>,
        /// Jobs per page (1-1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
        /// Page number, from 1.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
    },
}

/// A state `jobs list` can list: one of [`JobState::LISTABLE`].
fn listable_state(s: &str) -> Result<JobState, String> {
    JobState::parse(s)
        .filter(|st| JobState::LISTABLE.contains(st))
        .ok_or_else(|| {
            let names: Vec<&str> = JobState::LISTABLE.iter().map(|s| s.as_str()).collect();
            format!(
                "`{s}` is not a listable state (one of {}; dead letters: `dlq list`)",
                names.join(", ")
            )
        })
}

pub async fn run(queue: &Queue, cmd: JobCmd, out: Out) -> anyhow::Result<ExitCode> {
    match cmd {
        JobCmd::Show { id } => {
            let rec = queue
                .job(&id)
                .await?
                .ok_or_else(|| anyhow!("no job with id {id}"))?;
            out.audit_reveal(queue, "show-reveal", &format!("job {id}"))
                .await?;
            show(&rec, out);
        }
        JobCmd::Cancel { id } => {
            queue.cancel(&id).await?;
            done(out, &id, "cancelled", "cancelled");
        }
        JobCmd::RunNow { id } => {
            queue.run_now(&id).await?;
            done(out, &id, "ready", "moved to the head of the ready list");
        }
        JobCmd::Find(f) => return find(queue, f, out).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn done(out: Out, id: &str, state: &str, what: &str) {
    if out.json {
        out.json(&json!({ "id": id, "state": state }));
    } else {
        println!("job {id} {what}");
    }
}

async fn find(queue: &Queue, f: FindArgs, out: Out) -> anyhow::Result<ExitCode> {
    let ids = match (f.idempotency_key, f.person.person()?) {
        (Some(key), _) => queue
            .find_by_idempotency_key(&key)
            .await?
            .into_iter()
            .collect(),
        (None, Some((ty, v))) => queue.find_by_identity(ty, v, 1000).await?,
        (None, None) => {
            return Err(crate::Usage(
                "name what to find: --idempotency-key, --bvn, --nin or --nuban".into(),
            )
            .into());
        }
    };
    let briefs = queue.job_briefs(ids).await?;
    if out.json {
        out.json(&briefs);
    } else if briefs.is_empty() {
        println!("no job found");
    } else {
        print_briefs(&briefs);
    }
    Ok(if briefs.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn list(queue: &Queue, cmd: JobsCmd, out: Out) -> anyhow::Result<ExitCode> {
    let JobsCmd::List {
        state,
        kind,
        limit,
        page,
    } = cmd;
    let filter = JobFilter { state, kind };
    let p = queue.jobs(&filter, page, limit).await?;
    if out.json {
        out.json(&json!({ "page": page, "limit": limit, "more": p.more, "truncated": p.truncated, "jobs": p.jobs }));
        return Ok(ExitCode::SUCCESS);
    }
    if p.jobs.is_empty() {
        if page > 1 {
            println!("no {} jobs on page {page} (past the end)", filter.state);
        } else {
            println!("no {} jobs on queue {}", filter.state, queue.name());
        }
    } else {
        print_briefs(&p.jobs);
        if p.more {
            println!("more on page {}", page + 1);
        }
    }
    if p.truncated {
        eprintln!(
            "stopped after reading {} jobs; narrow the filter for the rest",
            okra_queue::queue::browse::SCAN_LIMIT
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_briefs(jobs: &[JobBrief]) {
    let mut t = table(&[
        "id",
        "kind",
        "state",
        "attempts",
        "created",
        "when",
        "last failure",
    ]);
    for j in jobs {
        t.add_row(vec![
            j.id.clone(),
            mask::mask_text(&j.kind),
            j.state.to_string(),
            j.attempts.to_string(),
            ago(j.created_at),
            brief_when(j),
            j.last_class.clone().unwrap_or_default(),
        ]);
    }
    println!("{t}");
}

/// Prints a whole record.
pub fn show(rec: &JobRecord, out: Out) {
    if out.json {
        out.json(&record_json(rec, out));
        return;
    }
    let m = &rec.meta;
    println!("job       {}", rec.id);
    println!("state     {}", rec.state);
    println!("kind      {}", mask::mask_text(&m.kind));
    println!(
        "attempts  {} of {}{}{}",
        rec.attempts,
        rec.max_attempts,
        if m.max_attempts.is_none() {
            " (the fleet's retry.max_attempts)"
        } else {
            ""
        },
        if m.requeues > 0 {
            format!(
                " (requeued {} time{})",
                m.requeues,
                if m.requeues == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    );
    println!("created   {} ({})", when(m.created_at), ago(m.created_at));
    if let Some(t) = rec.due_at {
        println!("due       {} ({})", when(t), ago(t));
    }
    if let Some(t) = rec.lease_until {
        println!(
            "running   on {} (lease until {})",
            rec.worker.as_deref().unwrap_or("?"),
            ago(t)
        );
    }
    if let Some(t) = rec.finished_at {
        println!("finished  {} ({})", when(t), ago(t));
    }
    if let Some(t) = rec.died_at {
        println!("died      {} ({})", when(t), ago(t));
    }
    if let Some(k) = &m.idempotency_key {
        println!("idem key  {}", idem_key(k, out));
    }
    println!("payload   {}", out.json_text(&rec.payload));
    if let Some(f) = &rec.last_error {
        print_failure(f, out);
    }
    if rec.history.is_empty() {
        println!("history   (no attempt finished yet)");
    } else {
        println!(
            "history   ({}, oldest first)",
            count(rec.history.len(), "entry", "entries")
        );
        let mut t = table(&[
            "#", "at", "outcome", "class", "http", "type", "took", "next in", "worker", "message",
        ]);
        for h in &rec.history {
            t.add_row(vec![
                if h.attempt > 0 {
                    h.attempt.to_string()
                } else {
                    "-".into()
                },
                when(h.at),
                h.outcome.to_string(),
                h.class.clone().unwrap_or_default(),
                h.http_status.map(|s| s.to_string()).unwrap_or_default(),
                h.error_type.clone().unwrap_or_default(),
                h.duration_ms.map(millis).unwrap_or_default(),
                h.retry_in_ms.map(millis).unwrap_or_default(),
                h.worker.clone().unwrap_or_default(),
                cell(&out.text(h.message.as_deref().unwrap_or("")), 60),
            ]);
        }
        println!("{t}");
    }
    if let Some(r) = &rec.result {
        println!(
            "result    {}",
            serde_json::to_string_pretty(&out.value(r.clone())).unwrap_or_default()
        );
    }
}

fn print_failure(f: &Failure, out: Out) {
    println!(
        "failure   class {}{}{}{}{}",
        f.class,
        f.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        f.provider
            .as_deref()
            .map(|p| format!(", at {p}"))
            .unwrap_or_default(),
        f.http_status
            .map(|s| format!(", HTTP {s}"))
            .unwrap_or_default(),
        f.error_type
            .as_deref()
            .map(|t| format!(", type {t}"))
            .unwrap_or_default(),
    );
    if f.code.is_some() || f.method.is_some() {
        println!(
            "          code {}, method {}",
            f.code.as_deref().unwrap_or("-"),
            f.method.as_deref().unwrap_or("-")
        );
    }
    println!("          {}", out.text(&f.message));
    if let Some(b) = &f.body {
        // The provider that answered (Okra for failures recorded before providers).
        let said = format!("{} said", f.provider.as_deref().unwrap_or("okra"));
        println!("{said:<9} {}", cell(&out.json_text(b), 300));
    }
}

fn failure_json(f: &Failure, out: Out) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    v["message"] = Value::String(out.text(&f.message));
    if let Some(b) = &f.body {
        v["body"] = Value::String(out.json_text(b));
    }
    v
}

/// An idempotency key as shown: producers often build one from the identifier (`bvn-…`), so
/// it keeps its last four characters unless `--reveal`.
fn idem_key(k: &str, out: Out) -> String {
    if out.reveal {
        k.to_string()
    } else {
        mask::mask_id(k)
    }
}

/// A record as JSON, masked unless `--reveal` (the profile too: names to initials; birth
/// date, gender, address and e-mail hidden).
pub fn record_json(rec: &JobRecord, out: Out) -> Value {
    let payload = serde_json::from_str::<Value>(&rec.payload)
        .map(|v| out.value(v))
        .unwrap_or_else(|_| Value::String(out.text(&rec.payload)));
    let history: Vec<Value> = rec
        .history
        .iter()
        .map(|h| {
            let mut v = serde_json::to_value(h).unwrap_or(Value::Null);
            if let Some(m) = &h.message {
                v["message"] = Value::String(out.text(m));
            }
            v
        })
        .collect();
    json!({
        "id": rec.id,
        "state": rec.state,
        "kind": mask::mask_text(&rec.meta.kind),
        "attempts": rec.attempts,
        "max_attempts": rec.max_attempts,
        "max_attempts_from": if rec.meta.max_attempts.is_some() { "job" } else { "fleet" },
        "requeues": rec.meta.requeues,
        "created_at": rec.meta.created_at,
        "idempotency_key": rec.meta.idempotency_key.as_deref().map(|k| idem_key(k, out)),
        "due_at": rec.due_at,
        "lease_until": rec.lease_until,
        "worker": rec.worker,
        "finished_at": rec.finished_at,
        "died_at": rec.died_at,
        "payload": payload,
        "result": rec.result.clone().map(|r| out.value(r)),
        "last_error": rec.last_error.as_ref().map(|f| failure_json(f, out)),
        "history": history,
    })
}
