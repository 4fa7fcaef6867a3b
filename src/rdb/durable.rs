//! Durable acknowledgements (`redis.durability`). Redis replicates asynchronously: a write it
//! answered can be lost when its primary fails before a replica has it. With `replica`, `aof`
//! or `replica+aof`, what the caller acknowledges (an enqueue's ids, a batch of outcomes) is
//! confirmed first: a small write of its own, then `WAIT` (or `WAITAOF`) on a dedicated
//! connection. Replication and the AOF keep the order of writes, so once this later write is on
//! a replica (or on disk), every write acknowledged before it is too. `WAIT` blocks its
//! connection, so it never runs on the shared one.

use std::time::Duration;

use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};

use super::conn::RedisConn;
use super::settings::{Durability, RedisSettings};
use crate::error::{QueueError, Result};

/// The confirming side of one queue's connection.
#[derive(Debug)]
pub struct Durable {
    conn: RedisConn,
    /// `okq:{Q}:durable`: a counter written before each wait (the queue's slot).
    key: String,
    /// On a cluster, the slot of `key`: the wait goes to that slot's master, over the same
    /// node connection as the write, so it covers every write to the queue before it.
    slot: Option<u16>,
    level: Durability,
    timeout: Duration,
}

impl Durable {
    /// Opens the dedicated connection; `None` for `durability = none`. Refuses what cannot
    /// work: `WAITAOF` on a server older than 7.2.
    pub async fn open(
        settings: &RedisSettings,
        key: String,
        server_version: &str,
    ) -> Result<Option<Self>> {
        let level = settings.durability;
        if level == Durability::None {
            return Ok(None);
        }
        if matches!(level, Durability::Aof | Durability::ReplicaAof)
            && !at_least(server_version, (7, 2))
        {
            return Err(QueueError::Config(format!(
                "redis.durability = \"{}\" needs WAITAOF (Redis 7.2 or later); this server is {server_version}: use \"replica\" or upgrade",
                level.as_str()
            )));
        }
        if settings.durability_timeout.is_zero() {
            return Err(QueueError::Config(
                "redis.durability_timeout must be positive".into(),
            ));
        }
        let conn = RedisConn::connect_blocking(settings, settings.durability_timeout).await?;
        let slot = match &conn {
            RedisConn::Cluster(_) => Some(
                redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(&key)
                    .query_async(&mut conn.clone())
                    .await?,
            ),
            _ => None,
        };
        Ok(Some(Self {
            conn,
            key,
            slot,
            level,
            timeout: settings.durability_timeout,
        }))
    }

    /// Waits until every write this process had acknowledged by Redis so far holds at the
    /// configured level, or fails with what was reached.
    pub async fn confirm(&self) -> Result<()> {
        let ms = self.timeout.as_millis().max(1) as u64;
        let replicas = u64::from(self.level != Durability::Aof);
        let mut wait = match self.level {
            Durability::None => return Ok(()),
            Durability::Replica => redis::cmd("WAIT"),
            Durability::Aof | Durability::ReplicaAof => redis::cmd("WAITAOF"),
        };
        if self.level == Durability::Replica {
            wait.arg(1).arg(ms);
        } else {
            wait.arg(1).arg(replicas).arg(ms);
        }
        let reply: redis::Value = match (&self.conn, self.slot) {
            (RedisConn::Cluster(c), Some(slot)) => {
                let mut c = c.clone();
                let _: i64 = redis::cmd("INCR")
                    .arg(&self.key)
                    .query_async(&mut c)
                    .await?;
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::new(slot, SlotAddr::Master),
                ));
                c.route_command(wait, route).await?
            }
            _ => {
                let mut pipe = redis::pipe();
                pipe.cmd("INCR").arg(&self.key).ignore();
                pipe.add_command(wait);
                let (v,): (redis::Value,) = pipe.query_async(&mut self.conn.clone()).await?;
                v
            }
        };
        let (wanted, reached) = if self.level == Durability::Replica {
            let n: u64 = redis::from_redis_value(reply)
                .map_err(|e| QueueError::Protocol(format!("WAIT answered {e}")))?;
            ("a replica", n >= 1)
        } else {
            let (local, remote): (u64, u64) = redis::from_redis_value(reply)
                .map_err(|e| QueueError::Protocol(format!("WAITAOF answered {e}")))?;
            let what = if replicas == 1 {
                "the primary's AOF and a replica"
            } else {
                "the primary's AOF"
            };
            (what, local >= 1 && remote >= replicas)
        };
        if reached {
            Ok(())
        } else {
            Err(QueueError::NotDurable(format!(
                "not confirmed on {wanted} within {} (redis.durability = \"{}\")",
                humantime::format_duration(self.timeout),
                self.level.as_str()
            )))
        }
    }
}

impl Durability {
    /// The setting's value as written in a settings file.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::None => "none",
            Durability::Replica => "replica",
            Durability::Aof => "aof",
            Durability::ReplicaAof => "replica+aof",
        }
    }
}

/// Whether a `redis_version` (`7.0.15`) is at least `min`.
fn at_least(version: &str, min: (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= min
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions_compare() {
        assert!(super::at_least("7.2.4", (7, 2)));
        assert!(super::at_least("8.0.0", (7, 2)));
        assert!(!super::at_least("7.0.15", (7, 2)));
        assert!(!super::at_least("", (7, 2)));
    }
}
