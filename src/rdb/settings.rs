//! How to reach Redis ([`RedisSettings`]: URL, TLS, Sentinel, timeouts, durability) and the
//! connection manager every single-server connection is built with. Below both
//! [`super::conn`] and [`super::sentinel`], which each build on it.

use std::path::PathBuf;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ClientTlsConfig, TlsCertificates};
use serde::{Deserialize, Serialize};

use crate::error::{QueueError, Result, redact_url};

/// How to reach Redis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[user:pass@]host:port[/db]`, or `rediss://…` for TLS; with `cluster = true`, a comma-separated list of
    /// seed nodes.
    pub url: String,
    /// Connect to a Redis Cluster.
    pub cluster: bool,
    /// Give up on one command after this long (the command is retried by the caller).
    #[serde(with = "humantime_serde")]
    pub response_timeout: Duration,
    /// Give up on one connection attempt after this long.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// PEM file of the CA that signed the server's certificate (`rediss://` only); without it
    /// the system's roots are trusted.
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate for servers that require one (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// When a write counts as acknowledged: `none` (Redis answered), `replica` (`WAIT`: a
    /// replica has it), `aof` (`WAITAOF`: the primary's AOF is fsynced) or `replica+aof`.
    pub durability: Durability,
    /// How long an acknowledgement waits for `durability` before it fails.
    #[serde(with = "humantime_serde")]
    pub durability_timeout: Duration,
    /// Redis Sentinel: `host:port` (or `redis://:password@host:port`, `rediss://…`) of each
    /// sentinel; the primary of `sentinel_master` is asked of them, and asked again when it
    /// fails or is demoted. `url` then gives only the credentials, database and scheme.
    pub sentinels: Vec<String>,
    /// The master's name in the sentinels' configuration (`sentinel monitor NAME …`).
    pub sentinel_master: String,
}

/// `redis.durability`: what must hold before an enqueue returns its ids and before an outcome
/// counts as recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Durability {
    /// Redis answered (asynchronous replication: a failover can lose the write).
    #[default]
    #[serde(rename = "none")]
    None,
    /// At least one replica has the write (`WAIT 1`).
    #[serde(rename = "replica")]
    Replica,
    /// The primary's append-only file has it on disk (`WAITAOF 1 0`, Redis 7.2+).
    #[serde(rename = "aof")]
    Aof,
    /// Both: on disk on the primary and on at least one replica (`WAITAOF 1 1`).
    #[serde(rename = "replica+aof")]
    ReplicaAof,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            cluster: false,
            response_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(3),
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            durability: Durability::None,
            durability_timeout: Duration::from_secs(1),
            sentinels: Vec::new(),
            sentinel_master: String::new(),
        }
    }
}

impl RedisSettings {
    /// Settings for `url` with the other values at their defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ..Self::default()
        }
    }

    /// The URL without its password, for messages.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// Whether the URL asks for TLS (`rediss://`; for a cluster, its first seed).
    pub fn is_tls(&self) -> bool {
        self.nodes()
            .first()
            .is_some_and(|n| n.starts_with("rediss://"))
    }

    /// What a configuration check finds wrong: a URL that does not parse, TLS files without a
    /// `rediss://` URL, or that cannot be read or hold no PEM block. Empty when sound; nothing
    /// is connected to.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for node in self.nodes() {
            if let Err(e) = redis::IntoConnectionInfo::into_connection_info(node.as_str()) {
                problems.push(format!(
                    "redis.url: {} does not parse: {e}",
                    redact_url(&node)
                ));
            }
        }
        if self.nodes().is_empty() {
            problems.push("redis.url is empty".into());
        }
        if !self.sentinels.is_empty() {
            if self.sentinel_master.trim().is_empty() {
                problems.push(
                    "redis.sentinels needs redis.sentinel_master (the name in `sentinel monitor NAME ...`)"
                        .into(),
                );
            }
            if self.cluster {
                problems.push("redis.sentinels and redis.cluster exclude each other".into());
            }
        }
        match self.certificates() {
            Err(QueueError::Config(m)) => problems.push(m),
            Err(e) => problems.push(e.to_string()),
            Ok(_) => problems.extend(self.check_files()),
        }
        problems
    }

    /// The TLS files named, read and holding a PEM block (whatever the URL: a flag may still
    /// change it). Empty when sound.
    pub fn check_files(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (what, path) in [
            ("tls_ca", &self.tls_ca),
            ("tls_cert", &self.tls_cert),
            ("tls_key", &self.tls_key),
        ] {
            let Some(p) = path else { continue };
            match std::fs::read(p) {
                Err(e) => problems.push(format!("redis: cannot read {what} {}: {e}", p.display())),
                Ok(bytes) if !String::from_utf8_lossy(&bytes).contains("-----BEGIN ") => problems
                    .push(format!(
                        "redis: {what} {} holds no PEM block (-----BEGIN ...)",
                        p.display()
                    )),
                Ok(_) => {}
            }
        }
        problems
    }

    /// The CA and client certificate files, read and checked; `None` when neither is set
    /// (plain `rediss://` then trusts the system's roots).
    pub(crate) fn tls_certificates(&self) -> Result<Option<TlsCertificates>> {
        self.certificates()
    }

    pub(super) fn certificates(&self) -> Result<Option<TlsCertificates>> {
        let bad = |m: String| QueueError::Config(format!("redis: {m}"));
        if self.tls_ca.is_none() && self.tls_cert.is_none() && self.tls_key.is_none() {
            return Ok(None);
        }
        if !self.is_tls() {
            return Err(bad(format!(
                "tls_ca, tls_cert and tls_key need a rediss:// URL, not {}",
                self.display_url()
            )));
        }
        let read = |what: &str, p: &PathBuf| {
            std::fs::read(p).map_err(|e| bad(format!("cannot read {what} {}: {e}", p.display())))
        };
        let client_tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read("tls_cert", cert)?,
                client_key: read("tls_key", key)?,
            }),
            (None, None) => None,
            _ => return Err(bad("tls_cert and tls_key go together".into())),
        };
        let root_cert = self
            .tls_ca
            .as_ref()
            .map(|p| read("tls_ca", p))
            .transpose()?;
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }

    /// Seed URLs; a bare `host:port` takes the scheme of the first seed that has one.
    pub(super) fn nodes(&self) -> Vec<String> {
        let seeds = self.url.split(',').map(str::trim).filter(|s| !s.is_empty());
        let scheme = seeds
            .clone()
            .find_map(|s| s.split_once("://").map(|(scheme, _)| scheme))
            .unwrap_or("redis");
        seeds
            .map(|s| {
                if s.contains("://") {
                    s.to_string()
                } else {
                    format!("{scheme}://{s}")
                }
            })
            .collect()
    }
}

/// A connection manager for `client`: each command gives up after `response`; a lost
/// connection is tried again `retries` times, within a quarter second of the server answering
/// again (outcomes queued during an outage are waiting); connecting gives up after `connect`.
pub(crate) async fn manager(
    client: redis::Client,
    connect: Duration,
    response: Duration,
    retries: usize,
) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response))
        .set_connection_timeout(Some(connect))
        .set_number_of_retries(retries)
        .set_max_delay(Duration::from_millis(250));
    tokio::time::timeout(
        connect + Duration::from_secs(1),
        ConnectionManager::new_with_config(client, config),
    )
    .await
    .map_err(|_| {
        redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        ))
    })?
}
