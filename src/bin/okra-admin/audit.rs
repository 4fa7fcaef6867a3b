//! `okra-admin audit`: the audit trail of operator changes, newest first.

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use clap::Args;
use okra_queue::Queue;

use crate::output::{Out, cell, table, when};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin audit\n  okra-admin audit --since 7d --limit 500\n  okra-admin --json audit --since 2026-11-01T00:00:00Z\n\nEvery requeue, purge, cancel, run-now, pause, resume, unthrottle, rate-limit, queue delete,\nerase, rekey, list, show or export with --reveal and dashboard login, from every queue: when, who\n(--actor / OKQ_ACTOR, default user@host; the dashboard token's name), what, the filter, the\ncounts and the result. The stream keeps about the last 100000 entries."
)]
pub struct AuditArgs {
    /// Changes in the last DURATION (1h, 7d) or since an RFC 3339 time.
    #[arg(long, default_value = "1d", value_parser = crate::output::parse_time_ago)]
    since: u64,
    /// At most this many entries (1-10000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    limit: u32,
}

pub async fn run(queue: &Queue, args: AuditArgs, out: Out) -> anyhow::Result<ExitCode> {
    let since = SystemTime::UNIX_EPOCH + Duration::from_millis(args.since);
    let entries = queue.audit_log(since, args.limit as usize).await?;
    if out.json {
        out.json(&entries);
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        println!("no operator changes since {}", when(args.since));
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(&[
        "at", "actor", "action", "queue", "filter", "counts", "result",
    ]);
    for e in &entries {
        let counts = match &e.counts {
            // Zeros left out: what the change touched reads at a glance (--json has them all).
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(_, v)| v.as_u64() != Some(0))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        t.add_row(vec![
            when(e.at),
            e.actor.clone(),
            e.action.clone(),
            e.queue.clone(),
            cell(&e.filter, 60),
            counts,
            cell(&e.result, 60),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}
