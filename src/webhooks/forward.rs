//! The forwarder: turns the outbox's references into delivery jobs on the companion queue,
//! one per endpoint that takes the event. References are moved to a held list first and
//! removed only once their jobs are written; references held too long (a forwarder that died)
//! are taken back by the sweep. The delivery jobs' idempotency key (reference and endpoint)
//! makes every repeat a duplicate, so at least once never becomes twice.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::{DELIVERY_KIND, Delivery, Endpoint, Reference};
use crate::error::Result;
use crate::job::{JobMeta, epoch_ms, new_id};
use crate::queue::Queue;
use crate::rdb::NewJob;
use crate::seal::{Column, Place};

/// References taken per round.
const BATCH: usize = 256;

/// A held reference older than this is taken back by the sweep.
pub const HELD_GRACE: Duration = Duration::from_secs(60);

/// Forwards one queue's outbox to its companion queue.
#[derive(Debug, Clone)]
pub struct Forwarder {
    main: Queue,
    deliveries: Queue,
}

impl Forwarder {
    /// Forwards `main`'s outcomes to `deliveries` (its companion queue's handle).
    pub fn new(main: Queue, deliveries: Queue) -> Self {
        Self { main, deliveries }
    }

    /// Runs until the task is dropped: waits for references on a connection of its own,
    /// forwards them, and sweeps the held list every half [`HELD_GRACE`]. Errors (Redis down)
    /// are logged and retried; nothing is lost meanwhile, the references stay in Redis.
    pub async fn run(self) {
        let wait = Duration::from_secs(1);
        let blocking = match self.main.blocking_rdb(wait * 2).await {
            Some(Ok(rdb)) => Some(rdb),
            _ => None,
        };
        let mut swept = std::time::Instant::now() - HELD_GRACE;
        loop {
            if swept.elapsed() >= HELD_GRACE / 2 {
                swept = std::time::Instant::now();
                if let Err(e) = self.sweep().await {
                    tracing::warn!(error = %e, "webhook forwarder: sweep failed");
                }
            }
            if let Err(e) = self.round(blocking.as_ref(), wait).await {
                tracing::warn!(error = %e, "webhook forwarder: waiting for Redis");
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Waits up to `wait` for references and forwards what came (at most [`BATCH`] and the
    /// one waited for).
    async fn round(&self, blocking: Option<&crate::rdb::Rdb>, wait: Duration) -> Result<()> {
        let rdb = self.main.rdb();
        let mut refs = match blocking {
            Some(b) => b.outbox_wait(wait).await?.into_iter().collect(),
            None => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Vec::new()
            }
        };
        refs.extend(rdb.outbox_take(BATCH).await?);
        self.forward(&refs).await
    }

    /// Takes back references held longer than [`HELD_GRACE`].
    pub async fn sweep(&self) -> Result<()> {
        let now = epoch_ms(SystemTime::now());
        let stale: Vec<String> = self
            .main
            .rdb()
            .outbox_held()
            .await?
            .into_iter()
            .filter(|r| {
                Reference::parse(r).is_none_or(|p| p.at_ms + (HELD_GRACE.as_millis() as u64) < now)
            })
            .collect();
        self.forward(&stale).await
    }

    /// Enqueues the delivery jobs of held references `refs`, then removes them.
    pub async fn forward(&self, refs: &[String]) -> Result<()> {
        if refs.is_empty() {
            return Ok(());
        }
        let endpoints: Vec<Endpoint> = self.main.webhooks().await?;
        let parsed: Vec<Option<Reference>> = refs.iter().map(|r| Reference::parse(r)).collect();
        let ids: Vec<&str> = parsed.iter().flatten().map(|r| r.job_id.as_str()).collect();
        let ix: HashMap<&str, Option<String>> = ids
            .iter()
            .copied()
            .zip(self.main.rdb().job_ix(&ids).await?)
            .collect();
        let mut jobs = Vec::new();
        for (text, r) in refs.iter().zip(&parsed) {
            let Some(r) = r else { continue };
            for e in endpoints.iter().filter(|e| e.takes(r.event)) {
                let d = Delivery {
                    event: text.clone(),
                    endpoint: e.id.clone(),
                };
                let ix = ix.get(r.job_id.as_str()).cloned().flatten();
                jobs.push(self.delivery_job(&d, ix));
            }
        }
        let ttl = self.deliveries.config().idempotency_ttl;
        for chunk in jobs.chunks(crate::rdb::MAX_BATCH) {
            self.deliveries.rdb().enqueue(chunk, ttl).await?;
        }
        self.deliveries.rdb().confirm().await?;
        self.main.rdb().outbox_done(refs).await
    }

    /// A delivery job keyed by its reference and endpoint, indexed under its job's person.
    fn delivery_job(&self, d: &Delivery, ix: Option<String>) -> NewJob {
        let q = &self.deliveries;
        let id = new_id();
        let key = q.idem_key(&format!("{}|{}", d.event, d.endpoint));
        let text = serde_json::to_string(d).unwrap_or_default();
        let payload = match q.sealer() {
            Some(s) => s.seal(&Place::job(q.name(), &id, Column::Payload), &text),
            None => text,
        };
        let meta = JobMeta {
            kind: DELIVERY_KIND.into(),
            max_attempts: None,
            idempotency_key: Some(key.clone()),
            requeues: 0,
            created_at: 0,
            window_start: 0,
            due_at: 0,
            ix: ix.clone(),
            fresh: false,
            trace: None,
            metadata: None,
        };
        NewJob {
            id,
            meta_tail: meta.tail(),
            payload,
            delay_ms: 0,
            at_ms: 0,
            idempotency_key: Some(key),
            legacy_key: None,
            kind: DELIVERY_KIND.into(),
            ident: ix,
        }
    }
}
