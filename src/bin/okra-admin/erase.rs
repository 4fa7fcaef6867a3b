//! `okra-admin erase`: every copy of one person, in every queue and the Okra account's reuse
//! store, per state. The number is hashed at once and never printed.

use std::process::ExitCode;

use clap::Args;
use okra_queue::Queue;
use okra_queue::okra::erase::Erasure;
use okra_queue::rdb::ErasedJobs;
use serde_json::json;

use crate::output::{Out, table};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin erase --bvn 22234567890 --dry-run\n  okra-admin erase --bvn 22234567890\n  okra-admin --json erase --nuban 0123456789\n\nRemoves the person's job records in every state (results, history, errors, dead letters),\nincluding other jobs whose answers name them, their identity-index entries and idempotency\nclaims in every queue, and the profiles the Okra account stored for reuse that name them. A job running at that moment is erased when its outcome\narrives. Needs queue.index_key. Recorded in the audit trail by keyed hash."
)]
pub struct EraseArgs {
    #[command(flatten)]
    person: crate::PersonArgs,
    /// Count what would be erased; change nothing.
    #[arg(long)]
    dry_run: bool,
}

pub async fn run(queue: &Queue, args: EraseArgs, out: Out) -> anyhow::Result<ExitCode> {
    let Some((ty, value)) = args.person.person()? else {
        return Err(crate::Usage("name the person with --bvn, --nin or --nuban".into()).into());
    };
    let e = queue.erase(ty, value, args.dry_run).await?;
    if out.json {
        out.json(&report_json(&e));
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if e.dry_run { "would erase" } else { "erased" };
    let total = e.total();
    println!(
        "{verb} {} #{}: {} in {}",
        ty.as_str(),
        e.person,
        crate::output::count(total.jobs() as usize, "job", "jobs"),
        crate::output::count(e.queues.len(), "queue", "queues"),
    );
    if !e.queues.is_empty() {
        let mut t = table(&[
            "queue",
            "ready",
            "scheduled",
            "running",
            "completed",
            "cancelled",
            "dead",
            "claims",
            "index",
        ]);
        for (name, c) in &e.queues {
            t.add_row(row(name, c));
        }
        if e.queues.len() > 1 {
            t.add_row(row("total", &total));
        }
        println!("{t}");
    }
    if let Some(account) = &e.account {
        println!(
            "okra account {account}: {} stored for reuse",
            crate::output::count(e.reused as usize, "profile", "profiles")
        );
    }
    if e.dry_run {
        println!("nothing changed (--dry-run)");
    }
    Ok(ExitCode::SUCCESS)
}

fn row(name: &str, c: &ErasedJobs) -> Vec<String> {
    let mut r = vec![name.to_string()];
    r.extend(
        [
            c.ready,
            c.scheduled,
            c.running,
            c.completed,
            c.cancelled,
            c.dead,
            c.claims,
            c.index,
        ]
        .iter()
        .map(u64::to_string),
    );
    r
}

/// `--json`: stable keys, per queue and in total.
pub fn report_json(e: &Erasure) -> serde_json::Value {
    json!({
        "dry_run": e.dry_run,
        "person": format!("#{}", e.person),
        "queues": e.queues.iter().map(|(q, c)| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["queue"] = json!(q);
            v
        }).collect::<Vec<_>>(),
        "total": e.total(),
        "account": e.account,
        "reused": e.reused,
    })
}
