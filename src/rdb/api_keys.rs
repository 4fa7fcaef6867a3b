//! The gateway's API keys and what they read. Redis keeps a SHA-256 of each token, never the
//! token: `okq:apikey:<hash>` holds the key's record (what one request looks up, one `GET`),
//! `okq:apikeys` lists the records by name (for `api-key list` and `revoke`). Revoking deletes
//! the token's key first, so no gateway can find it again once it is gone (gateways keep what
//! they read for at most a second). `okq:apikey-reads` is a capped stream of the results read
//! through the gateway (key name, queue, job id): apart from the audit trail, so app traffic
//! never pushes an operator's change out of it.

use redis::AsyncCommands;
use redis::streams::StreamMaxlen;
use serde::{Deserialize, Serialize};

use super::Rdb;
use crate::error::{QueueError, Result};
use crate::keys::{API_KEY_PREFIX, API_KEY_READS, API_KEYS};

/// Result reads the stream keeps, about.
pub const API_KEY_READS_KEPT: usize = 100_000;

/// One API key as stored (never its token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// The key's name (what the audit trail and the reads stream record).
    pub name: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// The one queue it may act on.
    pub queue: String,
    /// What it may do: `enqueue`, `read`, `cancel`, `admin`.
    pub scopes: Vec<String>,
    /// Requests per second it may make on each gateway.
    pub rate: u32,
    /// When it was made (ms since the epoch).
    pub created_at: u64,
}

fn token_key(hash: &str) -> String {
    format!("{API_KEY_PREFIX}{hash}")
}

impl Rdb {
    /// Stores a new key; `Ok(false)` when the name is taken (nothing written).
    pub async fn api_key_put(&self, key: &ApiKeyRecord) -> Result<bool> {
        let text = serde_json::to_string(key).map_err(|e| QueueError::Protocol(e.to_string()))?;
        let mut conn = self.conn.clone();
        let fresh: bool = conn.hset_nx(API_KEYS, &key.name, &text).await?;
        if fresh {
            let () = conn.set(token_key(&key.hash), &text).await?;
        }
        Ok(fresh)
    }

    /// The key whose token hashes to `hash`, `None` when there is none (or it was revoked).
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKeyRecord>> {
        let text: Option<String> = self.conn.clone().get(token_key(hash)).await?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Every key, by name.
    pub async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        let all: Vec<(String, String)> = self.conn.clone().hgetall(API_KEYS).await?;
        let mut keys: Vec<ApiKeyRecord> = all
            .iter()
            .filter_map(|(_, t)| serde_json::from_str(t).ok())
            .collect();
        keys.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(keys)
    }

    /// Revokes key `name`: its token first, then its record. `None` when there is no such key.
    pub async fn api_key_delete(&self, name: &str) -> Result<Option<ApiKeyRecord>> {
        let mut conn = self.conn.clone();
        let text: Option<String> = conn.hget(API_KEYS, name).await?;
        let Some(key) = text.and_then(|t| serde_json::from_str::<ApiKeyRecord>(&t).ok()) else {
            return Ok(None);
        };
        let _: i64 = conn.del(token_key(&key.hash)).await?;
        let _: i64 = conn.hdel(API_KEYS, name).await?;
        Ok(Some(key))
    }

    /// Records that key `name` read job `id`'s result on `queue`.
    pub async fn api_key_read(&self, name: &str, queue: &str, id: &str) -> Result<()> {
        let fields = [("key", name), ("queue", queue), ("job", id)];
        let _: Option<String> = self
            .conn
            .clone()
            .xadd_maxlen(
                API_KEY_READS,
                StreamMaxlen::Approx(API_KEY_READS_KEPT),
                "*",
                &fields,
            )
            .await?;
        Ok(())
    }

    /// The gateway's fingerprint of the request that first used idempotency key `key` (as
    /// stored: hashed), set to `fingerprint` when there was none, for `ttl`. Returns the
    /// fingerprint in force.
    pub async fn request_fingerprint(
        &self,
        key: &str,
        fingerprint: &str,
        ttl: std::time::Duration,
    ) -> Result<String> {
        let name = self.keys.request_fingerprint(key);
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(&name)
            .arg(fingerprint)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async(&mut conn)
            .await?;
        if set.is_some() {
            return Ok(fingerprint.to_string());
        }
        let held: Option<String> = conn.get(&name).await?;
        Ok(held.unwrap_or_else(|| fingerprint.to_string()))
    }
}
