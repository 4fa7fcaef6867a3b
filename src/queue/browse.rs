//! Operators' view of live jobs, on [`Queue`]: the registry of queues, jobs by state (paged),
//! cancelling, running now, and finding jobs by idempotency key or by the identity they verify.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::handle::Queue;
use crate::error::{QueueError, Result};
use crate::ident::IdType;
use crate::job::{HistoryEntry, HistoryKind, JobState};
use crate::rdb::{CancelReply, JobBrief, Listing, queue_names};

/// Most ids one filtered listing reads before it stops and says so.
pub const SCAN_LIMIT: u64 = 200_000;

/// Ids read per round trip while filtering.
const CHUNK: u64 = 500;

/// Which jobs `jobs` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFilter {
    /// The state (not `Dead`: dead letters have their own listing).
    pub state: JobState,
    /// Only this kind.
    pub kind: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JobPage {
    /// The jobs, in run order (finished ones newest first).
    pub jobs: Vec<JobBrief>,
    /// Whether more match after this page.
    pub more: bool,
    /// Whether the scan stopped at [`SCAN_LIMIT`] ids before the page was full.
    pub truncated: bool,
}

impl Queue {
    /// Adds the queue to the registry, once per handle (enqueue and workers call it).
    pub async fn register(&self) -> Result<()> {
        if !self.registered.load(Ordering::Relaxed) {
            self.rdb.register().await?;
            self.registered.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Every registered queue.
    pub async fn queues(&self) -> Result<Vec<String>> {
        queue_names(&self.rdb.conn()).await
    }

    /// Fails with [`QueueError::UnknownQueue`] unless the queue is registered or holds data
    /// (a queue from before the registry is registered on the way).
    pub async fn ensure_known(&self) -> Result<()> {
        if self.rdb.is_known().await? {
            return self.register().await;
        }
        Err(QueueError::UnknownQueue {
            name: self.name().to_string(),
            known: self.queues().await?,
        })
    }

    /// Deletes the queue: every key and its registry entry. Refused while it holds jobs
    /// (ready, scheduled, running or dead) or live workers, unless `force`. Returns the keys
    /// deleted. Audited.
    pub async fn delete_queue(&self, force: bool) -> Result<u64> {
        let r = self.delete_queue_keys(force).await;
        let filter = if force { "force" } else { "" };
        self.audited("queue-delete", filter, r, |k| json!({ "keys": k }))
            .await
    }

    async fn delete_queue_keys(&self, force: bool) -> Result<u64> {
        let s = self.stats().await?;
        let held = s.ready + s.scheduled + s.running + s.dead;
        if !force && (held > 0 || s.workers > 0) {
            return Err(QueueError::NotEmpty(format!(
                "queue {} is not empty ({} ready, {} scheduled, {} running, {} dead, {} live workers); delete it anyway with --force",
                self.name(),
                s.ready,
                s.scheduled,
                s.running,
                s.dead,
                s.workers
            )));
        }
        self.registered.store(false, Ordering::Relaxed);
        self.rdb.delete_queue().await
    }

    /// One page (1-based) of `limit` jobs matching `filter`. Without a kind filter this is one
    /// ranged read; with one, ids are read in chunks until the page is full (at most
    /// [`SCAN_LIMIT`] ids, then `truncated` says so).
    pub async fn jobs(&self, filter: &JobFilter, page: u64, limit: u64) -> Result<JobPage> {
        let listing = Listing::of(filter.state)
            .ok_or_else(|| QueueError::Config("dead letters are listed with `dlq list`".into()))?;
        let limit = limit.max(1);
        let skip = page.saturating_sub(1) * limit;
        let mut out = JobPage {
            jobs: Vec::new(),
            more: false,
            truncated: false,
        };
        if filter.kind.is_none() && listing != Listing::Finished {
            // Nothing to filter: read exactly the page, and one more to know if there are more.
            let ids = self.rdb.ids_in(listing, skip, limit + 1).await?;
            out.more = ids.len() as u64 > limit;
            let briefs = self
                .rdb
                .briefs(&ids[..ids.len().min(limit as usize)])
                .await?;
            out.jobs = briefs.into_iter().flatten().collect();
            return Ok(out);
        }
        // A kind, or completed against cancelled (they share one list): read chunks and filter.
        let (mut offset, mut matched) = (0u64, 0u64);
        loop {
            let chunk = self.rdb.ids_in(listing, offset, CHUNK).await?;
            let n = chunk.len() as u64;
            offset += n;
            for brief in self.rdb.briefs(&chunk).await?.into_iter().flatten() {
                let wanted = brief.state == filter.state
                    && filter.kind.as_deref().is_none_or(|k| k == brief.kind);
                if !wanted {
                    continue;
                }
                matched += 1;
                if matched > skip + limit {
                    out.more = true;
                    return Ok(out);
                }
                if matched > skip {
                    out.jobs.push(brief);
                }
            }
            if n < CHUNK {
                return Ok(out);
            }
            if offset >= SCAN_LIMIT {
                out.truncated = true;
                return Ok(out);
            }
        }
    }

    /// Listing fields of the jobs `ids` that still have a record, in order (for `find`).
    pub async fn job_briefs(&self, ids: Vec<String>) -> Result<Vec<JobBrief>> {
        let ids: Vec<(String, Option<u64>)> = ids.into_iter().map(|id| (id, None)).collect();
        Ok(self.rdb.briefs(&ids).await?.into_iter().flatten().collect())
    }

    /// Cancels a ready or scheduled job: it will not run, it is recorded as cancelled (kept
    /// until the completed retention ends) and its idempotency key is released. Audited.
    pub async fn cancel(&self, id: &str) -> Result<()> {
        let r = self.cancel_job(id).await;
        self.audited(
            "cancel",
            &format!("job {id}"),
            r,
            |_| json!({ "cancelled": 1 }),
        )
        .await
    }

    async fn cancel_job(&self, id: &str) -> Result<()> {
        let (rec, _) = self
            .rdb
            .job(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.into()))?;
        let entry = HistoryEntry {
            outcome: HistoryKind::Cancelled,
            ..HistoryEntry::default()
        };
        let key = rec.meta.idempotency_key.as_deref();
        match self
            .rdb
            .cancel(id, key, &entry, self.cfg.history_cap)
            .await?
        {
            CancelReply::Cancelled => Ok(()),
            CancelReply::Unknown => Err(QueueError::NotFound(id.into())),
            CancelReply::Refused(state) => Err(QueueError::WrongState {
                id: id.into(),
                state,
                hint: match state {
                    JobState::Running => "a running job cannot be cancelled; it finishes or fails on its own (pause the queue to stop new claims)",
                    JobState::Dead => "it is a dead letter; remove it with `dlq purge`",
                    JobState::Completed => "it already finished",
                    _ => "there is nothing left to cancel",
                }
                .into(),
            }),
        }
    }

    /// Makes a scheduled job (a delayed job or a waiting retry) run next. Audited.
    pub async fn run_now(&self, id: &str) -> Result<()> {
        let r = self.run_job_now(id).await;
        self.audited(
            "run-now",
            &format!("job {id}"),
            r,
            |_| json!({ "moved": 1 }),
        )
        .await
    }

    async fn run_job_now(&self, id: &str) -> Result<()> {
        if self.rdb.run_now(id).await? {
            return Ok(());
        }
        let state = self
            .state(id)
            .await?
            .ok_or_else(|| QueueError::NotFound(id.into()))?;
        Err(QueueError::WrongState {
            id: id.into(),
            state,
            hint: match state {
                JobState::Dead => "send it back with `dlq requeue`",
                JobState::Ready => "it is already waiting for the next free worker",
                _ => "only a scheduled job can be run now",
            }
            .into(),
        })
    }

    /// The job an idempotency key names, while the key lasts (`queue.idempotency_ttl`).
    pub async fn find_by_idempotency_key(&self, key: &str) -> Result<Option<String>> {
        match self.rdb.by_idempotency_key(&self.idem_key(key)).await? {
            Some(id) => Ok(Some(id)),
            None => match self.legacy_idem_key(key) {
                Some(old) => self.rdb.by_idempotency_key(&old).await,
                None => Ok(None),
            },
        }
    }

    /// Jobs (kept ones: live, dead or finished within retention) that verify `value` of type
    /// `ty`, oldest first, at most `limit`. Needs the queue's index key.
    pub async fn find_by_identity(
        &self,
        ty: IdType,
        value: &str,
        limit: usize,
    ) -> Result<Vec<String>> {
        let key = self.cfg.index_key.as_ref().ok_or_else(|| {
            QueueError::Config(
                "the identity index is off: set queue.index_key (OKQ_QUEUE__INDEX_KEY) to the key the producers use".into(),
            )
        })?;
        self.rdb.by_identity(&key.hash(ty, value), limit).await
    }
}
