//! What operators and the library's readers see: sizes, counters and flags, per-minute
//! throughput, the queue latency, one job's whole record, and where jobs are.

use std::collections::HashMap;

use redis::Value;

use super::reply::{int, text};
use super::scripts::SCRIPTS;
use super::{MINUTES_KEPT, Rdb};
use crate::error::{QueueError, Result};
use crate::job::{
    Failure, HistoryEntry, HistoryKind, JobMeta, JobRecord, JobState, attempts_shown, split_record,
    split_result,
};

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
}

impl Rdb {
    /// Sizes, counters and flags (workers stamped since `workers_since_ms`).
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
            .hlen(k.lease())
            .zcard(k.dead())
            .hlen(k.result())
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
            completed: finished,
            cancelled,
            counters,
            paused,
            throttle_ms: throttle.max(0) as u64,
            workers,
        })
    }

    /// Attempts processed and failed per minute over the last `minutes` minutes, oldest first
    /// (Redis time; minutes without attempts are zeros).
    pub async fn throughput(&self, minutes: u64) -> Result<Vec<Minute>> {
        let (counts, (secs, _)): (HashMap<String, u64>, (u64, u64)) = redis::pipe()
            .hgetall(self.keys.minutes())
            .cmd("TIME")
            .query_async(&mut self.conn.clone())
            .await?;
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

    /// How long the oldest ready job has waited (ms, Redis time; 0 when none is ready): since
    /// its due time, or the end of the retry delay or the requeue its last history entry
    /// records.
    pub async fn latency_ms(&self) -> Result<u64> {
        let k = &self.keys;
        let reply: Vec<Value> = SCRIPTS
            .oldest
            .key(k.ready())
            .key(k.job())
            .key(k.history())
            .invoke_async(&mut self.conn.clone())
            .await?;
        let now = int(reply.first())?;
        if reply.len() < 3 {
            return Ok(0);
        }
        let record = text(reply.get(1))?;
        let Ok(meta) = serde_json::from_str::<JobMeta>(split_record(&record).0) else {
            return Ok(0);
        };
        let last = serde_json::from_str::<Vec<HistoryEntry>>(&text(reply.get(2))?)
            .ok()
            .and_then(|h| h.last().map(|e| e.at + e.retry_in_ms.unwrap_or(0)))
            .unwrap_or(0);
        Ok(now.saturating_sub(meta.due_at.max(meta.created_at).max(last)))
    }

    /// Everything stored about one job: its record (with no result yet) and its result as
    /// stored (JSON, or sealed: the queue handle opens it).
    pub async fn job(&self, id: &str) -> Result<Option<(JobRecord, Option<String>)>> {
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
        type Scores = (Option<f64>, Option<f64>);
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
                .zscore(k.dead(), id)
                .query_async(&mut self.conn.clone())
                .await
                .map(|(a, b, c, d, e, f, g, i, l)| ((a, b, c, d, e, f, g), (i, l)))?;
        let Some(record) = record else {
            return Ok(None);
        };
        // A leased job: its claim's deadline and holder.
        let (lease_until, worker) = match &lease {
            Some(claim) => {
                let (deadline, holder): (Option<f64>, Option<String>) = redis::pipe()
                    .zscore(k.running(), claim)
                    .hget(k.claims(), claim)
                    .query_async(&mut self.conn.clone())
                    .await?;
                (
                    deadline.map(|d| d as u64),
                    holder.and_then(|h| h.split('|').next().map(str::to_string)),
                )
            }
            None => (None, None),
        };
        let (meta, payload) = split_record(&record);
        let corrupt = |reason: String| QueueError::Corrupt {
            id: id.to_string(),
            reason,
        };
        let meta: JobMeta = serde_json::from_str(meta)
            .map_err(|e| corrupt(format!("meta: {}", crate::job::json_error_rule(&e))))?;
        let state = Whereabouts {
            leased: lease.is_some(),
            dead: scores.1.is_some(),
            scheduled: scores.0.is_some(),
            result: result.is_some(),
            cancelled: cancelled.is_some(),
        }
        .state();
        let mut history: Vec<HistoryEntry> = match history {
            Some(h) => serde_json::from_str(&h)
                .map_err(|e| corrupt(format!("history: {}", crate::job::json_error_rule(&e))))?,
            None => Vec::new(),
        };
        let (stamp, result) = match &result {
            Some(r) => {
                let (at, r) = split_result(r);
                (at, Some(r.to_string()))
            }
            None => (None, None),
        };
        let last_error: Option<Failure> = match error {
            Some(e) => Some(
                serde_json::from_str(&e)
                    .map_err(|e| corrupt(format!("error: {}", crate::job::json_error_rule(&e))))?,
            ),
            None => None,
        };
        let ms = |s: Option<f64>| s.map(|v| v as u64);
        let (due_at, died_at) = (ms(scores.0), ms(scores.1));
        let finished_at = match state {
            JobState::Completed => stamp.or_else(|| {
                history
                    .iter()
                    .rev()
                    .find(|h| h.outcome == HistoryKind::Success)
                    .map(|h| h.at)
            }),
            JobState::Cancelled => cancelled,
            _ => None,
        };
        let attempts = attempts_shown(attempts.unwrap_or(0), state);
        // A first run that succeeded keeps no history: it is implied.
        if state == JobState::Completed && history.is_empty() {
            history.push(HistoryEntry {
                at: finished_at.unwrap_or(0),
                attempt: attempts,
                outcome: HistoryKind::Success,
                ..HistoryEntry::default()
            });
        }
        let record = JobRecord {
            id: id.to_string(),
            state,
            payload: payload.to_string(),
            attempts,
            max_attempts: meta.max_attempts.unwrap_or(0),
            meta,
            due_at,
            lease_until,
            worker,
            died_at,
            finished_at,
            result: None,
            last_error,
            history,
        };
        Ok(Some((record, result)))
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

#[cfg(test)]
mod tests {
    use super::Whereabouts as W;
    use crate::job::JobState::*;

    #[test]
    fn state_follows_from_where_the_job_is() {
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
}
