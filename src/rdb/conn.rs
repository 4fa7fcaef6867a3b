//! One connection type for a single Redis server and for Redis Cluster.
//!
//! Both variants are multiplexed and reconnect by themselves; callers retry failed commands with
//! backoff. Blocking waits (`BLPOP` on the wake-up key) get their own connection, so they never
//! stall the commands of other tasks.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::sentinel::SentinelConn;
use super::settings::{RedisSettings, manager};
use crate::error::{QueueError, Result};

/// A connection to a single server, to the primary Sentinel names, or to a cluster.
#[derive(Clone)]
pub enum RedisConn {
    /// One server (or a proxy in front of many).
    Single(ConnectionManager),
    /// The primary of a Sentinel-managed group, followed across failovers.
    Sentinel(SentinelConn),
    /// Redis Cluster; commands are routed by their first key.
    Cluster(ClusterConnection),
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Single(_) => "RedisConn::Single",
            Self::Sentinel(_) => "RedisConn::Sentinel",
            Self::Cluster(_) => "RedisConn::Cluster",
        })
    }
}

impl RedisConn {
    /// Connects, failing fast with a clear error when Redis cannot be reached.
    pub async fn connect(settings: &RedisSettings) -> Result<Self> {
        Self::connect_with_timeout(settings, settings.response_timeout).await
    }

    /// A separate connection for blocking commands that wait up to `longest_block`.
    pub async fn connect_blocking(
        settings: &RedisSettings,
        longest_block: Duration,
    ) -> Result<Self> {
        Self::connect_with_timeout(settings, longest_block + settings.response_timeout).await
    }

    async fn connect_with_timeout(settings: &RedisSettings, response: Duration) -> Result<Self> {
        let fail = |source| QueueError::Connect {
            url: settings.display_url(),
            source,
        };
        let certs = settings.certificates()?;
        if !settings.sentinels.is_empty() {
            return Ok(Self::Sentinel(
                SentinelConn::connect(settings, response).await?,
            ));
        }
        if settings.cluster {
            let mut builder = ClusterClientBuilder::new(settings.nodes())
                .connection_timeout(settings.connect_timeout)
                .response_timeout(response);
            if let Some(certs) = certs {
                builder = builder.certs(certs);
            }
            let client = builder.build().map_err(fail)?;
            let conn = client.get_async_connection().await.map_err(fail)?;
            return Ok(Self::Cluster(conn));
        }
        let client = match certs {
            Some(certs) => redis::Client::build_with_tls(settings.url.as_str(), certs),
            None => redis::Client::open(settings.url.as_str()),
        }
        .map_err(fail)?;
        let conn = manager(client, settings.connect_timeout, response, 2)
            .await
            .map_err(fail)?;
        Ok(Self::Single(conn))
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// One `SCAN` step over the keys matching `pattern` on the node that holds `slot_key`'s
    /// slot (a cluster scans one node; every key of a hash tag lives there). Returns the next
    /// cursor (0 when done) and the keys. A pattern built from a name escapes it
    /// ([`crate::keys::glob_escape`]; `Keys` and `AccountKeys` build theirs so), or it could
    /// match other queues' keys.
    pub async fn scan_step(
        &self,
        slot_key: &str,
        pattern: &str,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<String>)> {
        let mut conn = self.clone();
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        match &mut conn {
            RedisConn::Single(_) | RedisConn::Sentinel(_) => Ok(cmd.query_async(&mut conn).await?),
            RedisConn::Cluster(c) => {
                let slot: u16 = redis::cmd("CLUSTER")
                    .arg("KEYSLOT")
                    .arg(slot_key)
                    .query_async(c)
                    .await?;
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::new(slot, SlotAddr::Master),
                ));
                redis::from_redis_value(c.route_command(cmd, route).await?)
                    .map_err(|e| QueueError::Protocol(format!("SCAN replied {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_seeds_are_split_and_schemed() {
        let s = RedisSettings {
            url: "127.0.0.1:7000, redis://127.0.0.1:7001".into(),
            cluster: true,
            ..RedisSettings::default()
        };
        assert_eq!(
            s.nodes(),
            vec!["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
    }
}
