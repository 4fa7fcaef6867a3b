//! `okra-admin spend`: what the Okra account paid for, per UTC day and kind, and what the
//! fleet saved (free lookups, reuse), from the ledger the workers keep in Redis.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use okra_queue::Queue;
use okra_queue::rdb::SpendRow;

use crate::output::{Out, table};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin spend\n  okra-admin spend --days 30\n  okra-admin --json spend --days 7\n\npaid: verifies Okra answered with success (charged). uncertain: verifies whose answer never\ncame (maybe charged; the next attempt looks first). saved: paid verifies avoided by a free\nlookup or by reusing a profile paid for within okra.reuse_window. credits: the receipts' sum."
)]
pub struct SpendArgs {
    /// How many UTC days back, today included (1-400).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=400))]
    days: u32,
}

pub async fn run(queue: &Queue, args: SpendArgs, out: Out) -> anyhow::Result<ExitCode> {
    let account = queue
        .account()
        .ok_or_else(|| anyhow!("queue {} has no Okra account configured", queue.name()))?;
    let rows = account.spend(args.days).await?;
    if out.json {
        out.json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "okra account {}: the last {}",
        account.name(),
        crate::output::count(args.days as usize, "day", "days")
    );
    if rows.is_empty() {
        println!("nothing paid or saved");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(&[
        "day",
        "kind",
        "paid",
        "uncertain",
        "saved (lookup)",
        "saved (reuse)",
        "credits",
    ]);
    for r in &rows {
        t.add_row(row(r));
    }
    let total = rows.iter().fold(SpendRow::default(), |mut t, r| {
        t.paid += r.paid;
        t.uncertain += r.uncertain;
        t.saved_lookup += r.saved_lookup;
        t.saved_reuse += r.saved_reuse;
        t.credits += r.credits;
        t
    });
    t.add_row(row(&SpendRow {
        day: "total".into(),
        ..total
    }));
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

fn row(r: &SpendRow) -> Vec<String> {
    vec![
        r.day.clone(),
        r.kind.clone(),
        r.paid.to_string(),
        r.uncertain.to_string(),
        r.saved_lookup.to_string(),
        r.saved_reuse.to_string(),
        format!("{:.2}", r.credits),
    ]
}
