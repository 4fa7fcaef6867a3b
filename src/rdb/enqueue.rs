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
    /// Metadata JSON after the Redis-time stamps the script writes first: `,"kind":…}`.
    pub meta_tail: String,
    /// Payload JSON.
    pub payload: String,
    /// Delay from now (Redis time).
    pub delay_ms: u64,
    /// Absolute run time (0 = use the delay).
    pub at_ms: u64,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Job kind (for the `enqueued` event; a newline in it reads as a space there).
    pub kind: String,
    /// Keyed hash of the identifier the job verifies (hex), for the identity index; also in
    /// the metadata head as `ix`, so deleting the job can drop its index entry.
    pub ident: Option<String>,
}

impl NewJob {
    /// Ready now, without an idempotency key: the short form.
    fn is_short(&self) -> bool {
        self.delay_ms == 0 && self.at_ms == 0 && self.idempotency_key.is_none()
    }

    /// `id, record tail, identity hash`, then for the long form `delay ms, run-at ms, KEYS
    /// index of the idempotency key`.
    fn args(&self, inv: &mut redis::ScriptInvocation<'_>, idem_index: Option<usize>) {
        let mut tail = String::with_capacity(self.meta_tail.len() + 1 + self.payload.len());
        tail.push_str(&self.meta_tail);
        tail.push('\n');
        tail.push_str(&self.payload);
        inv.arg(&self.id)
            .arg(tail)
            .arg(self.ident.as_deref().unwrap_or(""));
        if let Some(index) = idem_index {
            inv.arg(self.delay_ms).arg(self.at_ms).arg(index);
        }
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
        type Numbered<'a> = Vec<(usize, &'a NewJob)>;
        let (short, long): (Numbered, Numbered) =
            jobs.iter().enumerate().partition(|(_, j)| j.is_short());
        inv.arg(short.len())
            .arg(long.len())
            .arg(idempotency_ttl.as_millis().max(1) as u64)
            .arg(self.events_max)
            .arg(super::events::event_field(
                short.iter().map(|(_, j)| j.kind.as_str()),
            ));
        for (_, job) in &short {
            job.args(&mut inv, None);
        }
        let mut idem_keys: Vec<String> = Vec::new();
        for (_, job) in &long {
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
            job.args(&mut inv, Some(index));
        }
        for key in &idem_keys {
            inv.key(key);
        }
        // Only duplicates come back: (position among the long jobs, the original's id).
        let reply: Vec<redis::Value> = inv.invoke_async(&mut self.conn.clone()).await?;
        let mut original = std::collections::HashMap::new();
        for pair in reply.chunks(2) {
            let at = super::reply::int(pair.first())? as usize;
            original.insert(at, super::reply::text(pair.get(1))?);
        }
        let mut out: Vec<Option<Enqueued>> = vec![None; jobs.len()];
        for (i, job) in &short {
            out[*i] = Some(Enqueued {
                id: job.id.clone(),
                duplicate: false,
            });
        }
        for (n, (i, job)) in long.iter().enumerate() {
            out[*i] = Some(match original.remove(&(n + 1)) {
                Some(id) => Enqueued {
                    id,
                    duplicate: true,
                },
                None => Enqueued {
                    id: job.id.clone(),
                    duplicate: false,
                },
            });
        }
        Ok(out.into_iter().flatten().collect())
    }
}
