//! The registry of queue names (`okq:queues`, outside every queue's hash tag), and deleting a
//! whole queue.

use redis::AsyncCommands;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};

use super::{Rdb, RedisConn};
use crate::error::{QueueError, Result};
use crate::keys::QUEUES;

impl Rdb {
    /// Adds the queue to the registry (idempotent).
    pub async fn register(&self) -> Result<()> {
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
    async fn idempotency_keys(&self) -> Result<Vec<String>> {
        let pattern = format!("{}idem:*", self.keys.prefix());
        let mut conn = self.conn.clone();
        let route = match &conn {
            RedisConn::Single(_) => None,
            RedisConn::Cluster(_) => {
                let slot: u16 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(self.keys.job())
                    .query_async(&mut conn)
                    .await?;
                Some(RoutingInfo::SingleNode(
                    SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master)),
                ))
            }
        };
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, batch): (u64, Vec<String>) = match (&mut conn, &route) {
                (RedisConn::Cluster(c), Some(r)) => {
                    redis::from_redis_value(c.route_command(cmd, r.clone()).await?)
                        .map_err(|e| QueueError::Protocol(format!("SCAN replied {e}")))?
                }
                _ => cmd.query_async(&mut conn).await?,
            };
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

/// Every registered queue name, sorted.
pub async fn queue_names(conn: &RedisConn) -> Result<Vec<String>> {
    let mut names: Vec<String> = conn.clone().smembers(QUEUES).await?;
    names.sort();
    Ok(names)
}
