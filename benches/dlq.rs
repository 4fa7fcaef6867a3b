//! `make bench` (second part): how fast operators read dead letters when there are many.
//!
//! Makes `BENCH_DEAD` dead letters (default 1,000,000) by running jobs that fail terminally
//! through the real workers, then times `dlq list`'s reads: a page of the newest, a filtered
//! page, a deep page, a two-filter page and a filtered count. Target: a page under ~50 ms.
//! Then serves the same queue with the real `okra-admin web` and times its pages by their
//! `Server-Timing` (server time, median of 21). Target: every page under 100 ms.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use apalis::prelude::BoxDynError;
use okra_queue::{DeadFilter, EnqueueOptions, Job, JobContext, JobError, Queue, QueueConfig};
use serde::{Deserialize, Serialize};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLASSES: [(&str, u16); 4] = [
    ("server_error", 500),
    ("not_found", 404),
    ("flagged_user", 200),
    ("bad_request", 400),
];
const KINDS: [&str; 3] = ["bvn_verify", "nin_verify", "customer_verify"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Doomed {
    kind: String,
    n: usize,
}

impl Job for Doomed {
    fn kind(&self) -> &str {
        &self.kind
    }
}

async fn fail(job: Doomed, _ctx: JobContext) -> Result<(), BoxDynError> {
    let (class, status) = CLASSES[job.n % CLASSES.len()];
    Err(JobError::terminal(class, format!("job {} failed", job.n))
        .http_status(status)
        .into())
}

/// Median of `runs` timings of `f`, in ms.
async fn time<F, Fut, T>(runs: usize, mut f: F) -> (f64, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f().await);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (times[runs / 2], last.unwrap())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_DEAD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let server = common::RedisServer::start();
    let mut cfg = QueueConfig::new("dlqbench");
    cfg.retry.max_attempts = 1;
    cfg.dead.max = 0; // no cap: keep them all
    let queue = Queue::connect(&server.settings(), cfg).await?;

    println!("okra-queue dead-letter read benchmark: {n} dead letters");
    let t = Instant::now();
    let jobs: Vec<_> = (0..n)
        .map(|i| {
            (
                Doomed {
                    kind: KINDS[i % KINDS.len()].into(),
                    n: i,
                },
                EnqueueOptions::default(),
            )
        })
        .collect();
    queue.enqueue_bulk(jobs).await?;
    let opts = okra_queue::WorkerOptions {
        concurrency: 1000,
        batch: 1000,
        ..common::test_options()
    };
    let fleet = common::start_fleet(&queue, opts, 2, fail).await;
    while queue.stats().await?.dead < n as u64 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fleet.stop().await;
    println!(
        "made {n} dead letters in {:.1} s (enqueue + run + dead-letter index)\n",
        t.elapsed().as_secs_f64()
    );

    let class = |c: &str| DeadFilter {
        class: Some(c.into()),
        ..DeadFilter::default()
    };
    let two = DeadFilter {
        class: Some("not_found".into()),
        kind: Some("nin_verify".into()),
        ..DeadFilter::default()
    };
    let deep_page = (n as u64 / 4 / 20).max(1);
    println!(
        "{:<58} {:>10} {:>8}",
        "read (okra-admin dlq ...)", "median ms", "rows"
    );
    let runs = 21;
    let rows: Vec<(String, f64, usize)> = vec![
        {
            let all = DeadFilter::default();
            let (ms, r) = time(runs, || queue.dead_page(&all, 1, 20)).await;
            ("list (newest 20)".into(), ms, r?.len())
        },
        {
            let f = class("server_error");
            let (ms, r) = time(runs, || queue.dead_page(&f, 1, 20)).await;
            ("list --class server_error".into(), ms, r?.len())
        },
        {
            let f = class("flagged_user");
            let (ms, r) = time(runs, || queue.dead_page(&f, deep_page, 20)).await;
            (
                format!("list --class flagged_user --page {deep_page} (last page)"),
                ms,
                r?.len(),
            )
        },
        {
            let (ms, r) = time(runs, || queue.dead_page(&two, 1, 20)).await;
            (
                "list --class not_found --kind nin_verify".into(),
                ms,
                r?.len(),
            )
        },
        {
            let f = class("bad_request");
            let (ms, r) = time(runs, || queue.dead_count(&f)).await;
            (
                "count --class bad_request (page footer)".into(),
                ms,
                r? as usize,
            )
        },
    ];
    for (what, ms, count) in rows {
        println!("{what:<58} {ms:>10.2} {count:>8}");
    }
    web_pages(&server, &queue, n).await
}

/// Server time of the dashboard's pages with `n` dead letters.
async fn web_pages(server: &common::RedisServer, queue: &Queue, n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let web = common::web::Web::start(dir.path(), server, queue.name(), &[], &[]);
    let letter = queue
        .dead_page(&DeadFilter::default(), 1, 1)
        .await?
        .pop()
        .map(|l| l.id)
        .unwrap_or_default();
    let deep = (n as u64 / 4 / 50).max(1);
    let q = queue.name();
    let pages = [
        ("overview".to_string(), "/".to_string()),
        ("dead letters, newest 50".into(), format!("/q/{q}/dead")),
        (
            "dead letters --class server_error".into(),
            format!("/q/{q}/dead?class=server_error"),
        ),
        (
            format!("dead letters --class flagged_user, last page ({deep})"),
            format!("/q/{q}/dead?class=flagged_user&page={deep}"),
        ),
        (
            "dead letters --class not_found --kind nin_verify".into(),
            format!("/q/{q}/dead?class=not_found&kind=nin_verify"),
        ),
        (
            "summary by class, kind, status, type".into(),
            format!("/q/{q}/dead/summary"),
        ),
        (
            "bulk requeue confirmation (count + 20)".into(),
            format!("/q/{q}/dead/confirm?action=requeue&class=bad_request"),
        ),
        ("one dead letter".into(), format!("/q/{q}/dead/{letter}")),
        ("jobs, ready".into(), format!("/q/{q}/jobs?state=ready")),
    ];
    let client = common::web::client();
    println!(
        "\n{:<58} {:>10} {:>10}",
        "okra-admin web page", "server ms", "total ms"
    );
    for (what, path) in pages {
        let mut server_ms = Vec::new();
        let mut total_ms = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let r = client.get(format!("{}{path}", web.url)).send().await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
            let timing = r.headers()["server-timing"].to_str()?.to_string();
            r.bytes().await?;
            total_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            server_ms.push(timing.trim_start_matches("app;dur=").parse::<f64>()?);
        }
        println!(
            "{what:<58} {:>10.2} {:>10.2}",
            common::cpu::median(&mut server_ms),
            common::cpu::median(&mut total_ms)
        );
    }
    Ok(())
}
