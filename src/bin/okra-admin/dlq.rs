//! `okra-admin dlq ...`: list, show, requeue, purge, export and summarise dead letters.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use okra_queue::okra::mask;
use okra_queue::{BulkReport, DeadFilter, DeadLetter, Queue, RequeueAt};
use serde_json::{Value, json};

use crate::output::{Out, ago, cell, count, parse_rfc3339, table};
use crate::{FilterArgs, Usage};

#[derive(Debug, Subcommand)]
pub enum DlqCmd {
    /// A page of dead letters, newest first.
    #[command(
        after_help = "Examples:\n  okra-admin dlq list\n  okra-admin dlq list --class server_error --kind bvn_verify --since 1h --limit 50\n  okra-admin dlq list --status 404 --page 2 --json"
    )]
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// Letters per page (1-1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
        limit: u64,
        /// Page number (1 = newest).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        page: u64,
    },
    /// A dead letter's whole record: why it died, what Okra said, every attempt.
    #[command(after_help = "Example:\n  okra-admin dlq show 01JD3ZK5Q0V6Y8T2N4M7R9W1XB")]
    Show {
        /// Job id.
        id: String,
    },
    /// Send dead letters back to work with a fresh attempt budget (their history is kept).
    #[command(
        after_help = "Examples:\n  okra-admin dlq requeue 01JD3ZK5Q0V6Y8T2N4M7R9W1XB\n  okra-admin dlq requeue --all --class okra_timeout --since 2h --dry-run\n  okra-admin dlq requeue --all --kind bvn_verify --delay 10m"
    )]
    Requeue {
        #[command(flatten)]
        target: Target,
        /// Run them after this delay.
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "at")]
        delay: Option<Duration>,
        /// Run them at this RFC 3339 time.
        #[arg(long, value_parser = parse_rfc3339)]
        at: Option<SystemTime>,
    },
    /// Delete dead letters for good.
    #[command(
        after_help = "Examples:\n  okra-admin dlq purge 01JD3ZK5Q0V6Y8T2N4M7R9W1XB\n  okra-admin dlq purge --all --class flagged_user --until 7d --dry-run\n  okra-admin dlq purge --all --yes"
    )]
    Purge {
        #[command(flatten)]
        target: Target,
        /// Do not ask before a bulk purge.
        #[arg(long)]
        yes: bool,
    },
    /// Write matching dead letters as JSON Lines (payload, failure and history), oldest first.
    #[command(
        after_help = "Examples:\n  okra-admin dlq export --class server_error --out dead.jsonl\n  okra-admin dlq export --since 1d --reveal > dead.jsonl"
    )]
    Export {
        #[command(flatten)]
        filter: FilterArgs,
        /// File to write (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Counts of matching dead letters by class, kind and HTTP status.
    #[command(
        after_help = "Examples:\n  okra-admin dlq summary\n  okra-admin dlq summary --since 1h --json"
    )]
    Summary {
        #[command(flatten)]
        filter: FilterArgs,
    },
}

/// Which letters a bulk action applies to.
#[derive(Debug, Args)]
pub struct Target {
    /// Dead-letter ids.
    ids: Vec<String>,
    /// Every letter matching the filters.
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// Show exactly what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
}

impl Target {
    fn check(&self) -> anyhow::Result<()> {
        if self.ids.is_empty() && !self.all {
            return Err(
                Usage("give dead-letter ids, or --all (with optional filters)".into()).into(),
            );
        }
        if !self.ids.is_empty() && !self.filter.filter().is_empty() {
            return Err(Usage("filters apply with --all only".into()).into());
        }
        Ok(())
    }
}

pub async fn run(queue: &Queue, cmd: DlqCmd, out: Out) -> anyhow::Result<ExitCode> {
    match cmd {
        DlqCmd::List {
            filter,
            limit,
            page,
        } => {
            let filter = filter.filter();
            out.audit_reveal(queue, "list-reveal", &filter.to_string())
                .await?;
            list(queue, &filter, limit, page, out).await
        }
        DlqCmd::Show { id } => {
            let rec = queue
                .dead_get(&id)
                .await
                .map_err(|_| anyhow::anyhow!("no dead letter with id {id}"))?;
            out.audit_reveal(queue, "show-reveal", &format!("job {id}"))
                .await?;
            crate::jobs::show(&rec, out);
            Ok(ExitCode::SUCCESS)
        }
        DlqCmd::Requeue { target, delay, at } => {
            okra_queue::job::check_delay(delay, at).map_err(Usage)?;
            let when = match (delay, at) {
                (Some(d), _) => RequeueAt::After(d),
                (_, Some(t)) => RequeueAt::At(t),
                _ => RequeueAt::Now,
            };
            bulk(queue, target, Bulk::Requeue(when), false, out).await
        }
        DlqCmd::Purge { target, yes } => bulk(queue, target, Bulk::Purge, yes, out).await,
        DlqCmd::Export { filter, out: path } => export(queue, &filter.filter(), path, out).await,
        DlqCmd::Summary { filter } => summary(queue, &filter.filter(), out).await,
    }
}

fn letter_json(l: &DeadLetter, out: Out) -> Value {
    let mut v = serde_json::to_value(l).unwrap_or(Value::Null);
    v["message"] = Value::String(out.text(&l.message));
    // A kind is a name; one another producer wrote can hold a number.
    v["kind"] = Value::String(mask::mask_text(&l.kind));
    if let Some(p) = &l.payload {
        v["payload"] = serde_json::from_str::<Value>(p)
            .map(|p| out.value(p))
            .unwrap_or_else(|_| Value::String(out.text(p)));
    }
    v
}

fn letters_table(letters: &[DeadLetter], out: Out) -> comfy_table::Table {
    let mut t = table(&[
        "id", "died", "kind", "class", "http", "type", "attempts", "message",
    ]);
    for l in letters {
        t.add_row(vec![
            l.id.clone(),
            ago(l.died_at),
            mask::mask_text(&l.kind),
            l.class.clone(),
            l.http_status.map(|s| s.to_string()).unwrap_or_default(),
            l.okra_type.clone().unwrap_or_default(),
            format!("{}/{}", l.attempts, l.max_attempts),
            cell(&out.text(&l.message), 70),
        ]);
    }
    t
}

async fn list(
    queue: &Queue,
    filter: &DeadFilter,
    limit: u64,
    page: u64,
    out: Out,
) -> anyhow::Result<ExitCode> {
    let letters = queue.dead_page(filter, page, limit).await?;
    if out.json {
        out.json(
            &letters
                .iter()
                .map(|l| letter_json(l, out))
                .collect::<Vec<_>>(),
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Counting is an index read when at most one dimension is filtered.
    let total = if filter.is_indexed() {
        Some(queue.dead_count(filter).await?)
    } else {
        None
    };
    if letters.is_empty() {
        match total {
            Some(n) if n > 0 && page > 1 => println!(
                "page {page} is past the end: {} make {} of {limit}",
                count(n as usize, "dead letter", "dead letters"),
                count(n.div_ceil(limit) as usize, "page", "pages")
            ),
            _ => println!(
                "no dead letters{}",
                if filter.is_empty() { "" } else { " match" }
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", letters_table(&letters, out));
    match total {
        Some(n) => println!(
            "page {page} of {} ({}{})",
            n.div_ceil(limit).max(1),
            count(n as usize, "dead letter", "dead letters"),
            if filter.is_empty() { "" } else { " match" }
        ),
        None => println!("page {page} ({} shown)", letters.len()),
    }
    Ok(ExitCode::SUCCESS)
}

enum Bulk {
    Requeue(RequeueAt),
    Purge,
}

impl Bulk {
    fn verb(&self) -> &'static str {
        match self {
            Bulk::Requeue(_) => "requeue",
            Bulk::Purge => "purge",
        }
    }
    fn done(&self) -> &'static str {
        match self {
            Bulk::Requeue(_) => "requeued",
            Bulk::Purge => "purged",
        }
    }
}

async fn bulk(
    queue: &Queue,
    target: Target,
    action: Bulk,
    yes: bool,
    out: Out,
) -> anyhow::Result<ExitCode> {
    target.check()?;
    let filter = DeadFilter {
        until: Some(
            target
                .filter
                .filter()
                .until
                .unwrap_or_else(okra_queue::job::now_ms),
        ),
        ..target.filter.filter()
    };
    if !target.ids.is_empty() {
        return by_ids(queue, &target, &action, out).await;
    }
    if target.dry_run {
        let mut scan = queue.dead_scan(&filter, false).await?;
        let mut letters = Vec::new();
        while let Some(chunk) = scan.next_chunk().await? {
            letters.extend(chunk);
        }
        // In the order `dlq list` shows them: newest first.
        letters.sort_by(|a, b| (b.died_at, &b.id).cmp(&(a.died_at, &a.id)));
        if out.json {
            out.json(&json!({
                "dry_run": true,
                "action": action.verb(),
                "would_change": letters.len(),
                "letters": letters.iter().map(|l| letter_json(l, out)).collect::<Vec<_>>(),
            }));
        } else {
            if !letters.is_empty() {
                println!("{}", letters_table(&letters, out));
            }
            println!(
                "dry run: would {} {}; nothing changed",
                action.verb(),
                count(letters.len(), "dead letter", "dead letters")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    // Counting scans by itself when the index cannot answer (Queue::dead_count).
    let total = queue.dead_count(&filter).await?;
    if total == 0 {
        if out.json {
            out.json(&BulkReport::default());
        } else {
            println!("no dead letters match; nothing to {}", action.verb());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if matches!(action, Bulk::Purge) && !yes {
        if !std::io::stdin().is_terminal() || out.json {
            bail!(
                "refusing to purge {} without --yes",
                count(total as usize, "dead letter", "dead letters")
            );
        }
        eprint!(
            "Purge {} for good? [y/N] ",
            count(total as usize, "dead letter", "dead letters")
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing purged");
            return Ok(ExitCode::FAILURE);
        }
    }
    let bar = out.progress(total, action.done());
    let progress = |r: BulkReport| bar.set_position(r.matched);
    let report = match &action {
        Bulk::Requeue(at) => queue.dead_requeue_matching(&filter, *at, progress).await?,
        Bulk::Purge => queue.dead_purge_matching(&filter, progress).await?,
    };
    bar.finish_and_clear();
    if out.json {
        out.json(&report);
    } else {
        println!(
            "{} {} of {} matching {}",
            action.done(),
            report.changed,
            report.matched,
            if report.matched == 1 {
                "dead letter"
            } else {
                "dead letters"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn by_ids(
    queue: &Queue,
    target: &Target,
    action: &Bulk,
    out: Out,
) -> anyhow::Result<ExitCode> {
    let ids = &target.ids;
    let changed: Vec<String> = if target.dry_run {
        let briefs = queue.rdb().dead_briefs(ids, false).await?;
        briefs
            .into_iter()
            .filter(|b| b.died_at.is_some())
            .map(|b| b.id)
            .collect()
    } else {
        match action {
            Bulk::Requeue(at) => queue.dead_requeue(ids, *at).await?,
            Bulk::Purge => queue.dead_delete(ids).await?,
        }
    };
    let missing: Vec<&String> = ids.iter().filter(|id| !changed.contains(id)).collect();
    if out.json {
        out.json(&json!({
            "dry_run": target.dry_run,
            "action": action.verb(),
            if target.dry_run { "would_change" } else { "changed" }: changed,
            "not_dead": missing,
        }));
    } else {
        for id in &changed {
            println!(
                "{} {id}",
                if target.dry_run {
                    format!("would {}", action.verb())
                } else {
                    action.done().to_string()
                }
            );
        }
        for id in &missing {
            eprintln!("okra-admin: {id} is not a dead letter (unknown id, or no longer dead)");
        }
    }
    Ok(if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn export(
    queue: &Queue,
    filter: &DeadFilter,
    path: Option<PathBuf>,
    out: Out,
) -> anyhow::Result<ExitCode> {
    let total = if filter.is_indexed() {
        queue.dead_count(filter).await?
    } else {
        0
    };
    let mut sink: Box<dyn Write> = match &path {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let bar = if path.is_some() {
        out.progress(total, "exporting")
    } else {
        indicatif::ProgressBar::hidden()
    };
    out.audit_reveal(queue, "export-reveal", &filter.to_string())
        .await?;
    let mut scan = queue.dead_scan(filter, true).await?;
    let mut n = 0u64;
    while let Some(letters) = scan.next_chunk().await? {
        let ids: Vec<String> = letters.iter().map(|l| l.id.clone()).collect();
        let histories = queue.dead_histories(&ids).await?;
        for (l, history) in letters.iter().zip(histories) {
            let mut v = letter_json(l, out);
            v["history"] = serde_json::to_value(
                history
                    .into_iter()
                    .map(|mut e| {
                        e.message = e.message.map(|m| out.text(&m));
                        e
                    })
                    .collect::<Vec<_>>(),
            )?;
            writeln!(sink, "{v}")?;
            n += 1;
        }
        bar.set_position(n);
    }
    sink.flush()?;
    bar.finish_and_clear();
    let masked = if out.reveal {
        ""
    } else {
        " (identifiers masked; --reveal exports them as stored)"
    };
    match path {
        Some(p) if out.json => {
            out.json(&json!({ "exported": n, "file": p, "masked": !out.reveal }))
        }
        Some(p) => eprintln!(
            "exported {} to {}{masked}",
            count(n as usize, "dead letter", "dead letters"),
            p.display()
        ),
        None => eprintln!(
            "exported {}{masked}",
            count(n as usize, "dead letter", "dead letters")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn summary(queue: &Queue, filter: &DeadFilter, out: Out) -> anyhow::Result<ExitCode> {
    let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    let mut total = 0u64;
    let mut scan = queue.dead_scan(filter, false).await?;
    while let Some(letters) = scan.next_chunk().await? {
        for l in letters {
            total += 1;
            *by_class.entry(l.class.clone()).or_default() += 1;
            *by_kind.entry(mask::mask_text(&l.kind)).or_default() += 1;
            *by_status
                .entry(
                    l.http_status
                        .map_or_else(|| "none".into(), |s| s.to_string()),
                )
                .or_default() += 1;
            examples.insert(l.class.clone(), l.message.clone());
        }
    }
    if out.json {
        out.json(&json!({ "total": total, "by_class": by_class, "by_kind": by_kind, "by_status": by_status }));
        return Ok(ExitCode::SUCCESS);
    }
    if total == 0 {
        println!(
            "no dead letters{}",
            if filter.is_empty() { "" } else { " match" }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<_> = by_class.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut t = table(&["class", "dead letters", "latest message"]);
    for (class, n) in rows {
        let msg = examples
            .get(&class)
            .map(|m| cell(&out.text(m), 80))
            .unwrap_or_default();
        t.add_row(vec![class, n.to_string(), msg]);
    }
    println!("{t}");
    let line = |m: BTreeMap<String, u64>| {
        m.into_iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("by kind:   {}", line(by_kind));
    println!("by status: {}", line(by_status));
    println!("total:     {total}");
    Ok(ExitCode::SUCCESS)
}
