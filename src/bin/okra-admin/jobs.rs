//! `okra-admin job show`, and the record view `dlq show` shares.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::Subcommand;
use okra_queue::{Failure, JobRecord, Queue};
use serde_json::{Value, json};

use crate::output::{Out, ago, cell, table, when};

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
}

pub async fn run(queue: &Queue, cmd: JobCmd, out: Out) -> anyhow::Result<ExitCode> {
    match cmd {
        JobCmd::Show { id } => {
            let rec = queue
                .job(&id)
                .await?
                .ok_or_else(|| anyhow!("no job with id {id}"))?;
            show(&rec, out);
            Ok(ExitCode::SUCCESS)
        }
    }
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
    println!("kind      {}", m.kind);
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
        println!("idem key  {k}");
    }
    println!("payload   {}", out.json_text(&rec.payload));
    if let Some(f) = &rec.last_error {
        print_failure(f, out);
    }
    if rec.history.is_empty() {
        println!("history   (no attempt finished yet)");
    } else {
        println!("history   ({} entries, oldest first)", rec.history.len());
        let mut t = table(&[
            "#",
            "at",
            "outcome",
            "class",
            "http",
            "okra type",
            "took",
            "next in",
            "worker",
            "message",
        ]);
        for h in &rec.history {
            t.add_row(vec![
                if h.attempt > 0 {
                    h.attempt.to_string()
                } else {
                    "-".into()
                },
                when(h.at),
                h.outcome.clone(),
                h.class.clone().unwrap_or_default(),
                h.http_status.map(|s| s.to_string()).unwrap_or_default(),
                h.error_type.clone().unwrap_or_default(),
                h.duration_ms.map(|d| format!("{d}ms")).unwrap_or_default(),
                h.retry_in_ms.map(|d| format!("{d}ms")).unwrap_or_default(),
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
        "failure   class {}{}{}{}",
        f.class,
        f.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
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
        println!("okra said {}", cell(&out.json_text(b), 300));
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

/// A record as JSON, masked unless `--reveal`.
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
        "kind": rec.meta.kind,
        "attempts": rec.attempts,
        "max_attempts": rec.max_attempts,
        "max_attempts_from": if rec.meta.max_attempts.is_some() { "job" } else { "fleet" },
        "requeues": rec.meta.requeues,
        "created_at": rec.meta.created_at,
        "idempotency_key": rec.meta.idempotency_key,
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
