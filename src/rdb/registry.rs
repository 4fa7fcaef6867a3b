//! The registry of queue names (`okq:queues`, outside every queue's hash tag), and deleting a
//! whole queue.

use redis::AsyncCommands;

use super::{Rdb, RedisConn};
use crate::error::{QueueError, Result};
use crate::keys::{QUEUES, validate_queue_name};

impl Rdb {
    /// Adds the queue to the registry (idempotent). A name outside the naming rules is never
    /// registered.
    pub async fn register(&self) -> Result<()> {
        validate_queue_name(self.keys.queue()).map_err(QueueError::Config)?;
        let _: u64 = self.conn.clone().sadd(QUEUES, self.keys.queue()).await?;
        Ok(())
    }

    /// Whether the queue is in the registry, or has data from before the registry existed
    /// (a record, a counter, a dead letter or a worker).
    pub async fn is_known(&self) -> Result<bool> {
        // Two commands, not a pipeline: the registry and the queue live in different Cluster
        // slots.
        let k = &self.keys;
        let mut conn = self.conn.clone();
        if conn.sismember(QUEUES, k.queue()).await? {
            return Ok(true);
        }
        let data: u64 = conn
            .exists(&[k.job(), k.stats(), k.dead(), k.workers()])
            .await?;
        Ok(data > 0)
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
