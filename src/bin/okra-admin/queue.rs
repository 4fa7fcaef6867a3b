//! `okra-admin stats`, `queue pause|resume`, `workers`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use okra_queue::{Queue, Stats};

use crate::output::{Out, ago, table};

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Stop every worker from claiming (running jobs finish).
    #[command(after_help = "Example:\n  okra-admin queue pause --queue identity")]
    Pause,
    /// Let workers claim again (idle workers wake at once); also lifts a pause set by the
    /// circuit breaker or the drain guard.
    #[command(after_help = "Example:\n  okra-admin queue resume")]
    Resume,
    /// Lift an Okra rate-limit throttle now, instead of waiting for it to run out.
    #[command(after_help = "Example:\n  okra-admin queue unthrottle")]
    Unthrottle,
    /// Set the Okra account's calls per minute for every worker and queue on it (0 = no limit).
    #[command(after_help = "Example:\n  okra-admin queue rate-limit 40")]
    RateLimit {
        /// Calls per 61 s window, shared by every worker of every queue on the account.
        per_minute: u32,
    },
    /// Delete the queue: every job, dead letter, counter and event, and its registry entry.
    /// Refused while it holds jobs or live workers, unless --force.
    #[command(
        after_help = "Examples:\n  okra-admin --queue old-kyc queue delete\n  okra-admin --queue old-kyc queue delete --force"
    )]
    Delete {
        /// Delete it even though it holds jobs, dead letters or live workers.
        #[arg(long)]
        force: bool,
    },
}

pub async fn run(queue: &Queue, cmd: QueueCmd, out: Out) -> anyhow::Result<ExitCode> {
    if let QueueCmd::Delete { force } = cmd {
        let keys = queue.delete_queue(force).await?;
        if out.json {
            out.json(&serde_json::json!({ "queue": queue.name(), "deleted": true, "keys": keys }));
        } else {
            println!(
                "queue {} deleted ({})",
                queue.name(),
                crate::output::count(keys as usize, "key", "keys")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let QueueCmd::RateLimit { per_minute } = cmd {
        let account = queue.account().ok_or_else(|| {
            anyhow::anyhow!("queue {} has no Okra account configured", queue.name())
        })?;
        queue.set_rate_limit(per_minute).await?;
        if out.json {
            out.json(&serde_json::json!({ "account": account.name(), "requests_per_minute": per_minute }));
        } else {
            println!(
                "account {}: {per_minute} calls per minute for every worker",
                account.name()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if matches!(cmd, QueueCmd::Unthrottle) {
        let lifted = queue.unthrottle().await?;
        if out.json {
            out.json(&serde_json::json!({ "queue": queue.name(), "unthrottled": lifted }));
        } else if lifted {
            println!("queue {}: throttle lifted", queue.name());
        } else {
            println!("queue {} was not throttled", queue.name());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let paused = matches!(cmd, QueueCmd::Pause);
    if paused {
        queue.pause().await?;
    } else {
        queue.resume().await?;
    }
    if out.json {
        out.json(&serde_json::json!({ "queue": queue.name(), "paused": paused }));
    } else {
        println!(
            "queue {} {}",
            queue.name(),
            if paused { "paused" } else { "resumed" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn stats(queue: &Queue, watch: Option<Duration>, out: Out) -> anyhow::Result<ExitCode> {
    let Some(every) = watch else {
        print_stats(&queue.stats().await?, out);
        return Ok(ExitCode::SUCCESS);
    };
    loop {
        let s = queue.stats().await?;
        if out.json {
            // A stream of snapshots: JSON Lines, like `tail --follow --json`.
            out.json_line(&s);
            tokio::select! {
                _ = tokio::time::sleep(every) => continue,
                _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            }
        }
        if std::io::stdout().is_terminal() {
            // Home the cursor and clear, so the table refreshes in place.
            print!("\x1b[H\x1b[2J");
        }
        print_stats(&s, out);
        println!(
            "\nrefreshing every {} (Ctrl-C to stop)",
            humantime::format_duration(every)
        );
        let _ = std::io::stdout().flush();
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
        }
    }
}

fn print_stats(s: &Stats, out: Out) {
    if out.json {
        out.json(s);
        return;
    }
    let flags = match (s.paused, s.throttled_ms) {
        (true, _) => format!(
            "PAUSED: {}",
            s.pause_reason.as_deref().unwrap_or("paused by an operator")
        ),
        (false, 0) => "running".to_string(),
        (false, ms) => format!(
            "throttled for {} (Okra rate limit)",
            humantime::format_duration(Duration::from_secs(ms.div_ceil(1000)))
        ),
    };
    let waiting = if s.latency_ms > 0 {
        format!(
            ", oldest ready job waiting {}",
            crate::output::short(Duration::from_millis(s.latency_ms)).replace("0s", "<1s")
        )
    } else {
        String::new()
    };
    println!(
        "queue {}  ({flags}, {}{waiting})",
        s.queue,
        crate::output::count(s.workers as usize, "live worker", "live workers")
    );
    if let Some(a) = &s.account {
        let limit = if a.limit == 0 {
            "no limit".to_string()
        } else {
            a.limit.to_string()
        };
        println!(
            "okra account {}: {} calls in the last {} (limit {limit}){}",
            a.name,
            a.calls_in_window,
            humantime::format_duration(std::time::Duration::from_millis(a.window_ms)),
            if a.throttled_ms > 0 {
                format!(
                    ", throttled for {}",
                    humantime::format_duration(std::time::Duration::from_secs(
                        a.throttled_ms.div_ceil(1000)
                    ))
                )
            } else {
                String::new()
            }
        );
    }
    let mut states = table(&[
        "scheduled",
        "ready",
        "running",
        "dead",
        "completed",
        "cancelled",
    ]);
    states.add_row(vec![
        s.scheduled,
        s.ready,
        s.running,
        s.dead,
        s.completed,
        s.cancelled,
    ]);
    println!("{states}");
    println!("lifetime totals");
    let mut flow = table(&[
        "enqueued",
        "duplicates",
        "processed",
        "succeeded",
        "retried",
        "died",
        "cancelled",
    ]);
    flow.add_row(vec![
        s.enqueued,
        s.duplicates,
        s.processed,
        s.succeeded,
        s.retried,
        s.died,
        s.cancels,
    ]);
    println!("{flow}");
    let mut care = table(&[
        "requeued",
        "deleted",
        "trimmed",
        "erased",
        "released",
        "lease expired",
        "late outcomes",
        "reap races",
        "orphans",
    ]);
    care.add_row(vec![
        s.requeued,
        s.deleted,
        s.dead_trimmed,
        s.erased,
        s.released,
        s.lease_expired,
        s.late_outcomes,
        s.reap_races,
        s.orphans,
    ]);
    println!("{care}");
}

/// `okra-admin queues`: every registered queue with its counts per state.
pub async fn queues(queue: &Queue, out: Out) -> anyhow::Result<ExitCode> {
    let names = queue.queues().await?;
    let mut rows = Vec::with_capacity(names.len());
    for name in &names {
        rows.push(queue.sibling(name)?.stats().await?);
    }
    if out.json {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            queue: &'a str,
            scheduled: u64,
            ready: u64,
            running: u64,
            dead: u64,
            completed: u64,
            cancelled: u64,
            workers: u64,
            paused: bool,
        }
        let rows: Vec<Row> = rows
            .iter()
            .map(|s| Row {
                queue: &s.queue,
                scheduled: s.scheduled,
                ready: s.ready,
                running: s.running,
                dead: s.dead,
                completed: s.completed,
                cancelled: s.cancelled,
                workers: s.workers,
                paused: s.paused,
            })
            .collect();
        out.json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "no queues yet: a queue is registered when a job is first enqueued to it or a worker starts on it"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(&[
        "queue",
        "scheduled",
        "ready",
        "running",
        "dead",
        "completed",
        "cancelled",
        "workers",
        "state",
    ]);
    for s in &rows {
        t.add_row(vec![
            s.queue.clone(),
            s.scheduled.to_string(),
            s.ready.to_string(),
            s.running.to_string(),
            s.dead.to_string(),
            s.completed.to_string(),
            s.cancelled.to_string(),
            s.workers.to_string(),
            if s.paused { "paused" } else { "running" }.to_string(),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

pub async fn workers(queue: &Queue, out: Out) -> anyhow::Result<ExitCode> {
    let workers = queue.workers().await?;
    if out.json {
        out.json(&workers);
        return Ok(ExitCode::SUCCESS);
    }
    if workers.is_empty() {
        println!("no workers registered on queue {}", queue.name());
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(&[
        "worker",
        "host",
        "pid",
        "alive",
        "in flight",
        "concurrency",
        "started",
        "last seen",
        "version",
    ]);
    for w in workers {
        t.add_row(vec![
            w.id,
            w.host,
            w.pid.to_string(),
            if w.alive { "yes".into() } else { "no".into() },
            w.in_flight.to_string(),
            w.concurrency.to_string(),
            ago(w.started_at),
            ago(w.last_seen),
            w.version,
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}
