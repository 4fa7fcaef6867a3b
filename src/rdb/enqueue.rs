//! The producer's write: new jobs, ready or scheduled. Jobs ready now without an idempotency
//! key (the common case) go as plain bulk commands with no per-job Lua work: sealed ones in one
//! transaction (`MULTI`/`EXEC`), plaintext ones through `enqueue_ready.lua`, which runs the
//! same commands behind the sealed queue's check (so the check and the write are one step);
//! their timestamps are Redis time from the handle's [`RedisClock`]. The others (delayed,
//! timed, or keyed, whose key must be claimed atomically) go through `enqueue.lua`, one call
//! per chunk.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Idempotency key, as stored (hashed).
    pub idempotency_key: Option<String>,
    /// The claim's name before idempotency keys were hashed, looked up (never written) so a
    /// repeat of a key claimed before an upgrade is still a duplicate.
    pub legacy_key: Option<String>,
    /// Job kind (for the `enqueued` event; a newline in it reads as a space there).
    pub kind: String,
    /// Keyed hash of the identifier the job verifies (hex), for the identity index; also in
    /// the metadata head as `ix`, so deleting the job can drop its index entry.
    pub ident: Option<String>,
}

impl NewJob {
    /// Ready now, without an idempotency key: written without `enqueue.lua`'s per-job work.
    fn is_short(&self) -> bool {
        self.delay_ms == 0 && self.at_ms == 0 && self.idempotency_key.is_none()
    }

    /// `id, record tail, identity hash, delay ms, run-at ms, KEYS index of the idempotency
    /// claim, KEYS index of its name from before hashing`.
    fn args(&self, inv: &mut redis::ScriptInvocation<'_>, idem_index: usize, legacy: usize) {
        let mut tail = String::with_capacity(self.meta_tail.len() + 1 + self.payload.len());
        tail.push_str(&self.meta_tail);
        tail.push('\n');
        tail.push_str(&self.payload);
        inv.arg(&self.id)
            .arg(tail)
            .arg(self.ident.as_deref().unwrap_or(""))
            .arg(self.delay_ms)
            .arg(self.at_ms)
            .arg(idem_index)
            .arg(legacy);
    }
}

/// The key id a sealed payload names (`sealed1:<id>:…`); `None` for a plaintext.
fn sealed_by(payload: &str) -> Option<&str> {
    payload
        .strip_prefix("sealed1:")?
        .split_once(':')
        .map(|(id, _)| id)
}

/// A script's refusal to write plaintext on a sealed queue, as one configuration line.
pub(super) fn refusal(e: crate::error::QueueError) -> crate::error::QueueError {
    let text = e.to_string();
    match text.find("the queue is sealed") {
        Some(at) => crate::error::QueueError::Config(
            text[at..]
                .trim_end_matches(|c: char| c == '"' || c.is_whitespace())
                .to_string(),
        ),
        None => e,
    }
}

/// Redis time without asking Redis each time: the server's `TIME` read at most every minute,
/// carried forward with this process's monotonic clock (so a jump of the wall clock here
/// changes nothing). Within a few ms of the server's own clock, which the whole fleet shares.
#[derive(Debug, Clone, Default)]
pub struct RedisClock {
    synced: Arc<Mutex<Option<(Instant, u64)>>>,
}

/// How long a reading of the server's clock is carried forward.
const RESYNC: Duration = Duration::from_secs(60);

impl RedisClock {
    /// Redis time now (ms).
    pub(super) async fn now(&self, conn: &super::RedisConn) -> Result<u64> {
        let cached = *self.synced.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, ms)) = cached
            && at.elapsed() < RESYNC
        {
            return Ok(ms + at.elapsed().as_millis() as u64);
        }
        let sent = Instant::now();
        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut conn.clone()).await?;
        // Halfway through the round trip is when the server read its clock.
        let at = sent + sent.elapsed() / 2;
        let ms = secs * 1000 + micros / 1000;
        *self.synced.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, ms));
        Ok(ms + at.elapsed().as_millis() as u64)
    }
}

impl Rdb {
    /// Enqueues up to [`super::MAX_BATCH`] jobs: the ready ones in one transaction, the others
    /// in one script call; the answers in the jobs' order.
    pub async fn enqueue(
        &self,
        jobs: &[NewJob],
        idempotency_ttl: Duration,
    ) -> Result<Vec<Enqueued>> {
        type Numbered<'a> = Vec<(usize, &'a NewJob)>;
        let (short, long): (Numbered, Numbered) =
            jobs.iter().enumerate().partition(|(_, j)| j.is_short());
        let mut out: Vec<Option<Enqueued>> = vec![None; jobs.len()];
        // The script first: it checks every idempotency key before its first write, so a
        // refused chunk writes nothing at all.
        if !long.is_empty() {
            for ((i, _), e) in long
                .iter()
                .zip(self.enqueue_script(&long, idempotency_ttl).await?)
            {
                out[*i] = Some(e);
            }
        }
        if !short.is_empty() {
            self.enqueue_ready(&short).await?;
            for (i, job) in &short {
                out[*i] = Some(Enqueued {
                    id: job.id.clone(),
                    duplicate: false,
                });
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Jobs ready now without an idempotency key: their records, the identity index, the ready
    /// list, one event entry, the counter and the wake-up token. Sealed ones in one
    /// `MULTI`/`EXEC` (marking the queue sealed); plaintext ones in one `enqueue_ready.lua`
    /// call, the same commands behind the sealed queue's check.
    async fn enqueue_ready(&self, jobs: &[(usize, &NewJob)]) -> Result<()> {
        let k = &self.keys;
        let now = self.clock.now(&self.conn).await?;
        let stamp = format!("{{\"created_at\":{now}");
        let records: Vec<(&str, String)> = jobs
            .iter()
            .map(|(_, j)| {
                let mut record =
                    String::with_capacity(stamp.len() + j.meta_tail.len() + 1 + j.payload.len());
                record.push_str(&stamp);
                record.push_str(&j.meta_tail);
                record.push('\n');
                record.push_str(&j.payload);
                (j.id.as_str(), record)
            })
            .collect();
        let index: Vec<String> = jobs
            .iter()
            .filter_map(|(_, j)| Some(format!("{}|{}", j.ident.as_deref()?, j.id)))
            .collect();
        let ids: Vec<&str> = jobs.iter().map(|(_, j)| j.id.as_str()).collect();
        let maxlen = match self.events_max {
            0 => 0,
            max => max.div_ceil(jobs.len() as u64).max(1),
        };
        let kinds = super::events::event_field(jobs.iter().map(|(_, j)| j.kind.as_str()));
        let sealed: Option<&str> = jobs
            .iter()
            .map(|(_, j)| sealed_by(&j.payload))
            .collect::<Option<Vec<_>>>()
            .and_then(|ids| ids.first().copied());
        let Some(key_id) = sealed else {
            let mut inv = SCRIPTS.enqueue_ready.prepare_invoke();
            inv.key(k.job())
                .key(k.ident())
                .key(k.ready())
                .key(k.events())
                .key(k.stats())
                .key(k.wake())
                .key(k.sealed());
            inv.arg(jobs.len())
                .arg(index.len())
                .arg(maxlen)
                .arg(ids.join(" "))
                .arg(&kinds);
            for (id, record) in &records {
                inv.arg(*id).arg(record);
            }
            inv.arg(&ids).arg(&index);
            let _: u64 = inv
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| refusal(e.into()))?;
            return Ok(());
        };
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HSET").arg(k.job()).arg(&records).ignore();
        if !index.is_empty() {
            let zadd = pipe.cmd("ZADD").arg(k.ident());
            for m in &index {
                zadd.arg(0).arg(m);
            }
            zadd.ignore();
        }
        pipe.cmd("LPUSH").arg(k.ready()).arg(&ids).ignore();
        if maxlen > 0 {
            pipe.cmd("XADD")
                .arg(k.events())
                .arg("MAXLEN")
                .arg(maxlen)
                .arg("*")
                .arg("event")
                .arg("enqueued")
                .arg("jobs")
                .arg(ids.join(" "))
                .arg("kinds")
                .arg(&kinds)
                .arg("classes")
                .arg("")
                .arg("attempts")
                .arg("0")
                .ignore();
        }
        pipe.cmd("HINCRBY")
            .arg(k.stats())
            .arg("enqueued")
            .arg(jobs.len())
            .ignore();
        pipe.cmd("LPUSH").arg(k.wake()).arg("1").ignore();
        pipe.cmd("LTRIM").arg(k.wake()).arg(0).arg(0).ignore();
        pipe.cmd("HSETNX")
            .arg(k.sealed())
            .arg(key_id)
            .arg(now)
            .ignore();
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Delayed, timed or keyed jobs, in one `enqueue.lua` call.
    async fn enqueue_script(
        &self,
        long: &[(usize, &NewJob)],
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
            .key(k.ident())
            .key(k.sealed());
        let sealer = long
            .iter()
            .find_map(|(_, j)| sealed_by(&j.payload))
            .unwrap_or("");
        inv.arg(long.len())
            .arg(idempotency_ttl.as_millis().max(1) as u64)
            .arg(self.events_max)
            .arg(sealer);
        let mut idem_keys: Vec<String> = Vec::new();
        let mut index_of = |key: Option<&String>| match key {
            Some(key) => {
                let full = k.idempotency(key);
                let pos = idem_keys
                    .iter()
                    .position(|x| *x == full)
                    .unwrap_or_else(|| {
                        idem_keys.push(full);
                        idem_keys.len() - 1
                    });
                10 + pos
            }
            None => 0,
        };
        for (_, job) in long {
            let claim = index_of(job.idempotency_key.as_ref());
            let legacy = index_of(job.legacy_key.as_ref());
            job.args(&mut inv, claim, legacy);
        }
        for key in &idem_keys {
            inv.key(key);
        }
        // Only duplicates come back: (position among the jobs sent, the original's id).
        let reply: Vec<redis::Value> = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| refusal(e.into()))?;
        let mut original = std::collections::HashMap::new();
        for pair in reply.chunks(2) {
            let at = super::reply::int(pair.first())? as usize;
            original.insert(at, super::reply::text(pair.get(1))?);
        }
        Ok(long
            .iter()
            .enumerate()
            .map(|(n, (_, job))| match original.remove(&(n + 1)) {
                Some(id) => Enqueued {
                    id,
                    duplicate: true,
                },
                None => Enqueued {
                    id: job.id.clone(),
                    duplicate: false,
                },
            })
            .collect())
    }
}
