//! What a running worker process calls, on its hot path and in its background loops: claim,
//! record outcomes, extend leases, list expired ones, move due jobs, wait for work, trim.

use std::time::Duration;

use redis::Value;

use super::control::RateLimit;
use super::dead::Dim;
use super::reply::{int, text};
use super::scripts::SCRIPTS;
use super::{MAX_BATCH, MINUTES_KEPT, Rdb};
use crate::error::{QueueError, Result};
use crate::job::{HistoryEntry, HistoryKind, Lease};

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
    /// The last failure recorded for the job, JSON (empty when it never failed): the previous
    /// attempt's, or after a requeue the one it died of.
    pub last_error: String,
}

/// Where an outcome moves a claimed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Completed with a result.
    Complete,
    /// Scheduled again.
    Retry,
    /// Moved to dead letters.
    Dead,
    /// Given back unstarted (or unfinished at shutdown) to the head of the ready list.
    Release,
}

impl Transition {
    /// Every transition, for metrics that must exist from the start.
    pub const ALL: [Transition; 4] = [Self::Complete, Self::Retry, Self::Dead, Self::Release];

    /// What the job's history records for it; its `as_str` is the `outcome` metric label.
    pub fn history(self) -> HistoryKind {
        match self {
            Self::Complete => HistoryKind::Success,
            Self::Retry => HistoryKind::Retry,
            Self::Dead => HistoryKind::Dead,
            Self::Release => HistoryKind::Released,
        }
    }

    /// The letter `outcome.lua` takes.
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
    /// Where the job goes.
    pub transition: Transition,
    /// Delay before the retry.
    pub delay_ms: u64,
    /// Give the attempt back.
    pub refund: bool,
    /// History entry.
    pub history: HistoryEntry,
    /// Result JSON (complete) or failure JSON (retry, dead).
    pub data: String,
    /// Dead-letter index dimensions, for dead letters.
    pub dims: Vec<Dim>,
    /// A reaper's outcome: apply only if the lease deadline has passed.
    pub fence: bool,
    /// Job kind (for metrics, logs and the event).
    pub kind: String,
    /// Why a dead letter died (for logs; it is inside `data` too).
    pub reason: Option<String>,
    /// Keyed hashes of the identifiers `data` carries (beyond the job's own): added to the
    /// identity index with the outcome, so erasing any of them erases this job.
    pub carried: Vec<String>,
}

impl OutcomeEntry {
    /// A first attempt that succeeded: `outcome.lua`'s short form (id, lease, result), its
    /// history entry and event shared with the batch's others.
    fn is_short(&self) -> bool {
        self.transition == Transition::Complete
            && self.lease.first_run
            && !self.refund
            && !self.fence
    }

    /// `id, lease, transition, delay ms, refund, history entry, data, dimensions, fence, kind,
    /// class, attempt`.
    fn args(&self, inv: &mut redis::ScriptInvocation<'_>) {
        let flag = |b: bool| if b { "1" } else { "0" };
        inv.arg(&self.lease.id)
            .arg(&self.lease.stored)
            .arg(self.transition.code())
            .arg(self.delay_ms)
            .arg(flag(self.refund))
            .arg(self.history.to_script_arg())
            .arg(&self.data)
            .arg(
                self.dims
                    .iter()
                    .map(Dim::as_str)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .arg(flag(self.fence))
            .arg(&self.kind)
            .arg(self.class())
            .arg(self.history.attempt)
            .arg(self.carried.join(" "));
    }

    /// The failure class it records (`""` for a success or a release).
    pub fn class(&self) -> &str {
        self.history
            .class
            .as_deref()
            .filter(|_| self.transition != Transition::Release)
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
    /// Not written: the job's person was erased while it ran (`okra-admin erase`).
    Erased,
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
    /// The expired run's attempt (what finished runs spent, and this one).
    pub attempts: u32,
    /// Stored record (metadata JSON, newline, payload JSON).
    pub record: String,
}

/// What woke a blocked waiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// New ready work.
    Work,
    /// A job was scheduled sooner than every other: re-arm the scheduler's timer.
    Schedule,
}

impl Rdb {
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
            .key(k.claims())
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
                let token = int(reply.get(2))?;
                let count = int(reply.get(3))? as usize;
                let rest = reply.get(4..).unwrap_or_default();
                let (jobs, orphans) = rest.split_at((count * 4).min(rest.len()));
                let orphans = orphans
                    .iter()
                    .map(|v| text(Some(v)))
                    .collect::<Result<Vec<_>>>()?;
                let jobs = jobs
                    .chunks(4)
                    .map(|c| {
                        // 0 instead of a failure: the job never ran before.
                        let first_run = matches!(c.get(3), Some(Value::Int(0)));
                        Ok(ClaimedJob {
                            lease: Lease::claimed(text(c.first())?, token, first_run),
                            attempts: int(c.get(1))? as u32,
                            record: text(c.get(2))?,
                            last_error: if first_run {
                                String::new()
                            } else {
                                text(c.get(3))?
                            },
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
    /// A handle that does not seal (see [`Rdb::sealing`]) is refused on a sealed queue,
    /// atomically with the write.
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
            .key(k.minutes())
            .key(k.erased())
            .key(k.sealed())
            .key(k.job())
            .key(k.ident())
            .key(k.hooks_on())
            .key(k.outbox());
        // A job named twice in one batch goes the long way, where the script rejects the
        // second outcome of a claim; the short way trusts its ids to be distinct.
        let mut named: std::collections::HashMap<&str, usize> = Default::default();
        for e in entries {
            *named.entry(e.lease.id.as_str()).or_default() += 1;
        }
        type Numbered<'a> = Vec<(usize, &'a OutcomeEntry)>;
        let (short, long): (Numbered, Numbered) = entries
            .iter()
            .enumerate()
            .partition(|(_, e)| e.is_short() && named[e.lease.id.as_str()] == 1);
        inv.arg(short.len())
            .arg(long.len())
            .arg(history_cap.max(1))
            .arg(if maybe_applied { "1" } else { "0" })
            .arg(self.events_max)
            .arg(super::events::event_field(
                short.iter().map(|(_, e)| e.kind.as_str()),
            ))
            .arg(if self.sealing { "1" } else { "0" });
        for (_, e) in &short {
            inv.arg(&e.lease.id)
                .arg(&e.lease.stored)
                .arg(&e.data)
                .arg(e.carried.join(" "));
        }
        for (_, e) in &long {
            e.args(&mut inv);
        }
        let reply: String = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| super::enqueue::refusal(e.into()))?;
        if reply.len() != entries.len() {
            return Err(QueueError::Protocol(format!(
                "outcome returned {} statuses for {} entries",
                reply.len(),
                entries.len()
            )));
        }
        // The script answers short entries first: put the statuses back in the entries' order.
        let mut out = vec![Applied::Applied; entries.len()];
        for ((i, _), b) in short.iter().chain(&long).zip(reply.bytes()) {
            out[*i] = match b {
                b'a' => Applied::Applied,
                b'l' => Applied::Late,
                b'r' => Applied::Race,
                b'e' => Applied::Erased,
                other => {
                    return Err(QueueError::Protocol(format!(
                        "outcome status {:?}",
                        other as char
                    )));
                }
            };
        }
        Ok(out)
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
            inv.arg(&l.id).arg(&l.stored);
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
            .key(k.claims())
            .arg(limit.clamp(1, MAX_BATCH))
            .invoke_async(&mut self.conn.clone())
            .await?;
        let now = int(reply.first())?;
        let mut out = Vec::new();
        for c in reply.get(1..).unwrap_or_default().chunks(7) {
            let claim = text(c.get(1))?;
            let worker = text(c.get(2))?;
            out.push(ExpiredLease {
                lease: Lease {
                    id: text(c.first())?,
                    token: claim.parse().unwrap_or(0),
                    stored: claim,
                    first_run: false,
                },
                holder: worker.split('/').next().unwrap_or("").to_string(),
                worker,
                deadline: int(c.get(3))?,
                attempts: int(c.get(4))? as u32 + 1,
                record: text(c.get(5))?,
                holder_stamp: int(c.get(6))?,
            });
        }
        Ok((now, out))
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

    /// Drops Okra's answer from dead letters that died more than `retention` ago (zero: keep
    /// them), up to about `limit` letters; returns how many were dropped and whether more may
    /// be waiting.
    pub async fn forget_answers(&self, retention: Duration, limit: usize) -> Result<(u64, bool)> {
        let (dropped, more): (u64, u64) = SCRIPTS
            .forget_answers
            .key(self.keys.dead())
            .key(self.keys.error())
            .key(self.keys.answers())
            .arg(retention.as_millis() as u64)
            .arg(limit.clamp(1, MAX_BATCH))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((dropped, more == 1))
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
}
