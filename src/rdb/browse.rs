//! Live jobs as operators see them: ids by state in run order, their listing fields, and the
//! operator actions on one job (cancel, run now) and lookups (idempotency key, identity).

use redis::{AsyncCommands, Value};

use super::reply::{int, text};
use super::scripts::SCRIPTS;
use super::{Rdb, Whereabouts};
use crate::error::Result;
use crate::job::{HistoryEntry, JobMeta, JobState, attempts_shown, split_record};

/// Where `jobs list` reads ids from, in the order each will run or ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// `ready`, next to run first.
    Ready,
    /// `scheduled`, soonest first.
    Scheduled,
    /// `running`, earliest lease deadline first.
    Running,
    /// `completed` (completed and cancelled jobs), newest first.
    Finished,
}

impl Listing {
    /// Where jobs of a listable state ([`JobState::LISTABLE`]) are read from; `None` for dead
    /// letters, which have an index of their own.
    pub fn of(state: JobState) -> Option<Self> {
        match state {
            JobState::Ready => Some(Self::Ready),
            JobState::Scheduled => Some(Self::Scheduled),
            JobState::Running => Some(Self::Running),
            JobState::Completed | JobState::Cancelled => Some(Self::Finished),
            JobState::Dead => None,
        }
    }
}

/// One live job in a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobBrief {
    /// Job id.
    pub id: String,
    /// Job kind.
    pub kind: String,
    /// State.
    pub state: JobState,
    /// Attempts spent in the current budget.
    pub attempts: u32,
    /// Enqueue time (ms).
    pub created_at: u64,
    /// Due time (scheduled), lease deadline (running) or finish time (completed, cancelled), ms.
    pub at: Option<u64>,
    /// Class of the last failure, if any.
    pub last_class: Option<String>,
}

/// What `cancel.lua` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReply {
    /// Cancelled.
    Cancelled,
    /// No such job.
    Unknown,
    /// Not cancelled: it is in this state.
    Refused(JobState),
}

impl Rdb {
    /// Ids of one listing from `offset`, with their time (due, deadline, finish) where the
    /// listing has one.
    pub async fn ids_in(
        &self,
        listing: Listing,
        offset: u64,
        count: u64,
    ) -> Result<Vec<(String, Option<u64>)>> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let mut conn = self.conn.clone();
        // Lists are read from their tail: workers pop `ready` from the right, and `completed`
        // is appended in finish order.
        let tail = |key: String| {
            let mut cmd = redis::cmd("LRANGE");
            cmd.arg(key)
                .arg(-((offset + count) as i64))
                .arg(-(offset as i64) - 1);
            cmd
        };
        Ok(match listing {
            Listing::Ready => {
                let ids: Vec<String> = tail(k.ready()).query_async(&mut conn).await?;
                ids.into_iter().rev().map(|id| (id, None)).collect()
            }
            Listing::Finished => self.finished(offset, count).await?,
            Listing::Scheduled => {
                let rows: Vec<(String, f64)> = conn
                    .zrange_withscores(
                        k.scheduled(),
                        offset as isize,
                        (offset + count - 1) as isize,
                    )
                    .await?;
                rows.into_iter()
                    .map(|(id, at)| (id, Some(at as u64)))
                    .collect()
            }
            Listing::Running => self
                .running_jobs()
                .await?
                .into_iter()
                .skip(offset as usize)
                .take(count as usize)
                .map(|(id, at)| (id, Some(at)))
                .collect(),
        })
    }

    /// Finished jobs newest first, from `offset`: `completed` holds one entry per call that
    /// finished jobs (`ms|id id …`), so entries are read from the tail, a chunk at a time, and
    /// opened until the page is full.
    async fn finished(&self, offset: u64, count: u64) -> Result<Vec<(String, Option<u64>)>> {
        const ENTRIES: i64 = 200;
        let mut conn = self.conn.clone();
        let (mut skip, mut out, mut from) = (offset, Vec::new(), -1i64);
        loop {
            let entries: Vec<String> = redis::cmd("LRANGE")
                .arg(self.keys.completed())
                .arg(from - ENTRIES + 1)
                .arg(from)
                .query_async(&mut conn)
                .await?;
            for e in entries.iter().rev() {
                let Some((at, ids)) = e.split_once('|') else {
                    continue;
                };
                for id in ids.split(' ').filter(|i| !i.is_empty()).rev() {
                    if skip > 0 {
                        skip -= 1;
                    } else if (out.len() as u64) < count {
                        out.push((id.to_string(), at.parse().ok()));
                    }
                }
                if out.len() as u64 >= count {
                    return Ok(out);
                }
            }
            if (entries.len() as i64) < ENTRIES {
                return Ok(out);
            }
            from -= ENTRIES;
        }
    }

    /// Every running job with its claim's deadline, soonest first: the jobs of each claim in
    /// `running` still leased to it (a walk over the claims in flight: as many as the fleet's
    /// claim calls of the last lease).
    pub async fn running_jobs(&self) -> Result<Vec<(String, u64)>> {
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let claims: Vec<(String, f64)> = conn.zrange_withscores(k.running(), 0, -1).await?;
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = claims.iter().map(|(c, _)| c.as_str()).collect();
        let records: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(k.claims())
            .arg(&names)
            .query_async(&mut conn)
            .await?;
        let mut jobs: Vec<(String, String, u64)> = Vec::new();
        for ((claim, deadline), record) in claims.iter().zip(records) {
            let ids = record
                .as_deref()
                .and_then(|r| r.splitn(3, '|').nth(2))
                .unwrap_or("");
            for id in ids.split(' ').filter(|i| !i.is_empty()) {
                jobs.push((id.to_string(), claim.clone(), *deadline as u64));
            }
        }
        let mut out = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(super::MAX_BATCH) {
            let ids: Vec<&str> = chunk.iter().map(|(id, ..)| id.as_str()).collect();
            let leases: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(k.lease())
                .arg(&ids)
                .query_async(&mut conn)
                .await?;
            for ((id, claim, deadline), lease) in chunk.iter().zip(leases) {
                if lease.as_deref() == Some(claim.as_str()) {
                    out.push((id.clone(), *deadline));
                }
            }
        }
        Ok(out)
    }

    /// Listing fields of each id (`None` for an id without a record), in one round trip.
    pub async fn briefs(&self, ids: &[(String, Option<u64>)]) -> Result<Vec<Option<JobBrief>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let only: Vec<&str> = ids.iter().map(|(id, _)| id.as_str()).collect();
        let mut pipe = redis::pipe();
        for key in [k.job(), k.attempts(), k.lease(), k.error(), k.cancelled()] {
            pipe.cmd("HMGET").arg(key).arg(&only);
        }
        for key in [k.dead(), k.scheduled()] {
            pipe.cmd("ZMSCORE").arg(key).arg(&only);
        }
        for id in &only {
            pipe.hexists(k.result(), *id);
        }
        let reply: Vec<Value> = pipe.query_async(&mut self.conn.clone()).await?;
        let column = |c: usize, i: usize| match reply.get(c) {
            Some(Value::Array(items)) => items.get(i).filter(|v| !matches!(v, Value::Nil)),
            _ => None,
        };
        Ok(ids
            .iter()
            .enumerate()
            .map(|(i, (id, at))| {
                let record = text(column(0, i)).ok().filter(|r| !r.is_empty())?;
                let meta: JobMeta = serde_json::from_str(split_record(&record).0).ok()?;
                let state = Whereabouts {
                    leased: column(2, i).is_some(),
                    dead: column(5, i).is_some(),
                    scheduled: column(6, i).is_some(),
                    cancelled: column(4, i).is_some(),
                    result: matches!(
                        reply.get(7 + i),
                        Some(Value::Int(1)) | Some(Value::Boolean(true))
                    ),
                }
                .state();
                let last_class = column(3, i)
                    .and_then(|v| text(Some(v)).ok())
                    .and_then(|e| serde_json::from_str::<serde_json::Value>(&e).ok())
                    .and_then(|e| e["class"].as_str().map(str::to_string));
                Some(JobBrief {
                    id: id.clone(),
                    kind: meta.kind,
                    state,
                    attempts: attempts_shown(
                        column(1, i).and_then(|v| int(Some(v)).ok()).unwrap_or(0) as u32,
                        state,
                    ),
                    created_at: meta.created_at,
                    at: *at,
                    last_class,
                })
            })
            .collect())
    }

    /// Cancels a ready or scheduled job (`idempotency_key`: its key, to release it).
    pub async fn cancel(
        &self,
        id: &str,
        idempotency_key: Option<&str>,
        history: &HistoryEntry,
        history_cap: usize,
    ) -> Result<CancelReply> {
        let k = &self.keys;
        let mut inv = SCRIPTS.cancel.prepare_invoke();
        inv.key(k.ready())
            .key(k.scheduled())
            .key(k.job())
            .key(k.lease())
            .key(k.dead())
            .key(k.result())
            .key(k.cancelled())
            .key(k.completed())
            .key(k.history())
            .key(k.stats())
            .key(k.events());
        if let Some(key) = idempotency_key {
            inv.key(k.idempotency(key));
        }
        inv.arg(id)
            .arg(history_cap.max(1))
            .arg(history.to_script_arg())
            .arg(self.events_max);
        let reply: String = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(match reply.as_str() {
            "ok" => CancelReply::Cancelled,
            "unknown" => CancelReply::Unknown,
            other => CancelReply::Refused(JobState::parse(other).ok_or_else(|| {
                crate::error::QueueError::Protocol(format!("cancel replied {other}"))
            })?),
        })
    }

    /// Moves a scheduled job to the head of `ready`; false if it was not scheduled.
    pub async fn run_now(&self, id: &str) -> Result<bool> {
        let k = &self.keys;
        let moved: u64 = SCRIPTS
            .run_now
            .key(k.scheduled())
            .key(k.ready())
            .key(k.wake())
            .arg(id)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(moved == 1)
    }

    /// The job holding an idempotency key, while the key lasts.
    pub async fn by_idempotency_key(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.clone().get(self.keys.idempotency(key)).await?)
    }

    /// Ids of the jobs indexed under the keyed hash `hash` (oldest first, at most `limit`).
    pub async fn by_identity(&self, hash: &str, limit: usize) -> Result<Vec<String>> {
        let members: Vec<String> = redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.ident())
            .arg(format!("[{hash}|"))
            .arg(format!("[{hash}|~"))
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(members
            .into_iter()
            .filter_map(|m| m.split_once('|').map(|(_, id)| id.to_string()))
            .collect())
    }
}
