//! `make bench`, Okra end to end: N `bvn_verify` jobs (distinct people) through one real
//! `okra-worker` against the real `okra-sandbox`, and the CPU each part spends per job: the
//! worker and the sandbox (user + sys from `/proc`), Redis (`INFO cpu`). Modes, each on a fresh
//! queue in the same run, so their costs compare:
//!
//! - `reuse off`: the default;
//! - `reuse on, misses`: `okra.reuse_window` on and every job a new person, so every job pays
//!   the reuse check (its begin before the paid call and its settle after, each batched with
//!   the other jobs' into one script call) and gains nothing: the cost of the reuse check on
//!   the hot path, printed as ratios to `reuse off` (Redis and worker CPU per job);
//! - `reuse off, index key`: the worker with `queue.index_key` (which reuse needs) but no
//!   window: it indexes the identifiers each answer carries, so `reuse on` compared with it is
//!   the reuse check alone;
//! - each again with `[seal] keys_file` (producer and worker): the cost of sealing at rest,
//!   each pair run A B B A so a drift of the machine weighs on both sides;
//! - `traced`: the default with OpenTelemetry export on and every trace sampled
//!   (`OTEL_EXPORTER_OTLP_ENDPOINT` at a local OTLP/HTTP sink, `OTEL_TRACES_SAMPLER=always_on`),
//!   against `reuse off` (tracing off);
//! - `collector down`: the same with the endpoint at a loopback port nobody listens on: the
//!   spans are dropped (counted) and the jobs must drain at the rate they do with tracing off.
//!
//! Then the sealing work alone, measured in this process on an Okra-shaped job (what a worker
//! does per job with sealing on: open the payload, seal the result, and with reuse on seal the
//! stored profile), so its cost per job is exact where the end-to-end runs are noisy.
//!
//! Knobs (environment): `BENCH_OKRA_JOBS` (default 20000), `BENCH_OKRA_CONCURRENCY` (default
//! 200), `REDIS_URL` (default: a throwaway `redis-server` on a free port, emptied before each
//! mode so each starts from the same state; a `REDIS_URL` server is never emptied),
//! `BENCH_OKRA_REUSE_ROUNDS` (set: only the reuse check, that many rounds, and the median of
//! their ratios), `BENCH_OKRA_INSTRUCTIONS` (set: only the reuse check, as the worker's
//! instructions per job counted by valgrind, that many rounds: `okra/instructions.rs`).

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "okra/instructions.rs"]
mod instructions;

use common::cpu::{
    commandstats, env, median, memory_per_job, per_job, proc_cpu, proc_sys_cpu, queue_memory,
    redis_cpu, reset_commandstats,
};

use std::path::Path;
use std::time::{Duration, Instant};

use common::procs::{Proc, Sandbox, WorkerSpec, start_worker};
use okra_queue::okra::OkraJob;
use okra_queue::seal::{Column, Place, Sealer};
use okra_queue::{EnqueueOptions, Queue, QueueConfig, RedisSettings};

const INDEX_KEY: &str = "bench-index-key-0123456789";

struct Mode {
    name: &'static str,
    env: Vec<(&'static str, String)>,
    /// Producer and worker seal with this key file.
    seal: Option<std::path::PathBuf>,
}

struct Figures {
    jobs_per_s: f64,
    worker_us: f64,
    /// Of `worker_us`, the kernel's (system calls).
    worker_sys_us: f64,
    sandbox_us: f64,
    redis_us: f64,
    /// `INFO commandstats` of the run (empty where the server refuses `CONFIG RESETSTAT`).
    commands: Vec<(String, f64, f64)>,
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
    under: Vec<String>,
) -> anyhow::Result<Figures> {
    let name = format!("bench-okra-{n}");
    let mut cfg = QueueConfig::new(&name);
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).expect("16+ bytes"));
    cfg.seal = match &mode.seal {
        Some(k) => Some(std::sync::Arc::new(
            Sealer::from_file(k).map_err(anyhow::Error::msg)?,
        )),
        None => None,
    };
    let queue = Queue::connect(&RedisSettings::new(url), cfg).await?;
    let batch: Vec<_> = (0..jobs)
        .map(|i| {
            (
                OkraJob::new("bvn_verify", &[("bvn", &format!("2{}{i:05}1234", n % 10))]).unwrap(),
                EnqueueOptions::default(),
            )
        })
        .collect();
    queue.enqueue_bulk(batch).await?;
    let mut env = mode.env.clone();
    if let Some(k) = &mode.seal {
        env.push(("OKQ_SEAL__KEYS_FILE", k.display().to_string()));
        env.push(("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.into()));
    }
    let spec = WorkerSpec {
        queue: &name,
        concurrency,
        okra_timeout: "30s",
        env,
        under,
        ..WorkerSpec::default()
    };
    let sandbox_before = proc_cpu(&sandbox.proc.pid().to_string());
    let counting = reset_commandstats(url).await;
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
    let worker_cpu = proc_cpu(&worker.pid().to_string());
    let worker_sys = proc_sys_cpu(&worker.pid().to_string());
    let figures = Figures {
        jobs_per_s: jobs as f64 / wall,
        worker_us: worker_cpu * 1e6 / jobs as f64,
        worker_sys_us: worker_sys * 1e6 / jobs as f64,
        sandbox_us: (proc_cpu(&sandbox.proc.pid().to_string()) - sandbox_before) * 1e6
            / jobs as f64,
        redis_us: (redis_cpu(url).await? - redis_before) * 1e6 / jobs as f64,
        commands: if counting {
            commandstats(url).await
        } else {
            Vec::new()
        },
    };
    worker.terminate(Duration::from_secs(30));
    Ok(figures)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs = env("BENCH_OKRA_JOBS", 20_000);
    let concurrency = env("BENCH_OKRA_CONCURRENCY", 200);
    let (server, url) = common::cpu::bench_redis();
    let dir = tempfile::tempdir()?;
    let sandbox = Sandbox::start(dir.path(), &[]);
    let counted = env("BENCH_OKRA_INSTRUCTIONS", 0);
    if counted == 0 {
        println!(
            "okra end to end: {jobs} bvn_verify jobs (distinct people), one okra-worker at concurrency {concurrency}, okra-sandbox, redis {url}\n"
        );
    }
    let keys = dir.path().join("seal-keys");
    {
        use std::os::unix::fs::PermissionsExt;
        let key: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        use base64::Engine as _;
        let line = base64::engine::general_purpose::STANDARD.encode(key);
        std::fs::write(&keys, format!("k1 {line}\n"))?;
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600))?;
    }
    let reuse = || {
        vec![
            ("OKQ_OKRA__REUSE_WINDOW", "1h".into()),
            ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.into()),
        ]
    };
    let off = Mode {
        name: "reuse off",
        env: vec![],
        seal: None,
    };
    // What reuse needs besides its window: the index key. Alone, it makes the worker index
    // the identifiers each answer carries (outcome.lua), a cost of its own.
    let indexed = Mode {
        name: "reuse off, index key",
        env: vec![("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.into())],
        seal: None,
    };
    let sealed = Mode {
        name: "sealed",
        env: vec![],
        seal: Some(keys.clone()),
    };
    let traced = Mode {
        name: "traced",
        env: vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_sink().await?),
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
        ],
        seal: None,
    };
    // A port that was free a moment ago: nothing listens there, every export fails.
    let down = Mode {
        name: "collector down",
        env: vec![
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://127.0.0.1:{}", common::free_port()),
            ),
            ("OTEL_TRACES_SAMPLER", "always_on".into()),
        ],
        seal: None,
    };
    let reuse_on = Mode {
        name: "reuse on, misses",
        env: reuse(),
        seal: None,
    };
    let reuse_sealed = Mode {
        name: "reuse on, sealed",
        env: reuse(),
        seal: Some(keys.clone()),
    };
    let ctx = Runs {
        dir: dir.path(),
        url: &url,
        sandbox: &sandbox,
        jobs,
        concurrency,
        flush: server.is_some(),
    };
    if counted > 0 {
        return instructions::rounds(&ctx, counted, [&off, &indexed, &reuse_on]).await;
    }
    let rounds = env("BENCH_OKRA_REUSE_ROUNDS", 0);
    if rounds > 0 {
        return reuse_rounds(&ctx, rounds, [&off, &indexed, &reuse_on]).await;
    }
    // A B B A: a drift of the machine during the run weighs on both sides alike.
    let order = [
        &off,
        &sealed,
        &traced,
        &down,
        &down,
        &traced,
        &sealed,
        &off,
        &indexed,
        &reuse_on,
        &reuse_sealed,
        &reuse_sealed,
        &reuse_on,
        &indexed,
    ];
    let mut rows = Rows::default();
    print_header();
    for (n, mode) in order.iter().enumerate() {
        rows.0.push((mode.name, ctx.row(n + 1, mode).await?));
    }
    let mean = |name: &str, of: fn(&Figures) -> f64| rows.mean(name, of);
    println!(
        "\nthe reuse check costs {:+.1} µs of worker CPU and {:+.1} µs of Redis CPU per job",
        mean(reuse_on.name, |f| f.worker_us) - mean(off.name, |f| f.worker_us),
        mean(reuse_on.name, |f| f.redis_us) - mean(off.name, |f| f.redis_us)
    );
    println!(
        "tracing on, every trace sampled (two runs each): {:+.1} µs of worker CPU per job, drain {:+.1} % (tracing off is the `reuse off` row; the sandbox, which never traces, as a control: {:+.1} µs per answer)",
        mean(traced.name, |f| f.worker_us) - mean(off.name, |f| f.worker_us),
        (mean(traced.name, |f| f.jobs_per_s) / mean(off.name, |f| f.jobs_per_s) - 1.0) * 100.0,
        mean(traced.name, |f| f.sandbox_us) - mean(off.name, |f| f.sandbox_us)
    );
    println!(
        "tracing on, collector down (two runs each): {:+.1} µs of worker CPU per job, drain {:+.1} % against tracing off, {:+.1} % against the collector up (the sandbox as a control: {:+.1} µs per answer against tracing off)",
        mean(down.name, |f| f.worker_us) - mean(off.name, |f| f.worker_us),
        (mean(down.name, |f| f.jobs_per_s) / mean(off.name, |f| f.jobs_per_s) - 1.0) * 100.0,
        (mean(down.name, |f| f.jobs_per_s) / mean(traced.name, |f| f.jobs_per_s) - 1.0) * 100.0,
        mean(down.name, |f| f.sandbox_us) - mean(off.name, |f| f.sandbox_us)
    );
    for base in [&off, &indexed] {
        let (redis, worker) = rows.ratios(&reuse_on, base);
        println!(
            "reuse on / {} in this run (two runs each): Redis {redis:.2}× (target ≤ 1.5×), worker CPU {worker:.2}× (target ≤ 1.10×)",
            base.name
        );
    }
    // The first run of each mode the command counts compare: reuse off, with the index key,
    // and reuse on.
    let first = |name: &str| rows.0.iter().find(|(n, _)| *n == name);
    for (name, f) in [off.name, indexed.name, reuse_on.name]
        .into_iter()
        .filter_map(first)
    {
        if !f.commands.is_empty() {
            let calls = |only: Option<&str>| -> f64 {
                f.commands
                    .iter()
                    .filter(|(c, ..)| only.is_none_or(|o| o == c))
                    .map(|(_, n, _)| n)
                    .sum::<f64>()
                    / jobs as f64
            };
            println!(
                "Redis commands per job, {name}: {:.2} ({:.2} script calls; every command a script runs counts)",
                calls(None) - calls(Some("evalsha")) - calls(Some("eval")),
                calls(Some("evalsha")) + calls(Some("eval")),
            );
            println!(
                "Redis per command, {name}, µs/job (evalsha includes the commands its scripts run): {}",
                per_job(&f.commands, jobs, 10)
            );
        }
    }
    for (plain, with, what) in [
        (&off, &sealed, "reuse off"),
        (&reuse_on, &reuse_sealed, "reuse on"),
    ] {
        println!(
            "sealing ({what}, two runs each): {:+.1} µs of worker CPU, {:+.1} µs of Redis CPU per job, drain {:+.1} %",
            mean(with.name, |f| f.worker_us) - mean(plain.name, |f| f.worker_us),
            mean(with.name, |f| f.redis_us) - mean(plain.name, |f| f.redis_us),
            (mean(with.name, |f| f.jobs_per_s) / mean(plain.name, |f| f.jobs_per_s) - 1.0) * 100.0
        );
    }
    let (open_seal, with_reuse) = sealing_work(&keys)?;
    println!(
        "sealing work alone per job: {open_seal:.2} µs (open the payload, seal the result), {with_reuse:.2} µs with reuse on (and seal the stored profile)"
    );
    memory(dir.path(), &url, &sandbox, jobs, concurrency).await
}

/// What every run of one bench shares.
struct Runs<'a> {
    dir: &'a Path,
    url: &'a str,
    sandbox: &'a Sandbox,
    jobs: usize,
    concurrency: usize,
    /// The bench's own Redis: emptied before each run.
    flush: bool,
}

impl Runs<'_> {
    /// Run `n` in `mode`. Every run starts from an empty Redis: the reuse modes add 20,000
    /// keys each, and on a Redis that kept the earlier runs' keys the run that takes the
    /// keyspace past a power of two pays for rehashing all of them. A `REDIS_URL` server is
    /// never emptied.
    async fn run(&self, n: usize, mode: &Mode) -> anyhow::Result<Figures> {
        self.run_under(n, mode, self.jobs, Vec::new()).await
    }

    /// [`Runs::run`] with `jobs` jobs, the worker run under `under` (a program and its
    /// arguments, before the worker's command line).
    async fn run_under(
        &self,
        n: usize,
        mode: &Mode,
        jobs: usize,
        under: Vec<String>,
    ) -> anyhow::Result<Figures> {
        if self.flush {
            let mut conn = redis::Client::open(self.url)?
                .get_multiplexed_async_connection()
                .await?;
            let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await?;
        }
        let (dir, url, sandbox) = (self.dir, self.url, self.sandbox);
        run(dir, n, url, sandbox, mode, jobs, self.concurrency, under).await
    }

    /// [`Runs::run`], its figures printed as a row under [`print_header`].
    async fn row(&self, n: usize, mode: &Mode) -> anyhow::Result<Figures> {
        let f = self.run(n, mode).await?;
        println!(
            "{:<20} {:>10.0} {:>16.1} {:>11.1} {:>16.1} {:>14.1}",
            mode.name, f.jobs_per_s, f.worker_us, f.worker_sys_us, f.sandbox_us, f.redis_us
        );
        Ok(f)
    }
}

fn print_header() {
    println!(
        "{:<20} {:>10} {:>16} {:>11} {:>16} {:>14}",
        "mode", "jobs/s", "worker µs/job", "of it sys", "sandbox µs/job", "Redis µs/job"
    );
}

/// The figures of a bench's runs, by mode name.
#[derive(Default)]
struct Rows(Vec<(&'static str, Figures)>);

impl Rows {
    /// The mean of `of` over the runs of mode `name`.
    fn mean(&self, name: &str, of: fn(&Figures) -> f64) -> f64 {
        let v: Vec<f64> = self
            .0
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, f)| of(f))
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    }

    /// Redis and worker CPU per job of `on` over `base` (the means of their runs).
    fn ratios(&self, on: &Mode, base: &Mode) -> (f64, f64) {
        (
            self.mean(on.name, |f| f.redis_us) / self.mean(base.name, |f| f.redis_us),
            self.mean(on.name, |f| f.worker_us) / self.mean(base.name, |f| f.worker_us),
        )
    }

    /// What `on` adds to `base` per job, µs of Redis and of worker CPU: a ratio also moves
    /// with the base, this does not.
    fn added(&self, on: &Mode, base: &Mode) -> (f64, f64) {
        (
            self.mean(on.name, |f| f.redis_us) - self.mean(base.name, |f| f.redis_us),
            self.mean(on.name, |f| f.worker_us) - self.mean(base.name, |f| f.worker_us),
        )
    }
}

/// `BENCH_OKRA_REUSE_ROUNDS=N`: the reuse check alone, `N` rounds of `reuse off`, `reuse off,
/// index key`, `reuse on` twice, `reuse off, index key`, `reuse off` (A B C C B A), each
/// round's ratios and their median: one run's ratio moves by ±0.1 on a shared machine.
async fn reuse_rounds(
    ctx: &Runs<'_>,
    rounds: usize,
    [off, indexed, on]: [&Mode; 3],
) -> anyhow::Result<()> {
    print_header();
    let mut ratios: [Vec<f64>; 4] = Default::default();
    let mut added: [Vec<f64>; 4] = Default::default();
    for round in 0..rounds {
        let mut rows = Rows::default();
        for (k, mode) in [off, indexed, on, on, indexed, off].into_iter().enumerate() {
            rows.0
                .push((mode.name, ctx.row(round * 6 + k + 1, mode).await?));
        }
        let mut line = format!("round {}:", round + 1);
        for (i, base) in [off, indexed].into_iter().enumerate() {
            let (redis, worker) = rows.ratios(on, base);
            ratios[2 * i].push(redis);
            ratios[2 * i + 1].push(worker);
            let (redis_us, worker_us) = rows.added(on, base);
            added[2 * i].push(redis_us);
            added[2 * i + 1].push(worker_us);
            let sys_us =
                rows.mean(on.name, |f| f.worker_sys_us) - rows.mean(base.name, |f| f.worker_sys_us);
            line += &format!(
                " against {}: Redis {redis:.2}× ({redis_us:+.1} µs), worker {worker:.2}× ({worker_us:+.1} µs, of it {sys_us:+.1} in the kernel);",
                base.name
            );
        }
        println!("{line}");
    }
    for (i, base) in [off, indexed].into_iter().enumerate() {
        let redis = median(&mut ratios[2 * i]);
        let worker = median(&mut ratios[2 * i + 1]);
        let (redis_us, worker_us) = (median(&mut added[2 * i]), median(&mut added[2 * i + 1]));
        println!(
            "reuse on / {} (median of {rounds} rounds): Redis {redis:.2}× (target ≤ 1.5×), worker CPU {worker:.2}× (target ≤ 1.10×); per job {redis_us:+.1} µs of Redis, {worker_us:+.1} µs of worker CPU",
            base.name
        );
    }
    Ok(())
}

/// An OTLP/HTTP receiver that takes every export and keeps nothing (the bench's own runtime;
/// its CPU is not the worker's).
async fn otlp_sink() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(|_body: axum::body::Bytes| async { "" }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

/// Redis memory per waiting job and per dead letter (default settings, no sealing), by key.
/// Targets: 250 B per waiting job, 1 KB per dead letter before Okra's body.
async fn memory(
    dir: &Path,
    url: &str,
    sandbox: &Sandbox,
    jobs: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let waiting = Queue::connect(&RedisSettings::new(url), QueueConfig::new("mem-wait")).await?;
    waiting
        .enqueue_bulk((0..jobs).map(|i| {
            (
                OkraJob::new("bvn_verify", &[("bvn", &format!("23{i:05}1234"))]).unwrap(),
                EnqueueOptions::default(),
            )
        }))
        .await?;
    let (per, parts) = memory_per_job(&queue_memory(url, "mem-wait").await?, jobs);
    println!("\nRedis memory per waiting job: {per:.0} B ({parts}); target 250 B");
    // Dead letters as Okra makes them: FLAGGED_USER answers (the sandbox's 0601 trigger).
    let name = "mem-dead";
    let dead = Queue::connect(&RedisSettings::new(url), QueueConfig::new(name)).await?;
    dead.enqueue_bulk((0..jobs).map(|i| {
        (
            OkraJob::new("bvn_verify", &[("bvn", &format!("24{i:05}0601"))]).unwrap(),
            EnqueueOptions::default(),
        )
    }))
    .await?;
    let spec = WorkerSpec {
        queue: name,
        concurrency,
        okra_timeout: "30s",
        ..WorkerSpec::default()
    };
    let started = Instant::now();
    let mut worker = start_worker(dir, 99, url, &sandbox.url, &spec);
    while dead.stats().await?.dead < jobs as u64 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the dead letters did not all arrive; worker log:\n{}",
            worker.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.terminate(Duration::from_secs(30));
    let keys = queue_memory(url, name).await?;
    let (per, parts) = memory_per_job(&keys, jobs);
    // Okra's body is kept as it came (for dead.answer_retention): what it weighs is Okra's.
    let letters = dead
        .dead_page(&okra_queue::DeadFilter::default(), 1, 50)
        .await?;
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let mut bodies: Vec<usize> = Vec::new();
    for l in &letters {
        let stored: String = redis::cmd("HGET")
            .arg(format!("okq:{{{name}}}:error"))
            .arg(&l.id)
            .query_async(&mut conn)
            .await?;
        let failure: okra_queue::job::Failure = serde_json::from_str(&stored)?;
        bodies.push(failure.body.map_or(0, |b| b.len()));
    }
    let body = bodies.iter().sum::<usize>() as f64 / bodies.len().max(1) as f64;
    println!(
        "Redis memory per dead letter (FLAGGED_USER): {per:.0} B, {:.0} B before Okra's body of {body:.0} B ({parts}); target 1 KB before the body",
        per - body
    );
    Ok(())
}

/// The worker's sealing work per job, timed in this process over many Okra-shaped jobs:
/// µs per job without and with the reuse store.
fn sealing_work(keys: &Path) -> anyhow::Result<(f64, f64)> {
    let sealer = Sealer::from_file(keys).map_err(anyhow::Error::msg)?;
    // A bvn_verify payload and an answer the size of the sandbox's (a whole profile).
    let payload = r#"{"kind":"bvn_verify","bvn":"22231234567"}"#;
    let result = serde_json::json!({
        "http_status": 200, "source": "/products/kyc/bvn-verify", "verified_at": 1796044239855u64,
        "profile": {
            "id": "5da600000000000000000000841", "fullname": "GAVIN BELSON", "firstname": "GAVIN",
            "middlename": "", "lastname": "BELSON", "bvn": "22231234567", "dob": "1981-02-13",
            "gender": "M", "phone": ["2347006659979"], "email": [],
            "address": ["4 AKANNI BASHORUN, LEKKI LAGOS"], "verified": true, "aliases": [],
            "env": "sandbox", "created_at": "2019-12-14T13:46:53.415Z",
            "last_updated": "2021-01-26T10:14:56.300Z"
        }
    })
    .to_string();
    let n = 20_000;
    let ids: Vec<String> = (0..n)
        .map(|i| format!("01M8P98CZEDRS8WPCWE{i:07}"))
        .collect();
    let sealed_payloads: Vec<String> = ids
        .iter()
        .map(|id| sealer.seal(&Place::job("q", id, Column::Payload), payload))
        .collect();
    let time = |reuse: bool| -> anyhow::Result<f64> {
        let started = Instant::now();
        for (id, p) in ids.iter().zip(&sealed_payloads) {
            let opened = sealer
                .open(&Place::job("q", id, Column::Payload), p)
                .map_err(anyhow::Error::msg)?;
            std::hint::black_box(opened);
            std::hint::black_box(sealer.seal(&Place::job("q", id, Column::Result), &result));
            if reuse {
                let place = Place {
                    scope: "acct:default",
                    id,
                    column: Column::Reuse,
                };
                std::hint::black_box(sealer.seal(&place, &result));
            }
        }
        Ok(started.elapsed().as_secs_f64() * 1e6 / n as f64)
    };
    Ok((time(false)?, time(true)?))
}
