//! Worker presence: who is running, since when, and which process exports the queue-wide
//! gauges. The liveness stamp itself is written by the lease keeper (`extend.lua`), so a
//! process whose leases are being extended is, by the same write, alive; the heartbeat only
//! publishes what a process is.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Rdb;
use super::scripts::SCRIPTS;
use crate::error::Result;

/// A worker process whose liveness stamp is older than this is not counted as alive.
pub const WORKER_TTL: Duration = Duration::from_secs(30);

/// What a worker process says about itself in its heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Worker id (`host:pid:suffix`).
    #[serde(default)]
    pub id: String,
    /// Host name.
    #[serde(default)]
    pub host: String,
    /// Process id.
    #[serde(default)]
    pub pid: u32,
    /// Start time (ms).
    #[serde(default)]
    pub started_at: u64,
    /// Jobs one worker loop runs at once (`worker.concurrency`).
    #[serde(default)]
    pub concurrency: usize,
    /// Worker loops in the process.
    #[serde(default)]
    pub loops: usize,
    /// Jobs held right now.
    #[serde(default)]
    pub in_flight: usize,
    /// Last liveness stamp (Redis ms).
    #[serde(default)]
    pub last_seen: u64,
    /// Stamped within [`WORKER_TTL`].
    #[serde(default)]
    pub alive: bool,
    /// Crate version.
    #[serde(default)]
    pub version: String,
}

impl Rdb {
    /// Publishes a worker process's description (registering it if new) and drops
    /// registrations older than `prune_after`. Returns how many were dropped.
    pub async fn heartbeat(&self, info: &WorkerInfo, prune_after: Duration) -> Result<u64> {
        let (_now, pruned): (u64, u64) = SCRIPTS
            .heartbeat
            .key(self.keys.workers())
            .key(self.keys.worker_info())
            .arg(&info.id)
            .arg(serde_json::to_string(info).unwrap_or_default())
            .arg(prune_after.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(pruned)
    }

    /// Removes a worker registration (clean shutdown).
    pub async fn deregister(&self, worker: &str) -> Result<()> {
        let _: () = redis::pipe()
            .zrem(self.keys.workers(), worker)
            .hdel(self.keys.worker_info(), worker)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Registered workers, most recently stamped first; `alive` counts from `now_ms` (this
    /// machine's clock; the stamps are Redis time).
    pub async fn workers(&self, now_ms: u64) -> Result<Vec<WorkerInfo>> {
        let (seen, infos): (Vec<(String, f64)>, HashMap<String, String>) = redis::pipe()
            .cmd("ZREVRANGE")
            .arg(self.keys.workers())
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .hgetall(self.keys.worker_info())
            .query_async(&mut self.conn.clone())
            .await?;
        let live_since = now_ms.saturating_sub(WORKER_TTL.as_millis() as u64);
        Ok(seen
            .into_iter()
            .map(|(id, at)| {
                let mut info: WorkerInfo = infos
                    .get(&id)
                    .and_then(|i| serde_json::from_str(i).ok())
                    .unwrap_or_default();
                info.last_seen = at as u64;
                info.alive = info.last_seen >= live_since;
                info.id = id;
                info
            })
            .collect())
    }

    /// Takes or keeps the queue's sampler role for process `me` for `ttl`; true while `me`
    /// holds it. One process exports the queue-wide gauges, so sums over a fleet stay right.
    pub async fn elect_sampler(&self, me: &str, ttl: Duration) -> Result<bool> {
        let held: u64 = SCRIPTS
            .elect
            .key(self.keys.sampler())
            .arg(me)
            .arg(ttl.as_millis().max(1) as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(held == 1)
    }
}
