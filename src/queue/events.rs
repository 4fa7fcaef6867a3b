//! Events back to the app: every queue keeps a capped Redis Stream of what happened to its jobs
//! (enqueued, retry, completed, dead, cancelled, requeued; ids, kinds and classes, never a
//! payload; the types and reads are in `rdb/events.rs`). [`Queue::events`] follows it from any
//! position, so a consumer resumes where it stopped; [`Queue::wait`] is woken by the event that
//! finishes the job instead of polling.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::Stream;

use super::handle::Queue;
use super::waiters::Waiters;
use crate::error::{QueueError, Result};
use crate::job::{JobRecord, JobState};
use crate::rdb::Rdb;

pub use crate::rdb::{Event, EventKind};

/// Where [`Queue::events`] starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Since {
    /// The oldest event kept.
    Start,
    /// Only events after the call.
    Now,
    /// After this position (an [`Event::position`]).
    After(String),
}

/// Events read per round trip.
const READ: usize = 500;

/// How long one blocking read waits before it is issued again.
const BLOCK: Duration = Duration::from_secs(1);

/// Backoff after a failed read.
const RETRY: Duration = Duration::from_millis(250);

impl Queue {
    /// Follows the queue's events from `from`, for as long as the stream is polled. Reads
    /// block on a connection of their own, so they wake as soon as an event is written.
    /// A failed read yields its error and the stream carries on from the same position once
    /// Redis answers again. A consumer that falls more than `queue.events_max` events behind
    /// misses the trimmed ones.
    pub async fn events(&self, since: Since) -> Result<impl Stream<Item = Result<Event>> + use<>> {
        let rdb = self.event_reader().await?;
        let start = match since {
            Since::Start => "0-0".to_string(),
            Since::Now => self.rdb.events_head().await?,
            Since::After(p) => p,
        };
        struct State {
            rdb: Rdb,
            position: String,
            buffer: std::collections::VecDeque<Event>,
            failed: bool,
        }
        let state = State {
            rdb,
            position: start,
            buffer: Default::default(),
            failed: false,
        };
        Ok(futures::stream::unfold(state, |mut s| async move {
            loop {
                if let Some(e) = s.buffer.pop_front() {
                    s.position = e.position.clone();
                    return Some((Ok(e), s));
                }
                if s.failed {
                    tokio::time::sleep(RETRY).await;
                    s.failed = false;
                }
                match s.rdb.events_after(&s.position, READ, BLOCK).await {
                    Ok(events) => s.buffer.extend(events),
                    Err(e) => {
                        s.failed = true;
                        return Some((Err(e), s));
                    }
                }
            }
        }))
    }

    /// The newest `count` events, oldest first (for `okra-admin tail`).
    pub async fn recent_events(&self, count: usize) -> Result<Vec<Event>> {
        self.rdb.events_last(count).await
    }

    /// Waits until the job is completed, dead or cancelled, up to `timeout`. The event that
    /// finishes it wakes the wait at once (one shared blocking reader per handle, however many
    /// jobs are waited on); the state is read again after every event and every second, so a
    /// trimmed or lost event only delays the answer. Without events (`queue.events_max = 0`)
    /// or a connection of its own (a handle from [`Queue::with_conn`]) it polls every 20 ms.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<JobRecord> {
        let deadline = Instant::now() + timeout;
        let waiters = match (self.cfg.events_max, &self.redis) {
            (0, _) | (_, None) => None,
            _ => Some(self.waiters().await?),
        };
        let recheck = if waiters.is_some() {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(20)
        };
        loop {
            // Subscribe before reading the state: an event after the read cannot be missed.
            let ticket = waiters.as_ref().map(|w| w.subscribe(id));
            let job = self
                .job(id)
                .await?
                .ok_or_else(|| QueueError::NotFound(id.into()))?;
            if matches!(
                job.state,
                JobState::Completed | JobState::Dead | JobState::Cancelled
            ) {
                return Ok(job);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(QueueError::Timeout(id.into()));
            }
            let nap = tokio::time::sleep(left.min(recheck));
            match ticket {
                Some(mut t) => {
                    tokio::select! {
                        _ = &mut t.rx => {}
                        _ = nap => {}
                    }
                }
                None => nap.await,
            }
        }
    }

    /// A connection of its own for reading events (blocking reads).
    async fn event_reader(&self) -> Result<Rdb> {
        self.blocking_rdb(BLOCK).await.unwrap_or_else(|| {
            Err(QueueError::Config(
                "following events needs a queue from Queue::connect (a connection of its own)"
                    .into(),
            ))
        })
    }

    /// The handle's shared event reader for `wait`, started on first use.
    async fn waiters(&self) -> Result<Arc<Waiters>> {
        self.waiters
            .get_or_try_init(|| async {
                let rdb = self.event_reader().await?;
                let position = self.rdb.events_head().await?;
                let waiters = Arc::new(Waiters::default());
                tokio::spawn(listen(Arc::downgrade(&waiters), rdb, position));
                Ok::<_, QueueError>(waiters)
            })
            .await
            .cloned()
    }
}

/// The shared reader: follows the stream and wakes the waiters of each finished job. It ends
/// when the last handle that could wait is gone.
async fn listen(waiters: Weak<Waiters>, rdb: Rdb, mut position: String) {
    loop {
        let read = rdb.events_after(&position, READ, BLOCK).await;
        let Some(w) = waiters.upgrade() else { return };
        match read {
            Ok(events) => {
                for e in events {
                    if e.event.is_final() {
                        w.wake(Some(&e.job));
                    }
                    position = e.position;
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "event read failed; waiters re-check");
                w.wake(None);
                drop(w);
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}
