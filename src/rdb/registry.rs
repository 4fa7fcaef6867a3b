//! The registry of queue names (`okq:queues`, outside every queue's hash tag), deleting a
//! whole queue, and what says a queue is sealed: its marker (`okq:{Q}:sealed`, which the
//! writing scripts check) and the key check values (`okq:keycheck`).

use redis::AsyncCommands;

use super::{Rdb, RedisConn};
use crate::error::{QueueError, Result};
use crate::keys::{KEYCHECK, QUEUES, validate_queue_name};

impl Rdb {
    /// Adds the queue to the registry (idempotent). A name outside the naming rules is never
    /// registered.
    pub async fn register(&self) -> Result<()> {
        validate_queue_name(self.keys.queue()).map_err(QueueError::Config)?;
        let _: u64 = self.conn.clone().sadd(QUEUES, self.keys.queue()).await?;
        Ok(())
    }

    /// Whether the queue is in the registry (and only there: a queue deleted since keeps no
    /// claim by data written as it was deleted).
    pub async fn is_registered(&self) -> Result<bool> {
        Ok(self
            .conn
            .clone()
            .sismember(QUEUES, self.keys.queue())
            .await?)
    }

    /// Whether the queue is in the registry, or has data from before the registry existed
    /// (a record, a counter, a dead letter or a worker).
    pub async fn is_known(&self) -> Result<bool> {
        // Two commands, not a pipeline: the registry and the queue live in different Cluster
        // slots.
        if self.is_registered().await? {
            return Ok(true);
        }
        let k = &self.keys;
        let mut conn = self.conn.clone();
        let data: u64 = conn
            .exists(&[k.job(), k.stats(), k.dead(), k.workers()])
            .await?;
        Ok(data > 0)
    }

    /// Records each key's check value on its id's first use (`HSETNX`), then compares: the
    /// first id whose recorded value differs from `checks` (`(id, check value)`), if any.
    pub async fn check_keys(&self, checks: &[(&str, &str)]) -> Result<Option<String>> {
        if checks.is_empty() {
            return Ok(None);
        }
        let mut pipe = redis::pipe();
        for (id, check) in checks {
            pipe.hset_nx(KEYCHECK, *id, *check).ignore();
        }
        let ids: Vec<&str> = checks.iter().map(|(id, _)| *id).collect();
        pipe.cmd("HMGET").arg(KEYCHECK).arg(&ids);
        let (known,): (Vec<Option<String>>,) = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(checks
            .iter()
            .zip(known)
            .find(|((_, check), known)| known.as_deref() != Some(*check))
            .map(|((id, _), _)| id.to_string()))
    }

    /// Marks the queue sealed by key `id` (kept: when that key first sealed here).
    pub async fn mark_sealed(&self, id: &str) -> Result<()> {
        let now = self.clock.now(&self.conn).await?;
        let _: u64 = self
            .conn
            .clone()
            .hset_nx(self.keys.sealed(), id, now)
            .await?;
        Ok(())
    }

    /// Whether the queue is sealed (its marker exists).
    pub async fn is_sealed(&self) -> Result<bool> {
        Ok(self.conn.clone().exists(self.keys.sealed()).await?)
    }

    /// Deletes every key of the queue and takes it off the registry; returns the keys deleted.
    pub async fn delete_queue(&self) -> Result<u64> {
        let mut conn = self.conn.clone();
        let idem = self.idempotency_keys().await?;
        let mut deleted: u64 = conn.del(self.keys.all_fixed()).await?;
        for key in idem {
            deleted += conn.del::<_, u64>(key).await?;
        }
        let _: u64 = conn.srem(QUEUES, self.keys.queue()).await?;
        Ok(deleted)
    }

    /// The queue's idempotency claims (`SCAN` on the node that holds the queue's slot; a walk).
    /// The pattern escapes the name: it matches this queue's claims only.
    async fn idempotency_keys(&self) -> Result<Vec<String>> {
        let pattern = self.keys.idempotency_pattern();
        let (mut cursor, mut keys) = (0, Vec::new());
        loop {
            let (next, batch) = self
                .conn
                .scan_step(&self.keys.job(), &pattern, cursor, 1000)
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

/// Every registered queue name, sorted. A name outside the naming rules (registered before
/// they were enforced) is left out, with a warning: no command may act on it.
pub async fn queue_names(conn: &RedisConn) -> Result<Vec<String>> {
    let mut names: Vec<String> = conn.clone().smembers(QUEUES).await?;
    names.retain(|name| match validate_queue_name(name) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "registry holds a queue name outside the naming rules; skipped");
            false
        }
    });
    names.sort();
    Ok(names)
}
