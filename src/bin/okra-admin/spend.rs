//! `okra-admin spend`: what the identity providers were paid for, per UTC day, provider and
//! kind, in calls and in naira (`[provider.NAME] price`), and what the fleet saved (free
//! lookups, reuse), from the ledger the workers keep in Redis.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use okra_queue::Queue;
use okra_queue::okra::providers::{self, ProviderSettings};
use okra_queue::rdb::SpendRow;
use serde::Serialize;

use crate::output::{Out, table};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin spend\n  okra-admin spend --days 30\n  okra-admin --json spend --days 7\n\npaid: verifies the provider answered and charged for. uncertain: verifies whose answer never\ncame (maybe charged; the next attempt looks first or holds). saved: paid verifies avoided by a\nfree lookup or by reusing a profile paid for within okra.reuse_window. naira: paid times\n[provider.NAME] price for the kind (0 without a price). credits: Okra's receipts' sum."
)]
pub struct SpendArgs {
    /// How many UTC days back, today included (1-400).
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..=400))]
    days: u32,
}

/// One row: a day, a provider and a kind.
#[derive(Debug, Clone, Default, Serialize)]
struct Row {
    day: String,
    provider: String,
    kind: String,
    paid: u64,
    uncertain: u64,
    saved_lookup: u64,
    saved_reuse: u64,
    credits: f64,
    naira: f64,
}

/// A ledger row, split into provider and kind ([`providers::ledger_split`]), and priced.
fn row(r: SpendRow, prices: &ProviderSettings) -> Row {
    let (provider, kind) = providers::ledger_split(&r.kind);
    let (provider, kind) = (provider.to_string(), kind.to_string());
    let price = prices
        .conf(&provider)
        .price
        .get(&kind)
        .copied()
        .unwrap_or(0.0);
    Row {
        naira: price * r.paid as f64,
        day: r.day,
        provider,
        kind,
        paid: r.paid,
        uncertain: r.uncertain,
        saved_lookup: r.saved_lookup,
        saved_reuse: r.saved_reuse,
        credits: r.credits,
    }
}

pub async fn run(
    queue: &Queue,
    prices: &ProviderSettings,
    args: SpendArgs,
    out: Out,
) -> anyhow::Result<ExitCode> {
    let account = queue
        .account()
        .ok_or_else(|| anyhow!("queue {} has no Okra account configured", queue.name()))?;
    let rows: Vec<Row> = account
        .spend(args.days)
        .await?
        .into_iter()
        .map(|r| row(r, prices))
        .collect();
    let total = rows.iter().fold(
        Row {
            day: "total".into(),
            ..Row::default()
        },
        |mut t, r| {
            t.paid += r.paid;
            t.uncertain += r.uncertain;
            t.saved_lookup += r.saved_lookup;
            t.saved_reuse += r.saved_reuse;
            t.credits += r.credits;
            t.naira += r.naira;
            t
        },
    );
    if out.json {
        // An array of rows, as before providers: a script sums what it needs.
        out.json(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "account {}: the last {}",
        account.name(),
        crate::output::count(args.days as usize, "day", "days")
    );
    if rows.is_empty() {
        println!("nothing paid or saved");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = table(&[
        "day",
        "provider",
        "kind",
        "paid",
        "uncertain",
        "saved (lookup)",
        "saved (reuse)",
        "credits",
        "naira",
    ]);
    for r in rows.iter().chain(std::iter::once(&total)) {
        t.add_row(vec![
            r.day.clone(),
            r.provider.clone(),
            r.kind.clone(),
            r.paid.to_string(),
            r.uncertain.to_string(),
            r.saved_lookup.to_string(),
            r.saved_reuse.to_string(),
            format!("{:.2}", r.credits),
            format!("{:.2}", r.naira),
        ]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}
