//! The dashboard's login sessions: one string per session, `okq:web:session:<hash>`, holding
//! who it is for, with the session's lifetime as its TTL. The key names a SHA-256 of the
//! cookie's random id, never the id: whoever reads Redis cannot log in with what they read.
//! Logging out deletes the key, so the cookie is dead at once, in every dashboard process.

use std::time::Duration;

use redis::AsyncCommands;

use super::Rdb;
use crate::error::Result;

/// The sessions' key prefix (outside every queue's hash tag).
pub const SESSION_PREFIX: &str = "okq:web:session:";

fn key(id_hash: &str) -> String {
    format!("{SESSION_PREFIX}{id_hash}")
}

impl Rdb {
    /// Stores a new session for `ttl` (whole seconds, at least one).
    pub async fn session_put(&self, id_hash: &str, holder: &str, ttl: Duration) -> Result<()> {
        let _: () = self
            .conn
            .clone()
            .set_ex(key(id_hash), holder, ttl.as_secs().max(1))
            .await?;
        Ok(())
    }

    /// Who a live session is for; `None` once it expired or was deleted.
    pub async fn session_get(&self, id_hash: &str) -> Result<Option<String>> {
        Ok(self.conn.clone().get(key(id_hash)).await?)
    }

    /// Ends a session.
    pub async fn session_delete(&self, id_hash: &str) -> Result<()> {
        let _: i64 = self.conn.clone().del(key(id_hash)).await?;
        Ok(())
    }
}
