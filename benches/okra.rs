//! `make bench`, Okra end to end: N `bvn_verify` jobs (distinct people) through one real
//! `okra-worker` against the real `okra-sandbox`, and the CPU each part spends per job: the
//! worker and the sandbox (user + sys from `/proc`), Redis (`INFO cpu`). Modes, each on a fresh
//! queue in the same run, so their costs compare:
//!
//! - `reuse off`: the default;
//! - `reuse on, misses`: `okra.reuse_window` on and every job a new person, so every job pays
//!   the reuse check (one script call before its paid call, one after) and gains nothing: the
//!   cost of the reuse check on the hot path.
//!
//! Knobs (environment): `BENCH_OKRA_JOBS` (default 20000), `BENCH_OKRA_CONCURRENCY` (default
//! 200), `REDIS_URL` (default: a throwaway `redis-server` on a free port).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::procs::{Proc, Sandbox, WorkerSpec, start_worker};
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue, QueueConfig, RedisSettings};

const INDEX_KEY: &str = "bench-index-key-0123456789";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + sys) a process has used, from `/proc/PID/stat`.
fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name (which may hold spaces) start at the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

async fn redis_cpu(url: &str) -> anyhow::Result<f64> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let info: String = redis::cmd("INFO").arg("cpu").query_async(&mut conn).await?;
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(field("used_cpu_user") + field("used_cpu_sys"))
}

struct Mode {
    name: &'static str,
    env: Vec<(&'static str, String)>,
}

struct Figures {
    jobs_per_s: f64,
    worker_us: f64,
    sandbox_us: f64,
    redis_us: f64,
}

#[allow(clippy::too_many_arguments)]
async fn run(
    dir: &Path,
    n: usize,
    url: &str,
    sandbox: &Sandbox,
    mode: &Mode,
    jobs: usize,
    concurrency: usize,
) -> anyhow::Result<Figures> {
    let name = format!("bench-okra-{n}");
    let mut cfg = QueueConfig::new(&name);
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).expect("16+ bytes"));
    let queue = Queue::connect(&RedisSettings::new(url), cfg).await?;
    let batch: Vec<_> = (0..jobs)
        .map(|i| {
            (
                OkraJob::BvnVerify {
                    bvn: format!("2{n}{i:05}1234"),
                },
                EnqueueOptions::default(),
            )
        })
        .collect();
    queue.enqueue_bulk(batch).await?;
    let spec = WorkerSpec {
        queue: &name,
        concurrency,
        okra_timeout: "30s",
        env: mode.env.clone(),
        ..WorkerSpec::default()
    };
    let sandbox_before = proc_cpu(sandbox.proc.pid());
    let redis_before = redis_cpu(url).await?;
    let started = Instant::now();
    let mut worker: Proc = start_worker(dir, n, url, &sandbox.url, &spec);
    loop {
        let s = queue.stats().await?;
        if s.completed as usize >= jobs {
            break;
        }
        anyhow::ensure!(
            s.dead == 0 && started.elapsed() < Duration::from_secs(600),
            "the run did not complete: {s:?}; worker log:\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let worker_cpu = proc_cpu(worker.pid());
    let figures = Figures {
        jobs_per_s: jobs as f64 / wall,
        worker_us: worker_cpu * 1e6 / jobs as f64,
        sandbox_us: (proc_cpu(sandbox.proc.pid()) - sandbox_before) * 1e6 / jobs as f64,
        redis_us: (redis_cpu(url).await? - redis_before) * 1e6 / jobs as f64,
    };
    worker.terminate(Duration::from_secs(30));
    Ok(figures)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs = env("BENCH_OKRA_JOBS", 20_000);
    let concurrency = env("BENCH_OKRA_CONCURRENCY", 200);
    let (_server, url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let s = common::RedisServer::start();
            let url = s.url();
            (Some(s), url)
        }
    };
    let dir = tempfile::tempdir()?;
    let sandbox = Sandbox::start(dir.path(), &[]);
    println!(
        "okra end to end: {jobs} bvn_verify jobs (distinct people), one okra-worker at concurrency {concurrency}, okra-sandbox, redis {url}\n"
    );
    let modes = [
        Mode {
            name: "reuse off",
            env: vec![],
        },
        Mode {
            name: "reuse on, misses",
            env: vec![
                ("OKQ_OKRA__REUSE_WINDOW", "1h".into()),
                ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.into()),
            ],
        },
    ];
    println!(
        "{:<18} {:>10} {:>16} {:>16} {:>14}",
        "mode", "jobs/s", "worker µs/job", "sandbox µs/job", "Redis µs/job"
    );
    let mut rows = Vec::new();
    for (n, mode) in modes.iter().enumerate() {
        let f = run(dir.path(), n + 1, &url, &sandbox, mode, jobs, concurrency).await?;
        println!(
            "{:<18} {:>10.0} {:>16.1} {:>16.1} {:>14.1}",
            mode.name, f.jobs_per_s, f.worker_us, f.sandbox_us, f.redis_us
        );
        rows.push(f);
    }
    println!(
        "\nthe reuse check costs {:+.1} µs of worker CPU and {:+.1} µs of Redis CPU per job",
        rows[1].worker_us - rows[0].worker_us,
        rows[1].redis_us - rows[0].redis_us
    );
    Ok(())
}
