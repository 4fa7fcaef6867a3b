//! The audit trail: one capped stream outside every queue's hash tag (`okq:audit`), so every
//! operator change in every queue is in one place, in order. Entries name the actor, the
//! action, the queue, the filter, the counts and the result, never an identifier.

use redis::AsyncCommands;
use redis::streams::{StreamMaxlen, StreamRangeReply};

use super::Rdb;
use crate::error::Result;
use crate::keys::AUDIT;

/// Entries the stream keeps (about: trimmed with `~`).
pub const AUDIT_KEPT: usize = 100_000;

/// One stored entry: its stream id (`ms-seq`) and its fields.
pub type AuditRow = (String, Vec<(String, String)>);

impl Rdb {
    /// Appends one entry.
    pub async fn audit_append(&self, fields: &[(&str, &str)]) -> Result<()> {
        let _: Option<String> = self
            .conn
            .clone()
            .xadd_maxlen(AUDIT, StreamMaxlen::Approx(AUDIT_KEPT), "*", fields)
            .await?;
        Ok(())
    }

    /// Up to `limit` entries at or after `since_ms`, newest first.
    pub async fn audit_read(&self, since_ms: u64, limit: usize) -> Result<Vec<AuditRow>> {
        let reply: StreamRangeReply = self
            .conn
            .clone()
            .xrevrange_count(AUDIT, "+", format!("{since_ms}-0"), limit)
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .map(|e| {
                let fields = e
                    .map
                    .iter()
                    .filter_map(|(k, v)| {
                        redis::from_redis_value_ref::<String>(v)
                            .ok()
                            .map(|v| (k.clone(), v))
                    })
                    .collect();
                (e.id, fields)
            })
            .collect())
    }
}
