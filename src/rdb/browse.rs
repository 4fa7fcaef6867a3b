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
            Listing::Finished => {
                let entries: Vec<String> = tail(k.completed()).query_async(&mut conn).await?;
                entries
                    .into_iter()
                    .rev()
                    .filter_map(|e| {
                        let (at, id) = e.split_once('|')?;
                        Some((id.to_string(), at.parse().ok()))
                    })
                    .collect()
            }
            Listing::Scheduled | Listing::Running => {
                let key = if listing == Listing::Scheduled {
                    k.scheduled()
                } else {
                    k.running()
                };
                let rows: Vec<(String, f64)> = conn
                    .zrange_withscores(key, offset as isize, (offset + count - 1) as isize)
                    .await?;
                rows.into_iter()
                    .map(|(id, at)| (id, Some(at as u64)))
                    .collect()
            }
        })
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
