//! `make bench`: enqueue N no-op jobs in bulk, then drain them with the workers; the same for
//! apalis-redis 1.0 on the same Redis server in the same run.
//!
//! Then the latencies an app sees from an idle fleet: idle pickup (enqueue → handler start) and
//! retry lateness (due time → handler start), p50/p99; and Redis CPU per job (from the server's
//! `INFO cpu`, enqueue + run + complete) for both systems.
//!
//! Knobs (environment): `BENCH_JOBS` (default 100000), `BENCH_LOOPS` (worker loops, default 1, as in okra-worker),
//! `BENCH_CONCURRENCY` (per loop, default 2000), `REDIS_URL` (default: start a throwaway
//! `redis-server` on a free port).

#[path = "../tests/common/mod.rs"]
mod common;

use common::cpu::{
    commandstats, env, per_job, percentiles, proc_cpu, redis_cpu, reset_commandstats,
};

use std::future::Future;
use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Monitor, TaskSink, WorkerBuilder};
use okra_queue::{EnqueueOptions, Job, Queue, QueueConfig, RedisSettings, WorkerOptions};
use serde::{Deserialize, Serialize};

// The same allocator as the okra-worker binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    n: u64,
}

impl Job for Noop {
    fn kind(&self) -> &str {
        "noop"
    }
}

struct Row {
    system: &'static str,
    enqueue: Option<f64>,
    drain: Option<f64>,
    /// Redis CPU (user + sys) per job, µs.
    cpu_us: Option<f64>,
    note: String,
}

/// Where a run's CPU went, per job: Redis while enqueueing and while draining, this process
/// (the producer and the workers) while draining, and Redis per command (`INFO commandstats`).
struct Split {
    enqueue_redis_us: f64,
    drain_redis_us: f64,
    drain_worker_us: f64,
    commands: Vec<(String, f64, f64)>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let jobs = env("BENCH_JOBS", 100_000);
    let loops = env("BENCH_LOOPS", 1);
    let concurrency = env("BENCH_CONCURRENCY", 2000);
    let (_server, url) = common::cpu::bench_redis();
    let rtt = redis_rtt(&url).await?;
    println!(
        "okra-queue drain benchmark: {jobs} no-op jobs, {loops} worker loops x {concurrency} concurrency"
    );
    println!(
        "redis {url}, round trip {:.0} µs (mean of 1000 PINGs), {} CPU cores\n",
        rtt * 1e6,
        num_cpus()
    );

    let mut rows = Vec::new();
    let cpu = redis_cpu(&url).await?;
    let (mut row, split) = ours(&url, jobs, loops, concurrency, None).await?;
    row.cpu_us = Some((redis_cpu(&url).await? - cpu) * 1e6 / jobs as f64);
    rows.push(row);
    // The same without the event stream: what the events cost (not with BENCH_ONLY_OURS,
    // which side-by-side runs read whole).
    let quiet = if std::env::var("BENCH_ONLY_OURS").is_err() {
        let cpu = redis_cpu(&url).await?;
        let (mut quiet, split) = ours(&url, jobs, loops, concurrency, Some(0)).await?;
        quiet.cpu_us = Some((redis_cpu(&url).await? - cpu) * 1e6 / jobs as f64);
        quiet.system = "  events off";
        Some((quiet, split))
    } else {
        None
    };
    if std::env::var("BENCH_ONLY_OURS").is_err() {
        let cpu = redis_cpu(&url).await?;
        let mut row = apalis_redis(&url, jobs, loops, concurrency).await;
        if row.drain.is_some() {
            row.cpu_us = Some((redis_cpu(&url).await? - cpu) * 1e6 / jobs as f64);
        }
        rows.push(row);
        let probe = apalis_redis_single_push(&url, 20_000).await;
        println!("apalis-redis, 20,000 jobs in one push then a worker: {probe}\n");
    }
    let quiet_split = quiet.map(|(row, split)| {
        rows.insert(1, row);
        split
    });

    println!(
        "{:<14} {:>16} {:>16} {:>18}  notes",
        "system", "enqueue jobs/s", "drain jobs/s", "Redis CPU µs/job"
    );
    for r in &rows {
        let f = |v: Option<f64>| v.map_or("failed".to_string(), |v| format!("{v:.0}"));
        let c = r.cpu_us.map_or("n/a".to_string(), |v| format!("{v:.1}"));
        println!(
            "{:<14} {:>16} {:>16} {:>18}  {}",
            r.system,
            f(r.enqueue),
            f(r.drain),
            c,
            r.note
        );
    }
    let splits = [
        ("events on", Some(&split)),
        ("events off", quiet_split.as_ref()),
    ];
    for (name, s) in splits.iter().filter_map(|(n, s)| Some((n, (*s)?))) {
        println!(
            "\nwhere the CPU went, {name}: Redis {:.1} µs/job enqueueing + {:.1} µs/job draining; the workers (this process) {:.1} µs/job draining",
            s.enqueue_redis_us, s.drain_redis_us, s.drain_worker_us
        );
        if !s.commands.is_empty() {
            println!(
                "  per command, µs/job (INFO commandstats; evalsha includes the commands its scripts run): {}",
                per_job(&s.commands, jobs, 12)
            );
        }
    }
    if std::env::var("BENCH_ONLY_OURS").is_err() {
        scripts_alone(&url, jobs).await?;
    }
    latencies(&url).await?;
    let Some(apalis) = rows.iter().find(|r| r.system == "apalis-redis") else {
        return Ok(());
    };
    if let (Some(a), Some(b)) = (rows[0].drain, apalis.drain) {
        println!("\ndrain speed-up over apalis-redis: {:.1}x", a / b);
    }
    if let (Some(a), Some(b)) = (rows[0].enqueue, apalis.enqueue) {
        println!("enqueue speed-up over apalis-redis: {:.1}x", a / b);
    }
    Ok(())
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

async fn redis_rtt(url: &str) -> anyhow::Result<f64> {
    let client = redis::Client::open(url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let t = Instant::now();
    for _ in 0..1000 {
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
    }
    Ok(t.elapsed().as_secs_f64() / 1000.0)
}

async fn ours(
    url: &str,
    jobs: usize,
    loops: usize,
    concurrency: usize,
    events_max: Option<u64>,
) -> anyhow::Result<(Row, Split)> {
    let settings = RedisSettings::new(url);
    let mut cfg = QueueConfig::new(if events_max == Some(0) {
        "bench-okq-quiet"
    } else {
        "bench-okq"
    });
    // BENCH_EVENTS_MAX=0 measures the engine without its event stream.
    cfg.events_max = events_max.unwrap_or(env("BENCH_EVENTS_MAX", cfg.events_max as usize) as u64);
    let queue = Queue::connect(&settings, cfg).await?;
    let batch: Vec<_> = (0..jobs as u64)
        .map(|n| (Noop { n }, EnqueueOptions::default()))
        .collect();
    let stats_on = reset_commandstats(url).await;
    let cpu0 = redis_cpu(url).await?;
    let t = Instant::now();
    queue.enqueue_bulk(batch).await?;
    let enqueue = jobs as f64 / t.elapsed().as_secs_f64();
    let cpu1 = redis_cpu(url).await?;
    let own0 = proc_cpu("self");

    let opts = WorkerOptions {
        concurrency,
        batch: concurrency.min(1000),
        ..WorkerOptions::default()
    };
    let runtime = queue.runtime(opts).await?;
    let backend = runtime.backend::<Noop>();
    let t = Instant::now();
    let monitor = Monitor::new().register_n(loops, move |i, _| {
        WorkerBuilder::new(format!("bench-{i}"))
            .backend(backend.clone())
            .build(|_job: Noop| async { Ok::<_, BoxDynError>(()) })
    });
    // One HGET per look (not `stats()`), so watching costs Redis next to nothing.
    let done = wait_until(Duration::from_secs(300), || {
        let queue = queue.clone();
        async move {
            redis::cmd("HGET")
                .arg(queue.rdb().keys().stats())
                .arg("succeeded")
                .query_async::<Option<u64>>(&mut queue.rdb().conn())
                .await
                .ok()
                .flatten()
                .is_some_and(|n| n as usize >= jobs)
        }
    });
    let drained = tokio::select! {
        _ = monitor.run() => false,
        ok = done => ok,
    };
    let drain = drained.then(|| jobs as f64 / t.elapsed().as_secs_f64());
    let split = Split {
        enqueue_redis_us: (cpu1 - cpu0) * 1e6 / jobs as f64,
        drain_redis_us: (redis_cpu(url).await? - cpu1) * 1e6 / jobs as f64,
        drain_worker_us: (proc_cpu("self") - own0) * 1e6 / jobs as f64,
        commands: if stats_on {
            commandstats(url).await
        } else {
            Vec::new()
        },
    };
    runtime.shutdown().await;
    let stats = queue.stats().await?;
    let row = Row {
        system: "okra-queue",
        enqueue: Some(enqueue),
        drain,
        cpu_us: None,
        note: format!(
            "bulk enqueue in 1,000-job script calls; {} completed, {} left pending",
            stats.completed,
            stats.pending()
        ),
    };
    Ok((row, split))
}

/// apalis-redis 1.0 with its defaults except a batch of 100 and a short poll, as a new user
/// would tune it. Its fetch script promotes every due job with one `unpack`, which fails for
/// more than ~8,000 due jobs ("too many results to unpack"), so jobs are pushed in chunks of
/// 5,000 while the worker drains; the drain clock starts at the first push.
async fn apalis_redis(url: &str, jobs: usize, loops: usize, concurrency: usize) -> Row {
    match apalis_redis_inner(url, jobs, loops, concurrency).await {
        Ok(row) => row,
        Err(e) => Row {
            system: "apalis-redis",
            enqueue: None,
            drain: None,
            cpu_us: None,
            note: format!("error: {e}"),
        },
    }
}

async fn apalis_redis_inner(
    url: &str,
    jobs: usize,
    loops: usize,
    concurrency: usize,
) -> anyhow::Result<Row> {
    use apalis::prelude::WorkerBuilderExt;
    use apalis_redis::{Config, RedisStorage};
    let conn = apalis_redis::connect(url).await?;
    let config = Config::default()
        .queue("{bench-apalis}")
        .batch_size(100)
        .heartbeat_interval(Duration::from_millis(250));
    let mut storage = RedisStorage::<Noop>::new(conn).with_config(config);

    // Enqueue speed: one bulk push of a 5,000-job chunk at a time.
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = counter.clone();
    let worker_storage = storage.clone();
    let t = Instant::now();
    let monitor = Monitor::new().register_n(loops, move |i, _| {
        let c = c.clone();
        WorkerBuilder::new(format!("apalis-bench-{i}"))
            .backend(worker_storage.clone())
            .concurrency(concurrency)
            .build(move |_job: Noop| {
                let c = c.clone();
                async move {
                    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    Ok::<_, BoxDynError>(())
                }
            })
    });
    let worker = tokio::spawn(async move {
        if let Err(e) = monitor.run().await {
            eprintln!("apalis-redis monitor stopped: {e}");
        }
    });
    let mut push_time = Duration::ZERO;
    let mut n = 0u64;
    while (n as usize) < jobs {
        let chunk: Vec<Noop> = (n..(n + 5000).min(jobs as u64))
            .map(|n| Noop { n })
            .collect();
        n += chunk.len() as u64;
        let p = Instant::now();
        storage
            .push_bulk(chunk)
            .await
            .map_err(|e| anyhow::anyhow!("push: {e}"))?;
        push_time += p.elapsed();
        // Let the worker promote this chunk before the next one is due, or its fetch breaks.
        let target = (n as usize).saturating_sub(2500);
        let caught_up = wait_until(Duration::from_secs(30), || {
            let c = counter.clone();
            async move { c.load(std::sync::atomic::Ordering::Relaxed) >= target }
        })
        .await;
        eprintln!(
            "apalis-redis: pushed {n}, processed {}",
            counter.load(std::sync::atomic::Ordering::Relaxed)
        );
        if !caught_up {
            worker.abort();
            anyhow::bail!(
                "its workers stopped making progress after {} of {n} pushed jobs",
                counter.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }
    let drained = wait_until(Duration::from_secs(300), || {
        let c = counter.clone();
        async move { c.load(std::sync::atomic::Ordering::Relaxed) >= jobs }
    })
    .await;
    let elapsed = t.elapsed();
    worker.abort();
    Ok(Row {
        system: "apalis-redis",
        enqueue: Some(jobs as f64 / push_time.as_secs_f64()),
        drain: drained.then(|| jobs as f64 / elapsed.as_secs_f64()),
        cpu_us: None,
        note:
            "pushed in 5,000-job chunks while draining (one big push breaks its fetch, see below)"
                .into(),
    })
}

/// What happens to apalis-redis when many jobs are due at once (its fetch promotes them all
/// with one `unpack`).
async fn apalis_redis_single_push(url: &str, jobs: usize) -> String {
    use apalis_redis::{Config, RedisStorage};
    let result: anyhow::Result<String> = async {
        let conn = apalis_redis::connect(url).await?;
        let config = Config::default()
            .queue("{bench-apalis-probe}")
            .heartbeat_interval(Duration::from_millis(250));
        let mut storage = RedisStorage::<Noop>::new(conn).with_config(config);
        let batch: Vec<Noop> = (0..jobs as u64).map(|n| Noop { n }).collect();
        storage
            .push_bulk(batch)
            .await
            .map_err(|e| anyhow::anyhow!("push failed: {e}"))?;
        let monitor = Monitor::new().register(move |_| {
            WorkerBuilder::new("apalis-probe")
                .backend(storage.clone())
                .build(|_job: Noop| async { Ok::<_, BoxDynError>(()) })
        });
        Ok(
            match tokio::time::timeout(Duration::from_secs(10), monitor.run()).await {
                Ok(Err(e)) => format!("worker failed: {}", e.to_string().replace('\n', " ").trim()),
                Ok(Ok(())) => "worker exited".into(),
                Err(_) => "worker still running after 10 s".into(),
            },
        )
    }
    .await;
    result.unwrap_or_else(|e| e.to_string())
}

async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Redis CPU (`INFO cpu`) of each hot-path write alone, per job, called straight from the
/// storage layer in 1,000-job calls: enqueue, claim, and the outcome of a first run that
/// succeeded.
async fn scripts_alone(url: &str, jobs: usize) -> anyhow::Result<()> {
    use okra_queue::rdb::{ClaimReply, OutcomeEntry, Transition};
    use okra_queue::{HistoryEntry, HistoryKind};
    let queue = Queue::connect(&RedisSettings::new(url), QueueConfig::new("bench-scripts")).await?;
    let batch: Vec<_> = (0..jobs as u64)
        .map(|n| (Noop { n }, EnqueueOptions::default()))
        .collect();
    let t0 = redis_cpu(url).await?;
    queue.enqueue_bulk(batch).await?;
    let t1 = redis_cpu(url).await?;
    let mut claimed = Vec::with_capacity(jobs);
    while let ClaimReply::Claimed { jobs, .. } = queue
        .rdb()
        .claim("bench/0", 1000, Duration::from_secs(300), None)
        .await?
    {
        claimed.extend(jobs);
    }
    let t2 = redis_cpu(url).await?;
    for chunk in claimed.chunks(1000) {
        let entries: Vec<OutcomeEntry> = chunk
            .iter()
            .map(|j| OutcomeEntry {
                lease: j.lease.clone(),
                transition: Transition::Complete,
                delay_ms: 0,
                refund: false,
                history: HistoryEntry {
                    attempt: 1,
                    outcome: HistoryKind::Success,
                    ..HistoryEntry::default()
                },
                data: "null".into(),
                dims: Vec::new(),
                fence: false,
                kind: "noop".into(),
                reason: None,
                carried: Vec::new(),
            })
            .collect();
        queue.rdb().apply(&entries, 25, false).await?;
    }
    let t3 = redis_cpu(url).await?;
    let (enqueue, claim, outcome) = (t1 - t0, t2 - t1, t3 - t2);
    let per = |s: f64| s * 1e6 / jobs as f64;
    println!(
        "\neach hot-path write alone, Redis CPU µs/job in 1,000-job calls (events on): enqueue {:.1}, claim {:.1}, outcome {:.1}",
        per(enqueue),
        per(claim),
        per(outcome)
    );
    Ok(())
}

/// p50 and p99 of `samples`, in ms.
/// Idle pickup and retry lateness of one idle worker process (default options: a 1 s poll).
async fn latencies(url: &str) -> anyhow::Result<()> {
    use okra_queue::{JobContext, JobError};
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    let samples = env("BENCH_LATENCY_SAMPLES", 300);
    if samples == 0 {
        return Ok(());
    }
    let mut cfg = QueueConfig::new("bench-latency");
    // The explicit delay is the whole backoff, so the due time is known.
    cfg.retry.base_delay = Duration::from_millis(1);
    cfg.retry.max_delay = Duration::from_millis(1);
    let queue = Queue::connect(&RedisSettings::new(url), cfg).await?;
    let runtime = queue.runtime(WorkerOptions::default()).await?;
    // job n → (first attempt ended + its delay, second attempt started); and pickup starts.
    type Marks = Arc<Mutex<HashMap<u64, (Option<Instant>, Option<Instant>)>>>;
    let started: Marks = Arc::default();
    let marks = started.clone();
    let backend = runtime.backend::<Noop>();
    let monitor = Monitor::new().register(move |_| {
        let marks = marks.clone();
        WorkerBuilder::new("latency")
            .backend(backend.clone())
            .build(move |job: Noop, ctx: JobContext| {
                let marks = marks.clone();
                async move {
                    let now = Instant::now();
                    let retry = job.n >= 1_000_000;
                    if retry && ctx.attempt == 1 {
                        let delay = Duration::from_millis(100 + job.n % 200);
                        marks
                            .lock()
                            .unwrap()
                            .insert(job.n, (Some(now + delay), None));
                        return Err::<(), BoxDynError>(
                            JobError::retryable("bench", "retry once")
                                .with_delay(delay)
                                .into(),
                        );
                    }
                    marks.lock().unwrap().entry(job.n).or_default().1 = Some(now);
                    Ok(())
                }
            })
    });
    let running = tokio::spawn(async move {
        let _ = monitor.run().await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Idle pickup: one job at a time into an idle fleet; the app waits for each with
    // `Queue::wait`, which the completion's event wakes.
    let mut pickup = Vec::with_capacity(samples);
    let mut woken = Vec::with_capacity(samples);
    for n in 0..samples as u64 {
        let t = Instant::now();
        let id = queue
            .enqueue(&Noop { n }, EnqueueOptions::default())
            .await?
            .id;
        let done = queue.wait(&id, Duration::from_secs(5)).await;
        let returned = Instant::now();
        let at = started.lock().unwrap().get(&n).and_then(|e| e.1);
        if let (Ok(_), Some(at)) = (done, at) {
            pickup.push(at - t);
            woken.push(returned - at);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Retry lateness: jobs that fail once with a 100-300 ms delay, started every 10 ms.
    let first = 1_000_000u64;
    for n in first..first + samples as u64 {
        queue
            .enqueue(&Noop { n }, EnqueueOptions::default())
            .await?;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_until(Duration::from_secs(10), || {
        let m = started.clone();
        async move {
            m.lock()
                .unwrap()
                .values()
                .filter(|e| e.0.is_some() && e.1.is_some())
                .count()
                >= samples
        }
    })
    .await;
    let lateness: Vec<Duration> = started
        .lock()
        .unwrap()
        .values()
        .filter_map(|(due, start)| Some(start.as_ref()?.saturating_duration_since((*due)?)))
        .collect();
    running.abort();
    runtime.shutdown().await;
    let (p50, p99) = percentiles(pickup);
    println!(
        "\nidle pickup (enqueue → handler start, one idle worker, 1 s poll): p50 {p50:.2} ms, p99 {p99:.2} ms ({samples} jobs)"
    );
    let (p50, p99) = percentiles(woken);
    println!(
        "wait wake-up (handler done → Queue::wait returns; outcome write + event + read): p50 {p50:.2} ms, p99 {p99:.2} ms"
    );
    let (p50, p99) = percentiles(lateness);
    println!(
        "retry lateness (due time → handler start): p50 {p50:.2} ms, p99 {p99:.2} ms ({samples} retries of 100-300 ms)"
    );
    Ok(())
}
