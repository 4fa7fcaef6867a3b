//! All Redis access of the queue, in one place: each method is one script call or one pipeline.
//! Scripts live beside this file in `lua/`; the key layout is in [`crate::keys`].

mod account;
mod browse;
mod conn;
mod events;
mod registry;
mod scripts;

use std::collections::HashMap;
use std::time::Duration;

use redis::{AsyncCommands, Value};

pub use account::{Account, AccountLimit, AccountUsage, Taken};
pub use browse::{CancelReply, JobBrief, Listing};
pub use conn::{RedisConn, RedisSettings};
pub use registry::queue_names;

use crate::error::{QueueError, Result};
use crate::job::{
    Enqueued, Failure, HistoryEntry, JobMeta, JobRecord, JobState, Lease, split_record,
};
use crate::keys::Keys;
use scripts::SCRIPTS;

/// Most ids or jobs one script call handles; keeps every script's work bounded.
pub const MAX_BATCH: usize = 1000;

/// A job as `enqueue.lua` takes it; [`NewJob::args`] is the one place its ARGV order is written.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Job id.
    pub id: String,
    /// Metadata JSON without its closing brace (the script adds the Redis-time stamps).
    pub meta_head: String,
    /// Payload JSON.
    pub payload: String,
    /// Delay from now (Redis time).
    pub delay_ms: u64,
    /// Absolute run time (0 = use the delay).
    pub at_ms: u64,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Job kind (for the `enqueued` event).
    pub kind: String,
    /// Keyed hash of the identifier the job verifies (hex), for the identity index; also in
    /// the metadata head as `ix`, so deleting the job can drop its index entry.
    pub ident: Option<String>,
}

impl NewJob {
    /// `id, meta head, payload, delay ms, run-at ms, KEYS index of the idempotency key, kind,
    /// identity hash`.
    fn args(&self, inv: &mut redis::ScriptInvocation<'_>, idem_index: usize) {
        inv.arg(&self.id)
            .arg(&self.meta_head)
            .arg(&self.payload)
            .arg(self.delay_ms)
            .arg(self.at_ms)
            .arg(idem_index)
            .arg(&self.kind)
            .arg(self.ident.as_deref().unwrap_or(""));
    }
}

/// A sliding-window limit on claims, shared by every worker of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Claims allowed per window.
    pub limit: u32,
    /// Window length.
    pub window: Duration,
}

/// What a claim returned.
#[derive(Debug)]
pub enum ClaimReply {
    /// The queue is paused.
    Paused,
    /// Claims are throttled (rate limit or upstream back-off) for this long.
    Throttled(Duration),
    /// Nothing is ready.
    Empty,
    /// Claimed jobs, with the Redis time of the claim.
    Claimed {
        /// Redis time of the claim (ms).
        now: u64,
        /// The jobs.
        jobs: Vec<ClaimedJob>,
        /// Ids found in `ready` without a record, dropped (and counted) by the claim.
        orphans: Vec<String>,
    },
}

/// One claimed job, as stored.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// The claim.
    pub lease: Lease,
    /// Attempts spent, this one included.
    pub attempts: u32,
    /// Stored record (metadata JSON, newline, payload JSON).
    pub record: String,
    /// Failure JSON of the previous attempt in this budget (empty when none).
    pub last_error: String,
}

/// What to do with a claimed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Completed with a result.
    Complete,
    /// Scheduled again.
    Retry,
    /// Moved to dead letters.
    Dead,
    /// Given back unstarted (or unfinished at shutdown) to the head of the ready list.
    Release,
}

impl Action {
    fn code(self) -> &'static str {
        match self {
            Self::Complete => "c",
            Self::Retry => "r",
            Self::Dead => "d",
            Self::Release => "x",
        }
    }
}

/// One outcome for `outcome.lua`; [`OutcomeEntry::args`] is the one place its ARGV order is
/// written.
#[derive(Debug, Clone)]
pub struct OutcomeEntry {
    /// The claim this outcome belongs to.
    pub lease: Lease,
    /// What to do.
    pub action: Action,
    /// Delay before the retry.
    pub delay_ms: u64,
    /// Give the attempt back.
    pub refund: bool,
    /// History entry.
    pub history: HistoryEntry,
    /// Result JSON (complete) or failure JSON (retry, dead).
    pub data: String,
    /// Dead-index dimensions (`c|class`, `k|kind`, `s|status`, `t|type`), for dead letters.
    pub dims: Vec<String>,
    /// A reaper's outcome: apply only if the lease deadline has passed.
    pub fence: bool,
    /// Job kind (for metrics, logs and the event).
    pub kind: String,
    /// Why a dead letter died (for logs; it is inside `data` too).
    pub reason: Option<String>,
}

impl OutcomeEntry {
    /// `id, token, action, delay ms, refund, history entry, data, dimensions, fence, kind, class`.
    fn args(&self, inv: &mut redis::ScriptInvocation<'_>) {
        let flag = |b: bool| if b { "1" } else { "0" };
        inv.arg(&self.lease.id)
            .arg(self.lease.token)
            .arg(self.action.code())
            .arg(self.delay_ms)
            .arg(flag(self.refund))
            .arg(self.history.to_script_arg())
            .arg(&self.data)
            .arg(self.dims.join("\n"))
            .arg(flag(self.fence))
            .arg(&self.kind)
            .arg(self.class());
    }

    /// The failure class it records (`""` for a success or a release).
    pub fn class(&self) -> &str {
        self.history
            .class
            .as_deref()
            .filter(|_| self.action != Action::Release)
            .unwrap_or("")
    }
}

/// What `outcome.lua` did with one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Written.
    Applied,
    /// Not written: the worker's claim was no longer current (its lease was lost).
    Late,
    /// Not written: a reaper lost the race to the holder (it extended or finished first).
    Race,
}

/// A lease whose deadline has passed, with what a reaper needs to judge it.
#[derive(Debug, Clone)]
pub struct ExpiredLease {
    /// The claim.
    pub lease: Lease,
    /// Worker loop that holds it (`process/loop`).
    pub worker: String,
    /// The holding process (`host:pid:suffix`).
    pub holder: String,
    /// Lease deadline (Redis ms).
    pub deadline: u64,
    /// The holder's last liveness stamp (Redis ms; 0 = never seen).
    pub holder_stamp: u64,
    /// Attempts spent.
    pub attempts: u32,
    /// Stored record (metadata JSON, newline, payload JSON).
    pub record: String,
}

/// What `requeue.lua` did.
#[derive(Debug, Clone, Default)]
pub struct Requeued {
    /// Ids sent back to work.
    pub requeued: Vec<String>,
    /// Dead letters left dead because their record is missing or does not decode.
    pub skipped: Vec<String>,
}

/// One minute of throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Minute {
    /// Minutes since the epoch (Redis time).
    pub minute: u64,
    /// Attempts finished in it (succeeded, retried or died).
    pub processed: u64,
    /// Of those, attempts that failed (retried or died).
    pub failed: u64,
}

/// What woke a blocked waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// New ready work.
    Work,
    /// A job was scheduled sooner than every other: re-arm the scheduler's timer.
    Schedule,
}

/// Version and settings of the Redis server that matter to the queue.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// `redis_version`.
    pub version: String,
    /// `maxmemory_policy` (empty when the server does not say).
    pub maxmemory_policy: String,
}

/// Raw counters and sizes of a queue.
#[derive(Debug, Clone, Default)]
pub struct RawStats {
    /// Ready list length.
    pub ready: u64,
    /// Scheduled set size.
    pub scheduled: u64,
    /// Running set size.
    pub running: u64,
    /// Dead set size.
    pub dead: u64,
    /// Completed jobs kept.
    pub completed: u64,
    /// Cancelled jobs kept.
    pub cancelled: u64,
    /// Lifetime counters.
    pub counters: HashMap<String, u64>,
    /// Why the queue is paused (`None`: it is not).
    pub paused: Option<String>,
    /// Remaining throttle (ms).
    pub throttle_ms: u64,
    /// Workers seen since the cutoff.
    pub workers: u64,
    /// How long the oldest ready job has waited (ms; 0 when none is ready).
    pub latency_ms: u64,
}

/// A dead letter's listing fields.
#[derive(Debug, Clone)]
pub struct DeadBrief {
    /// Job id.
    pub id: String,
    /// Time of death (ms), `None` if it is no longer dead.
    pub died_at: Option<u64>,
    /// Metadata JSON.
    pub meta: String,
    /// Failure JSON.
    pub error: String,
    /// Attempts spent.
    pub attempts: u32,
    /// Index dimensions (`c|class`, ...), as stored.
    pub dims: Vec<(char, String)>,
    /// Payload JSON (only when asked for).
    pub payload: Option<String>,
}

/// A worker registration.
#[derive(Debug, Clone)]
pub struct WorkerEntry {
    /// Worker id.
    pub id: String,
    /// Last heartbeat (ms).
    pub last_seen: u64,
    /// Description JSON.
    pub info: String,
}

/// Handle to one queue's data in Redis.
#[derive(Debug, Clone)]
pub struct Rdb {
    conn: RedisConn,
    keys: Keys,
    /// Events kept in the queue's stream (0 = none written).
    events_max: u64,
}

/// Minutes of per-minute throughput kept for the dashboard.
pub const MINUTES_KEPT: u64 = 120;

/// Events a queue keeps by default.
pub const EVENTS_MAX: u64 = 100_000;

impl Rdb {
    /// Wraps a connection for queue `keys`, keeping [`EVENTS_MAX`] events.
    pub fn new(conn: RedisConn, keys: Keys) -> Self {
        Self {
            conn,
            keys,
            events_max: EVENTS_MAX,
        }
    }

    /// Keeps about `max` events in the queue's stream (0 = write none).
    pub fn with_events_max(mut self, max: u64) -> Self {
        self.events_max = max;
        self
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The connection (for ad-hoc commands in tests and tools).
    pub fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// Enqueues up to [`MAX_BATCH`] jobs in one script call.
    pub async fn enqueue(
        &self,
        jobs: &[NewJob],
        idempotency_ttl: Duration,
    ) -> Result<Vec<Enqueued>> {
        let k = &self.keys;
        let mut inv = SCRIPTS.enqueue.prepare_invoke();
        inv.key(k.ready())
            .key(k.scheduled())
            .key(k.job())
            .key(k.stats())
            .key(k.wake())
            .key(k.sched())
            .key(k.events())
            .key(k.ident());
        inv.arg(jobs.len())
            .arg(idempotency_ttl.as_millis().max(1) as u64)
            .arg(self.events_max);
        let mut idem_keys: Vec<String> = Vec::new();
        for job in jobs {
            let index = match &job.idempotency_key {
                Some(key) => {
                    let full = k.idempotency(key);
                    let pos = idem_keys
                        .iter()
                        .position(|x| *x == full)
                        .unwrap_or_else(|| {
                            idem_keys.push(full);
                            idem_keys.len() - 1
                        });
                    9 + pos
                }
                None => 0,
            };
            job.args(&mut inv, index);
        }
        for key in &idem_keys {
            inv.key(key);
        }
        let reply: Vec<String> = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(reply
            .chunks(2)
            .map(|c| Enqueued {
                id: c[0].clone(),
                duplicate: c.get(1).map(String::as_str) == Some("duplicate"),
            })
            .collect())
    }

    /// Claims up to `max` (≤ [`MAX_BATCH`]) jobs for `worker`, promoting due jobs first.
    pub async fn claim(
        &self,
        worker: &str,
        max: usize,
        lease: Duration,
        rate: Option<RateLimit>,
    ) -> Result<ClaimReply> {
        let k = &self.keys;
        let (limit, window) = rate.map_or((0, 0), |r| (r.limit, r.window.as_millis() as u64));
        let reply: Vec<Value> = SCRIPTS
            .claim
            .key(k.ready())
            .key(k.running())
            .key(k.scheduled())
            .key(k.job())
            .key(k.attempts())
            .key(k.lease())
            .key(k.error())
            .key(k.paused())
            .key(k.throttle())
            .key(k.rate())
            .key(k.seq())
            .key(k.wake())
            .key(k.stats())
            .arg(max.clamp(1, MAX_BATCH))
            .arg(lease.as_millis() as u64)
            .arg(worker)
            .arg(limit)
            .arg(window)
            .arg(MAX_BATCH)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let tag = text(reply.first())?;
        let num = int(reply.get(1))?;
        Ok(match tag.as_str() {
            "paused" => ClaimReply::Paused,
            "throttled" => ClaimReply::Throttled(Duration::from_millis(num)),
            "empty" => ClaimReply::Empty,
            "ok" => {
                let orphan_count = int(reply.get(2))? as usize;
                let rest = reply.get(3..).unwrap_or_default();
                let (orphans, jobs) = rest.split_at(orphan_count.min(rest.len()));
                let orphans = orphans
                    .iter()
                    .map(|v| text(Some(v)))
                    .collect::<Result<Vec<_>>>()?;
                let jobs = jobs
                    .chunks(5)
                    .map(|c| {
                        Ok(ClaimedJob {
                            lease: Lease {
                                id: text(c.first())?,
                                token: int(c.get(1))?,
                            },
                            attempts: int(c.get(2))? as u32,
                            record: text(c.get(3))?,
                            last_error: text(c.get(4))?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                ClaimReply::Claimed {
                    now: num,
                    jobs,
                    orphans,
                }
            }
            other => return Err(QueueError::Protocol(format!("claim replied {other}"))),
        })
    }

    /// Applies up to [`MAX_BATCH`] outcomes atomically; one status per entry, in order.
    /// `maybe_applied`: an earlier try of this batch may have been applied (its reply was lost),
    /// so its rejections are not counted as late outcomes.
    pub async fn apply(
        &self,
        entries: &[OutcomeEntry],
        history_cap: usize,
        maybe_applied: bool,
    ) -> Result<Vec<Applied>> {
        let k = &self.keys;
        let mut inv = SCRIPTS.outcome.prepare_invoke();
        inv.key(k.running())
            .key(k.scheduled())
            .key(k.ready())
            .key(k.dead())
            .key(k.dead_index())
            .key(k.completed())
            .key(k.attempts())
            .key(k.lease())
            .key(k.history())
            .key(k.result())
            .key(k.error())
            .key(k.dindex())
            .key(k.stats())
            .key(k.wake())
            .key(k.sched())
            .key(k.events())
            .key(k.minutes());
        inv.arg(entries.len())
            .arg(history_cap.max(1))
            .arg(if maybe_applied { "1" } else { "0" })
            .arg(self.events_max);
        for e in entries {
            e.args(&mut inv);
        }
        let reply: String = inv.invoke_async(&mut self.conn.clone()).await?;
        if reply.len() != entries.len() {
            return Err(QueueError::Protocol(format!(
                "outcome returned {} statuses for {} entries",
                reply.len(),
                entries.len()
            )));
        }
        reply
            .bytes()
            .map(|b| match b {
                b'a' => Ok(Applied::Applied),
                b'l' => Ok(Applied::Late),
                b'r' => Ok(Applied::Race),
                other => Err(QueueError::Protocol(format!(
                    "outcome status {:?}",
                    other as char
                ))),
            })
            .collect()
    }

    /// Extends the leases a process still holds and, with `stamp`, stamps it alive. Returns
    /// the Redis time and the leases it no longer holds.
    pub async fn extend(
        &self,
        lease: Duration,
        stamp: Option<&str>,
        held: &[Lease],
    ) -> Result<(u64, Vec<Lease>)> {
        let mut inv = SCRIPTS.extend.prepare_invoke();
        inv.key(self.keys.running())
            .key(self.keys.lease())
            .key(self.keys.workers())
            .arg(lease.as_millis() as u64)
            .arg(stamp.unwrap_or(""));
        for l in held {
            inv.arg(&l.id).arg(l.token);
        }
        let reply: Vec<u64> = inv.invoke_async(&mut self.conn.clone()).await?;
        let now = reply.first().copied().unwrap_or(0);
        let lost = reply
            .iter()
            .skip(1)
            .filter_map(|&pos| held.get((pos as usize).checked_sub(1)?).cloned())
            .collect();
        Ok((now, lost))
    }

    /// Moves due scheduled jobs to ready; returns the time until the next one is due
    /// (`Duration::ZERO`: more are due now; `None`: nothing is scheduled).
    pub async fn forward(&self) -> Result<Option<Duration>> {
        let ms: i64 = SCRIPTS
            .forward
            .key(self.keys.scheduled())
            .key(self.keys.ready())
            .key(self.keys.wake())
            .arg(MAX_BATCH)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((ms >= 0).then(|| Duration::from_millis(ms as u64)))
    }

    /// Moves up to `limit` due scheduled jobs to ready.
    pub async fn promote(&self, limit: usize) -> Result<usize> {
        let k = &self.keys;
        Ok(SCRIPTS
            .promote
            .key(k.scheduled())
            .key(k.ready())
            .key(k.wake())
            .arg(limit.clamp(1, MAX_BATCH))
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// Lists up to `limit` leases whose deadline has passed, with the Redis time.
    pub async fn expired(&self, limit: usize) -> Result<(u64, Vec<ExpiredLease>)> {
        let k = &self.keys;
        let reply: Vec<Value> = SCRIPTS
            .expired
            .key(k.running())
            .key(k.lease())
            .key(k.attempts())
            .key(k.job())
            .key(k.workers())
            .arg(limit.clamp(1, MAX_BATCH))
            .invoke_async(&mut self.conn.clone())
            .await?;
        let now = int(reply.first())?;
        let mut out = Vec::new();
        for c in reply.get(1..).unwrap_or_default().chunks(6) {
            let lease = text(c.get(1))?;
            let mut parts = lease.splitn(3, '|');
            let token = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
            let worker = parts.next().unwrap_or("").to_string();
            out.push(ExpiredLease {
                lease: Lease {
                    id: text(c.first())?,
                    token,
                },
                holder: worker.split('/').next().unwrap_or("").to_string(),
                worker,
                deadline: int(c.get(2))?,
                attempts: int(c.get(3))? as u32,
                record: text(c.get(4))?,
                holder_stamp: int(c.get(5))?,
            });
        }
        Ok((now, out))
    }

    /// Requeues dead letters (those still dead and whose record decodes).
    pub async fn requeue_dead(
        &self,
        ids: &[String],
        delay: Duration,
        at_ms: u64,
        history: &HistoryEntry,
        history_cap: usize,
    ) -> Result<Requeued> {
        let k = &self.keys;
        let mut inv = SCRIPTS.requeue.prepare_invoke();
        inv.key(k.dead())
            .key(k.dead_index())
            .key(k.dindex())
            .key(k.scheduled())
            .key(k.ready())
            .key(k.attempts())
            .key(k.job())
            .key(k.history())
            .key(k.stats())
            .key(k.wake())
            .key(k.sched())
            .key(k.events())
            .arg(delay.as_millis() as u64)
            .arg(at_ms)
            .arg(history_cap.max(1))
            .arg(history.to_script_arg())
            .arg(self.events_max);
        for id in ids {
            inv.arg(id);
        }
        let (requeued, skipped): (Vec<String>, Vec<String>) =
            inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(Requeued { requeued, skipped })
    }

    /// Deletes dead letters (those still dead); returns the ids deleted.
    pub async fn delete_dead(&self, ids: &[String]) -> Result<Vec<String>> {
        let k = &self.keys;
        let mut inv = SCRIPTS.delete.prepare_invoke();
        inv.key(k.dead()).key(k.dead_index()).key(k.stats());
        for col in k.job_columns() {
            inv.key(col);
        }
        inv.key(k.ident());
        for id in ids {
            inv.arg(id);
        }
        Ok(inv.invoke_async(&mut self.conn.clone()).await?)
    }

    /// One bounded trim pass: dead letters past their TTL or over the cap, and completed jobs
    /// past their retention. Returns (trimmed by TTL, trimmed by cap, completed removed).
    pub async fn trim(
        &self,
        dead_cap: u64,
        dead_ttl: Duration,
        completed_retention: Duration,
        limit: usize,
    ) -> Result<(u64, u64, u64)> {
        let k = &self.keys;
        let mut inv = SCRIPTS.trim.prepare_invoke();
        inv.key(k.dead())
            .key(k.dead_index())
            .key(k.completed())
            .key(k.stats());
        for col in k.job_columns() {
            inv.key(col);
        }
        inv.key(k.ident()).key(k.minutes());
        inv.arg(dead_cap)
            .arg(dead_ttl.as_millis() as u64)
            .arg(completed_retention.as_millis() as u64)
            .arg(limit.clamp(1, MAX_BATCH))
            .arg(MINUTES_KEPT);
        let r: (u64, u64, u64) = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(r)
    }

    /// Stops claims for `d` (never shortens a throttle in place); returns the throttle left.
    pub async fn throttle(&self, d: Duration) -> Result<Duration> {
        throttle_key(&self.conn, &self.keys.throttle(), d).await
    }

    /// Takes one extra rate-limit slot; `Err(wait)` when none is free.
    pub async fn permit(&self, rate: Option<RateLimit>) -> Result<Option<Duration>> {
        let (limit, window) = rate.map_or((0, 0), |r| (r.limit, r.window.as_millis() as u64));
        let wait: u64 = SCRIPTS
            .permit
            .key(self.keys.rate())
            .key(self.keys.throttle())
            .key(self.keys.seq())
            .arg(limit)
            .arg(window)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }

    /// Sets or clears the pause flag; resuming wakes idle workers.
    pub async fn set_paused(&self, paused: bool) -> Result<()> {
        let mut conn = self.conn.clone();
        if paused {
            let _: () = redis::cmd("SET")
                .arg(self.keys.paused())
                .arg("paused by an operator")
                .query_async(&mut conn)
                .await?;
        } else {
            let _: () = redis::pipe()
                .del(self.keys.paused())
                .lpush(self.keys.wake(), "1")
                .ltrim(self.keys.wake(), 0, 0)
                .query_async(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// Publishes the fleet's default attempt budget (what workers apply to jobs without one).
    pub async fn publish_budget(&self, max_attempts: u32) -> Result<()> {
        let _: () = redis::cmd("SET")
            .arg(self.keys.budget())
            .arg(max_attempts)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// The fleet's default attempt budget as its workers published it.
    pub async fn fleet_budget(&self) -> Result<Option<u32>> {
        Ok(redis::cmd("GET")
            .arg(self.keys.budget())
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Pauses the queue with `reason` unless it is paused already; true if this call paused it.
    pub async fn pause_because(&self, reason: &str) -> Result<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.paused())
            .arg(reason)
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    /// Lifts a rate-limit throttle and wakes idle workers; true if one was in place.
    pub async fn unthrottle(&self) -> Result<bool> {
        let (removed, (), ()): (u64, (), ()) = redis::pipe()
            .del(self.keys.throttle())
            .lpush(self.keys.wake(), "1")
            .ltrim(self.keys.wake(), 0, 0)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(removed > 0)
    }

    /// The drain guard's streak: one more `not_found` (returns the streak), or a success
    /// (resets it, returns 0).
    pub async fn not_found_streak(&self, not_found: bool) -> Result<u64> {
        let mut conn = self.conn.clone();
        if not_found {
            Ok(redis::cmd("INCR")
                .arg(self.keys.not_found())
                .query_async(&mut conn)
                .await?)
        } else {
            let _: () = redis::cmd("DEL")
                .arg(self.keys.not_found())
                .query_async(&mut conn)
                .await?;
            Ok(0)
        }
    }

    /// Blocks up to `timeout` on the wake-up keys (`wake`, then `sched`). Use a connection made
    /// for blocking.
    pub async fn wait_for_wake(&self, timeout: Duration) -> Result<Option<Wake>> {
        let secs = timeout.as_secs_f64().max(0.01);
        let r: Option<(String, String)> = redis::cmd("BLPOP")
            .arg(self.keys.wake())
            .arg(self.keys.sched())
            .arg(secs)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(r.map(|(key, _)| {
            if key == self.keys.sched() {
                Wake::Schedule
            } else {
                Wake::Work
            }
        }))
    }

    /// Sizes, counters and flags.
    pub async fn stats(&self, workers_since_ms: u64) -> Result<RawStats> {
        let k = &self.keys;
        type Row = (
            (u64, u64, u64, u64, u64, u64),
            HashMap<String, u64>,
            Option<String>,
            i64,
            u64,
        );
        let (
            (ready, scheduled, running, dead, finished, cancelled),
            counters,
            paused,
            throttle,
            workers,
        ): Row = redis::pipe()
            .llen(k.ready())
            .zcard(k.scheduled())
            .zcard(k.running())
            .zcard(k.dead())
            .llen(k.completed())
            .hlen(k.cancelled())
            .hgetall(k.stats())
            .get(k.paused())
            .pttl(k.throttle())
            .zcount(k.workers(), workers_since_ms, "+inf")
            .query_async(&mut self.conn.clone())
            .await
            .map(|(a, b, c, d, e, e2, f, g, h, i)| ((a, b, c, d, e, e2), f, g, h, i))?;
        Ok(RawStats {
            ready,
            scheduled,
            running,
            dead,
            completed: finished.saturating_sub(cancelled),
            cancelled,
            counters,
            paused,
            throttle_ms: throttle.max(0) as u64,
            workers,
            latency_ms: self.latency_ms().await?,
        })
    }

    /// Attempts processed and failed per minute over the last `minutes` minutes, oldest first
    /// (Redis time; minutes without attempts are zeros).
    pub async fn throughput(&self, minutes: u64) -> Result<Vec<Minute>> {
        let mut conn = self.conn.clone();
        let counts: HashMap<String, u64> = conn.hgetall(self.keys.minutes()).await?;
        let (secs, _): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let now = secs / 60;
        Ok((0..minutes.min(MINUTES_KEPT))
            .rev()
            .map(|ago| {
                let m = now - ago;
                let get = |t: &str| counts.get(&format!("{m}|{t}")).copied().unwrap_or(0);
                Minute {
                    minute: m,
                    processed: get("p"),
                    failed: get("f"),
                }
            })
            .collect())
    }

    /// How long the oldest ready job has waited (ms, Redis time; 0 when none is ready).
    pub async fn latency_ms(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        let oldest: Option<String> = conn.lindex(self.keys.ready(), -1).await?;
        let Some(id) = oldest else { return Ok(0) };
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let now = secs * 1000 + micros / 1000;
        Ok(self
            .ready_since(&id)
            .await?
            .map_or(0, |t| now.saturating_sub(t)))
    }

    /// Since when a ready job has been waiting (Redis ms), from its record: its due time, or
    /// the end of the retry delay or the requeue its last history entry records.
    async fn ready_since(&self, id: &str) -> Result<Option<u64>> {
        let (record, history): (Option<String>, Option<String>) = redis::pipe()
            .hget(self.keys.job(), id)
            .hget(self.keys.history(), id)
            .query_async(&mut self.conn.clone())
            .await?;
        let Some(meta) =
            record.and_then(|r| serde_json::from_str::<JobMeta>(split_record(&r).0).ok())
        else {
            return Ok(None);
        };
        let last = history
            .and_then(|h| serde_json::from_str::<Vec<HistoryEntry>>(&h).ok())
            .and_then(|h| h.last().map(|e| e.at + e.retry_in_ms.unwrap_or(0)))
            .unwrap_or(0);
        Ok(Some(meta.due_at.max(meta.created_at).max(last)))
    }

    /// Everything stored about one job.
    pub async fn job(&self, id: &str) -> Result<Option<JobRecord>> {
        let k = &self.keys;
        type Row = (
            Option<String>,
            Option<u32>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<u64>,
        );
        type Scores = (Option<f64>, Option<f64>, Option<f64>);
        let ((record, attempts, lease, history, result, error, cancelled), scores): (Row, Scores) =
            redis::pipe()
                .hget(k.job(), id)
                .hget(k.attempts(), id)
                .hget(k.lease(), id)
                .hget(k.history(), id)
                .hget(k.result(), id)
                .hget(k.error(), id)
                .hget(k.cancelled(), id)
                .zscore(k.scheduled(), id)
                .zscore(k.running(), id)
                .zscore(k.dead(), id)
                .query_async(&mut self.conn.clone())
                .await
                .map(|(a, b, c, d, e, f, g, i, j, l)| ((a, b, c, d, e, f, g), (i, j, l)))?;
        let Some(record) = record else {
            return Ok(None);
        };
        let (meta, payload) = split_record(&record);
        let corrupt = |reason: String| QueueError::Corrupt {
            id: id.to_string(),
            reason,
        };
        let meta: JobMeta =
            serde_json::from_str(meta).map_err(|e| corrupt(format!("meta: {e}")))?;
        let state = Whereabouts {
            leased: lease.is_some(),
            dead: scores.2.is_some(),
            scheduled: scores.0.is_some(),
            result: result.is_some(),
            cancelled: cancelled.is_some(),
        }
        .state();
        let history: Vec<HistoryEntry> = match history {
            Some(h) => serde_json::from_str(&h).map_err(|e| corrupt(format!("history: {e}")))?,
            None => Vec::new(),
        };
        let last_error: Option<Failure> = match error {
            Some(e) => Some(serde_json::from_str(&e).map_err(|e| corrupt(format!("error: {e}")))?),
            None => None,
        };
        let result = match result {
            Some(r) => Some(serde_json::from_str(&r).map_err(|e| corrupt(format!("result: {e}")))?),
            None => None,
        };
        let ms = |s: Option<f64>| s.map(|v| v as u64);
        let (due_at, lease_until, died_at) = (ms(scores.0), ms(scores.1), ms(scores.2));
        let finished_at = match state {
            JobState::Completed => history
                .iter()
                .rev()
                .find(|h| h.outcome == "success")
                .map(|h| h.at),
            JobState::Cancelled => cancelled,
            _ => None,
        };
        let worker = lease.and_then(|l| l.split('|').nth(1).map(str::to_string));
        Ok(Some(JobRecord {
            id: id.to_string(),
            state,
            payload: payload.to_string(),
            attempts: attempts.unwrap_or(0),
            max_attempts: meta.max_attempts.unwrap_or(0),
            meta,
            due_at,
            lease_until,
            worker,
            died_at,
            finished_at,
            result,
            last_error,
            history,
        }))
    }

    /// State of each id (`None` when unknown); see [`Whereabouts`].
    pub async fn states(&self, ids: &[String]) -> Result<Vec<Option<JobState>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET").arg(k.lease()).arg(ids);
        pipe.cmd("ZMSCORE").arg(k.dead()).arg(ids);
        pipe.cmd("ZMSCORE").arg(k.scheduled()).arg(ids);
        pipe.cmd("HMGET").arg(k.cancelled()).arg(ids);
        for id in ids {
            pipe.hexists(k.result(), id).hexists(k.job(), id);
        }
        let mut reply: Vec<Value> = pipe.query_async(&mut self.conn.clone()).await?;
        let flags = reply.split_off(4);
        let present = |v: &Value, i: usize| match v {
            Value::Array(items) => !matches!(items.get(i), None | Some(Value::Nil)),
            _ => false,
        };
        let yes = |v: Option<&Value>| matches!(v, Some(Value::Int(1)) | Some(Value::Boolean(true)));
        Ok(ids
            .iter()
            .enumerate()
            .map(|(i, _)| {
                yes(flags.get(2 * i + 1)).then(|| {
                    Whereabouts {
                        leased: present(&reply[0], i),
                        dead: present(&reply[1], i),
                        scheduled: present(&reply[2], i),
                        cancelled: present(&reply[3], i),
                        result: yes(flags.get(2 * i)),
                    }
                    .state()
                })
            })
            .collect())
    }

    /// Dead-letter ids, newest first, from `offset`, with died_at in `[min_ms, max_ms]`.
    pub async fn dead_ids(
        &self,
        min_ms: u64,
        max_ms: u64,
        offset: u64,
        count: u64,
    ) -> Result<Vec<String>> {
        Ok(redis::cmd("ZREVRANGEBYSCORE")
            .arg(self.keys.dead())
            .arg(max_ms)
            .arg(min_ms)
            .arg("LIMIT")
            .arg(offset)
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Number of dead letters with died_at in `[min_ms, max_ms]`.
    pub async fn dead_count(&self, min_ms: u64, max_ms: u64) -> Result<u64> {
        Ok(redis::cmd("ZCOUNT")
            .arg(self.keys.dead())
            .arg(min_ms)
            .arg(max_ms)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Dead-letter ids of one index dimension (`c|server_error`), newest first.
    pub async fn dead_ids_by(
        &self,
        dim: &str,
        min_ms: u64,
        max_ms: u64,
        offset: u64,
        count: u64,
    ) -> Result<Vec<String>> {
        let (lo, hi) = lex_bounds(dim, min_ms, max_ms);
        let members: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(self.keys.dead_index())
            .arg(hi)
            .arg(lo)
            .arg("LIMIT")
            .arg(offset)
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(members
            .iter()
            .filter_map(|m| m.rsplit('|').next().map(str::to_string))
            .collect())
    }

    /// Index members of one dimension after `after` (exclusive), oldest first: a cursor that
    /// stays valid while earlier letters are requeued or deleted.
    pub async fn dead_members_after(
        &self,
        dim: &str,
        min_ms: u64,
        max_ms: u64,
        after: Option<&str>,
        count: u64,
    ) -> Result<Vec<String>> {
        let (lo, hi) = lex_bounds(dim, min_ms, max_ms);
        let lo = after.map_or(lo, |m| format!("({m}"));
        Ok(redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.dead_index())
            .arg(lo)
            .arg(hi)
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Number of dead letters in one index dimension.
    pub async fn dead_count_by(&self, dim: &str, min_ms: u64, max_ms: u64) -> Result<u64> {
        let (lo, hi) = lex_bounds(dim, min_ms, max_ms);
        Ok(redis::cmd("ZLEXCOUNT")
            .arg(self.keys.dead_index())
            .arg(lo)
            .arg(hi)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Distinct values of one dead-index dimension (`c` class, `k` kind, `s` status, `t` Okra
    /// type) with the letters that died in `[min_ms, max_ms]`, by a skip scan of the index: two
    /// logarithmic commands per value, however many letters there are.
    pub async fn dead_values(
        &self,
        dim: char,
        min_ms: u64,
        max_ms: u64,
    ) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut from = format!("[{dim}|");
        loop {
            let first: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(self.keys.dead_index())
                .arg(&from)
                .arg(format!("({dim}}}"))
                .arg("LIMIT")
                .arg(0)
                .arg(1)
                .query_async(&mut self.conn.clone())
                .await?;
            let Some(value) = first
                .first()
                .and_then(|m| m.split('|').nth(1))
                .map(str::to_string)
            else {
                return Ok(out);
            };
            let n = self
                .dead_count_by(&format!("{dim}|{value}"), min_ms, max_ms)
                .await?;
            if n > 0 {
                out.push((value.clone(), n));
            }
            from = format!("({dim}|{value}|~");
        }
    }

    /// Listing fields of dead letters, in the order of `ids`.
    pub async fn dead_briefs(&self, ids: &[String], with_payload: bool) -> Result<Vec<DeadBrief>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("ZMSCORE").arg(k.dead()).arg(ids);
        for col in [k.job(), k.error(), k.attempts(), k.dindex()] {
            pipe.cmd("HMGET").arg(col).arg(ids);
        }
        let cols: Vec<Vec<Value>> = pipe.query_async(&mut self.conn.clone()).await?;
        let get = |col: &Vec<Value>, i: usize| -> String {
            match col.get(i) {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::Int(n)) => n.to_string(),
                _ => String::new(),
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let died_at = match cols[0].get(i) {
                Some(Value::Double(d)) => Some(*d as u64),
                Some(Value::BulkString(b)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(|d| d as u64),
                _ => None,
            };
            let dims = get(&cols[4], i)
                .split('\n')
                .filter_map(|m| {
                    let mut parts = m.splitn(3, '|');
                    let dim = parts.next()?.chars().next()?;
                    Some((dim, parts.next()?.to_string()))
                })
                .collect();
            let record = get(&cols[1], i);
            let (meta, payload) = split_record(&record);
            out.push(DeadBrief {
                id: id.clone(),
                died_at,
                meta: meta.to_string(),
                error: get(&cols[2], i),
                attempts: get(&cols[3], i).parse().unwrap_or(0),
                dims,
                payload: with_payload.then(|| payload.to_string()),
            });
        }
        Ok(out)
    }

    /// Attempt histories (JSON arrays) of `ids`, in order.
    pub async fn histories(&self, ids: &[String]) -> Result<Vec<Option<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(redis::cmd("HMGET")
            .arg(self.keys.history())
            .arg(ids)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Publishes a worker process's description (registering it if new) and drops
    /// registrations older than `prune_after`. Returns how many were dropped.
    pub async fn heartbeat(&self, worker: &str, info: &str, prune_after: Duration) -> Result<u64> {
        let (_now, pruned): (u64, u64) = SCRIPTS
            .heartbeat
            .key(self.keys.workers())
            .key(self.keys.worker_info())
            .arg(worker)
            .arg(info)
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

    /// Registered workers, most recently seen first.
    pub async fn workers(&self) -> Result<Vec<WorkerEntry>> {
        let seen: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
            .arg(self.keys.workers())
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut self.conn.clone())
            .await?;
        if seen.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&String> = seen.iter().map(|(id, _)| id).collect();
        let infos: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.worker_info())
            .arg(&ids)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(seen
            .into_iter()
            .zip(infos)
            .map(|((id, at), info)| WorkerEntry {
                id,
                last_seen: at as u64,
                info: info.unwrap_or_default(),
            })
            .collect())
    }

    /// The server's version and eviction policy (from `INFO`, which managed services allow
    /// where `CONFIG GET` is often disabled). On a cluster, the node that answers.
    pub async fn server_info(&self) -> Result<ServerInfo> {
        // Plain `INFO`: several sections in one call need Redis 7. A cluster answers per node.
        let reply: Value = redis::cmd("INFO")
            .query_async(&mut self.conn.clone())
            .await?;
        let text = match &reply {
            Value::Map(nodes) => nodes.first().map(|(_, v)| text(Some(v))).transpose()?,
            other => Some(text(Some(other))?),
        }
        .unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Ok(ServerInfo {
            version: field("redis_version"),
            maxmemory_policy: field("maxmemory_policy"),
        })
    }

    /// Checks the server answers.
    pub async fn ping(&self) -> Result<()> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        if pong != "PONG" {
            return Err(QueueError::Protocol(format!("PING answered {pong}")));
        }
        Ok(())
    }
}

/// Sets a throttle key (a queue's or an account's) for `d`, never shortening one in place;
/// returns the throttle left.
pub(crate) async fn throttle_key(conn: &RedisConn, key: &str, d: Duration) -> Result<Duration> {
    let ms: u64 = SCRIPTS
        .throttle
        .key(key)
        .arg(d.as_millis().max(1) as u64)
        .invoke_async(&mut conn.clone())
        .await?;
    Ok(Duration::from_millis(ms))
}

/// Where a job's id was found. Nothing stores a job's state; it follows from this.
#[derive(Debug, Clone, Copy, Default)]
pub struct Whereabouts {
    /// It has a lease.
    pub leased: bool,
    /// It is in the dead set.
    pub dead: bool,
    /// It is in the scheduled set.
    pub scheduled: bool,
    /// It has a result.
    pub result: bool,
    /// It has a cancellation stamp.
    pub cancelled: bool,
}

impl Whereabouts {
    /// A lease means running, the dead set dead, the scheduled set scheduled, a result
    /// completed, a cancellation stamp cancelled; anything else is ready.
    pub fn state(self) -> JobState {
        if self.leased {
            JobState::Running
        } else if self.dead {
            JobState::Dead
        } else if self.scheduled {
            JobState::Scheduled
        } else if self.result {
            JobState::Completed
        } else if self.cancelled {
            JobState::Cancelled
        } else {
            JobState::Ready
        }
    }
}

/// Lexicographic bounds of one dimension's index members between two times.
fn lex_bounds(dim: &str, min_ms: u64, max_ms: u64) -> (String, String) {
    (
        format!("[{dim}|{min_ms:015}|"),
        format!("[{dim}|{:015}|~", max_ms.min(999_999_999_999_999)),
    )
}

fn text(v: Option<&Value>) -> Result<String> {
    match v {
        Some(Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Ok(s.clone()),
        Some(Value::VerbatimString { text, .. }) => Ok(text.clone()),
        Some(Value::Int(n)) => Ok(n.to_string()),
        Some(Value::Nil) => Ok(String::new()),
        other => Err(QueueError::Protocol(format!(
            "expected text, got {other:?}"
        ))),
    }
}

fn int(v: Option<&Value>) -> Result<u64> {
    match v {
        Some(Value::Int(n)) => Ok((*n).max(0) as u64),
        Some(Value::BulkString(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(|f| f.max(0.0) as u64)
            .ok_or_else(|| QueueError::Protocol("expected a number".into())),
        other => Err(QueueError::Protocol(format!(
            "expected a number, got {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::lex_bounds;

    #[test]
    fn state_follows_from_where_the_job_is() {
        use super::Whereabouts as W;
        use crate::job::JobState::*;
        let w = W::default();
        assert_eq!(
            W {
                leased: true,
                dead: true,
                ..w
            }
            .state(),
            Running
        );
        assert_eq!(W { dead: true, ..w }.state(), Dead);
        assert_eq!(
            W {
                scheduled: true,
                ..w
            }
            .state(),
            Scheduled
        );
        assert_eq!(W { result: true, ..w }.state(), Completed);
        assert_eq!(
            W {
                cancelled: true,
                ..w
            }
            .state(),
            Cancelled
        );
        assert_eq!(w.state(), Ready);
    }

    #[test]
    fn lex_bounds_cover_the_time_range() {
        let (lo, hi) = lex_bounds("c|server_error", 5, 10);
        let member = format!("c|server_error|{:015}|01ABC", 7);
        assert!(lo[1..] <= *member && *member <= hi[1..]);
        let outside = format!("c|server_error|{:015}|01ABC", 11);
        assert!(*outside > hi[1..]);
    }
}
