//! `okra-admin tail`: the queue's events, the last few and then live.

use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;
use okra_queue::queue::events::Since;
use okra_queue::{Event, Queue};

use crate::output::{Out, when};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin tail\n  okra-admin tail --follow --class server_error\n  okra-admin tail --follow --json | jq .job"
)]
pub struct TailArgs {
    /// Keep printing events as they happen, until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    /// Only events of this failure class (retry and dead events carry one).
    #[arg(long)]
    class: Option<String>,
    /// Only this event: enqueued, retry, completed, dead, cancelled or requeued.
    #[arg(long, value_parser = parse_event)]
    event: Option<okra_queue::EventKind>,
    /// How many recent events to print first (0-10000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    last: u64,
}

fn parse_event(s: &str) -> Result<okra_queue::EventKind, String> {
    okra_queue::EventKind::parse(s).ok_or_else(|| {
        format!("`{s}` is not an event (enqueued, retry, completed, dead, cancelled, requeued)")
    })
}

pub async fn run(queue: &Queue, args: TailArgs, out: Out) -> anyhow::Result<ExitCode> {
    let wanted = |e: &Event| {
        args.class
            .as_deref()
            .is_none_or(|c| e.class.as_deref() == Some(c))
            && args.event.is_none_or(|k| e.event == k)
    };
    // The recent events are read first; following resumes right after the newest of them.
    let recent = queue.recent_events(10_000).await?;
    let position = recent.last().map(|e| e.position.clone());
    let shown: Vec<&Event> = recent.iter().filter(|e| wanted(e)).collect();
    for e in &shown[shown.len().saturating_sub(args.last as usize)..] {
        print(e, out);
    }
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    let from = position.map_or(Since::Now, Since::After);
    let mut events = Box::pin(queue.events(from).await?);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(ExitCode::SUCCESS),
            next = events.next() => match next {
                Some(Ok(e)) if wanted(&e) => print(&e, out),
                Some(Ok(_)) => {}
                Some(Err(e)) => eprintln!("okra-admin: events: {e} (retrying)"),
                None => return Ok(ExitCode::SUCCESS),
            },
        }
    }
}

/// One event per line: JSON Lines with `--json`, else aligned text.
fn print(e: &Event, out: Out) {
    if out.json {
        out.json_line(e);
        return;
    }
    println!(
        "{}  {:<9}  {}  {:<17}  attempt {:<3} {}",
        when(e.at),
        e.event.as_str(),
        e.job,
        e.kind,
        e.attempt,
        e.class.as_deref().unwrap_or("")
    );
}
