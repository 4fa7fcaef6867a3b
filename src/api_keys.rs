//! API keys for the HTTP gateway: each lets an app act on one queue with some scopes, at a
//! request rate. The token is shown once, when the key is made; Redis keeps its SHA-256 only
//! (`rdb/api_keys.rs`), so reading Redis gives no one a token. Making and revoking a key are
//! operator changes, recorded in the audit trail.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{QueueError, Result};
use crate::queue::Queue;

pub use crate::rdb::ApiKeyRecord as ApiKey;

/// What a key may do. `Admin` (the gateway's endpoint and webhook management) is never given
/// unless asked for by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `POST /v1/queues/{queue}/jobs` and `/jobs/batch`.
    Enqueue,
    /// `GET /v1/queues/{queue}/jobs/{id}`.
    Read,
    /// `DELETE /v1/queues/{queue}/jobs/{id}`.
    Cancel,
    /// `/v1/webhooks` (managing the queue's webhook endpoints).
    Admin,
}

impl Scope {
    /// Every scope, by name.
    pub const ALL: [Scope; 4] = [Self::Enqueue, Self::Read, Self::Cancel, Self::Admin];

    /// What a key gets without `--scope`.
    pub const DEFAULT: [Scope; 3] = [Self::Enqueue, Self::Read, Self::Cancel];

    /// The scope's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueue => "enqueue",
            Self::Read => "read",
            Self::Cancel => "cancel",
            Self::Admin => "admin",
        }
    }

    /// Parses a scope's name.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| "unknown scope (expected enqueue, read, cancel or admin)".to_string())
    }
}

/// Default requests per second a key may make on each gateway.
pub const DEFAULT_RATE: u32 = 100;

/// Tokens start with this, so a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "okq_";

/// SHA-256 of a token, hex: what Redis keeps and what a request is looked up by. A token is
/// 256 random bits, so an unsalted hash is enough (no one can try them all).
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token: `okq_` and 32 random bytes, base64url.
fn new_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source answers");
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

impl ApiKey {
    /// Whether the key may do `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| s == scope.as_str())
    }
}

impl Queue {
    /// Makes API key `name` for this queue with `scopes` and `rate` requests per second (per
    /// gateway). Returns the key and its token (shown once: it is not kept). Audited.
    pub async fn api_key_create(
        &self,
        name: &str,
        scopes: &[Scope],
        rate: u32,
    ) -> Result<(ApiKey, String)> {
        crate::keys::validate_name("API key", name).map_err(QueueError::Config)?;
        if scopes.is_empty() || rate == 0 {
            return Err(QueueError::Config(
                "an API key needs at least one scope and a rate of at least 1 per second".into(),
            ));
        }
        let token = new_token();
        let mut names: Vec<String> = Vec::new();
        for s in Scope::ALL {
            if scopes.contains(&s) {
                names.push(s.as_str().into());
            }
        }
        let key = ApiKey {
            name: name.into(),
            hash: token_hash(&token),
            queue: self.name().into(),
            scopes: names,
            rate,
            created_at: crate::job::now_ms(),
        };
        let r = match self.rdb.api_key_put(&key).await {
            Ok(true) => Ok((key, token)),
            Ok(false) => Err(QueueError::Config(format!(
                "an API key named {name} exists already (revoke it first)"
            ))),
            Err(e) => Err(e),
        };
        self.audited(
            "api-key-create",
            name,
            r,
            |(k, _)| json!({ "scopes": k.scopes, "rate": k.rate }),
        )
        .await
    }

    /// Every API key (of every queue).
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>> {
        self.rdb.api_keys().await
    }

    /// Revokes API key `name` (of any queue): no gateway accepts its token a second from now.
    /// Audited.
    pub async fn api_key_revoke(&self, name: &str) -> Result<ApiKey> {
        let r = match self.rdb.api_key_delete(name).await {
            Ok(Some(k)) => Ok(k),
            Ok(None) => Err(QueueError::NotFound(format!("API key {name}"))),
            Err(e) => Err(e),
        };
        self.audited("api-key-revoke", name, r, |k| json!({ "queue": k.queue }))
            .await
    }

    /// The key a token belongs to (`None`: no such key, or revoked).
    pub async fn api_key_for(&self, token: &str) -> Result<Option<ApiKey>> {
        self.rdb.api_key_by_hash(&token_hash(token)).await
    }

    /// Records that key `key` read job `id`'s result (a stream of its own, never the audit
    /// trail: app traffic cannot push an operator's change out of it).
    pub async fn record_result_read(&self, key: &str, id: &str) -> Result<()> {
        self.rdb.api_key_read(key, self.name(), id).await
    }

    /// For a request with idempotency key `key` and body fingerprint `fingerprint`: `true`
    /// when the key is new or was first used with the same body; `false` when another body
    /// used it (within `queue.idempotency_ttl`). Redis keeps the fingerprint as a keyed hash
    /// (under `queue.index_key`, as idempotency keys): a body holds an identifier, and a bare
    /// hash of it could be matched by trying every BVN.
    pub async fn same_request(&self, key: &str, fingerprint: &str) -> Result<bool> {
        let ttl: Duration = self.cfg.idempotency_ttl;
        let fingerprint = self.idem_key(fingerprint);
        let held = self
            .rdb
            .request_fingerprint(&self.idem_key(key), &fingerprint, ttl)
            .await?;
        Ok(held == fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 4 + 43 && a != b);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(Scope::parse("read"), Ok(Scope::Read));
        assert!(Scope::parse("root").is_err());
    }
}
