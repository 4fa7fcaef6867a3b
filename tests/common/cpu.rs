//! Where CPU goes, for the benchmarks: a process's CPU time from `/proc`, the Redis server's
//! from `INFO cpu`, and its per-command time from `INFO commandstats`; and the benchmarks'
//! knobs and percentiles.

use std::time::Duration;

/// A numeric knob from the environment (`BENCH_JOBS=…`), or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The Redis a benchmark runs against: `REDIS_URL` when set, else a throwaway `redis-server`
/// (kept alive by the returned guard) and its URL.
pub fn bench_redis() -> (Option<super::RedisServer>, String) {
    match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let s = super::RedisServer::start();
            let url = s.url();
            (Some(s), url)
        }
    }
}

/// p50 and p99 of `samples`, in ms.
pub fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e3
    };
    (at(0.50), at(0.99))
}

/// The median of `v` (the mean of the middle two for an even count); sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// CPU seconds (user + sys) process `pid` has used (`"self"` for this one), from `/proc`.
pub fn proc_cpu(pid: &str) -> f64 {
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

/// The kernel's part of [`proc_cpu`] (stime): system calls, mostly the sockets' reads, writes
/// and waits.
pub fn proc_sys_cpu(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(12))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

async fn conn(url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?)
}

/// Redis server CPU seconds used so far (user + sys, all threads).
pub async fn redis_cpu(url: &str) -> anyhow::Result<f64> {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(&mut conn(url).await?)
        .await?;
    let field = |name: &str| -> f64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .unwrap_or(0.0)
    };
    Ok(field("used_cpu_user") + field("used_cpu_sys"))
}

/// Starts counting commands afresh (`CONFIG RESETSTAT`); false where the server refuses (a
/// managed Redis).
pub async fn reset_commandstats(url: &str) -> bool {
    match conn(url).await {
        Ok(mut c) => redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async::<()>(&mut c)
            .await
            .is_ok(),
        Err(_) => false,
    }
}

/// `INFO commandstats` as (command, calls, µs), most time first.
pub async fn commandstats(url: &str) -> Vec<(String, f64, f64)> {
    let Ok(mut c) = conn(url).await else {
        return Vec::new();
    };
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    let mut out: Vec<(String, f64, f64)> = info
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let get = |k: &str| -> Option<f64> {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            };
            Some((name.to_string(), get("calls")?, get("usec")?))
        })
        .collect();
    out.sort_by(|a, b| b.2.total_cmp(&a.2));
    out
}

/// The top of [`commandstats`] per job: `evalsha 12.30 (450 calls), hset 2.99 (446 calls), …`.
pub fn per_job(stats: &[(String, f64, f64)], jobs: usize, top: usize) -> String {
    stats
        .iter()
        .take(top)
        .map(|(c, calls, us)| format!("{c} {:.2} ({calls:.0} calls)", us / jobs as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Bytes each key of a queue (`okq:{<queue>}:*`) holds (`MEMORY USAGE … SAMPLES 0`: every
/// element counted), by the key's last segment, largest first.
pub async fn queue_memory(url: &str, queue: &str) -> anyhow::Result<Vec<(String, u64)>> {
    let mut c = conn(url).await?;
    let pattern = format!("okq:{{{queue}}}:*");
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut c)
            .await?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut out = Vec::new();
    for k in keys {
        let bytes: Option<u64> = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&k)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut c)
            .await?;
        let name = k.rsplit(':').next().unwrap_or(&k).to_string();
        out.push((name, bytes.unwrap_or(0)));
    }
    out.sort_by_key(|k| std::cmp::Reverse(k.1));
    Ok(out)
}

/// `total B/job (key B, key B, …)` of a [`queue_memory`] breakdown over `n` jobs; keys under
/// 1 B a job are left out of the list (not of the total).
pub fn memory_per_job(keys: &[(String, u64)], n: usize) -> (f64, String) {
    let total: u64 = keys.iter().map(|(_, b)| b).sum();
    let parts: Vec<String> = keys
        .iter()
        .filter(|(_, b)| *b as f64 / n as f64 >= 1.0)
        .map(|(k, b)| format!("{k} {:.0}", *b as f64 / n as f64))
        .collect();
    (total as f64 / n as f64, parts.join(", "))
}
