//! The producer's write: new jobs, ready or scheduled, in one script call per chunk.

use std::time::Duration;

use super::Rdb;
use super::scripts::SCRIPTS;
use crate::error::Result;
use crate::job::Enqueued;

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

impl Rdb {
    /// Enqueues up to [`super::MAX_BATCH`] jobs in one script call.
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
}
