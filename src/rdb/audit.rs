//! The audit trail: one capped stream outside every queue's hash tag (`okq:audit`), so every
//! operator change in every queue is in one place, in order. Entries name the actor, the
//! action, the queue, the filter, the counts and the result, never an identifier.
//!
//! What unauthenticated traffic causes (the dashboard's failed logins, summarised per window)
//! goes to a stream of its own, `okq:audit:unauthenticated`, capped on its own: however much of
//! it arrives, it can never trim an operator's entry out of `okq:audit`. Reads merge the two.

use redis::AsyncCommands;
use redis::streams::{StreamMaxlen, StreamRangeReply};

use super::Rdb;
use crate::error::Result;
use crate::keys::AUDIT;

/// Entries the stream keeps (about: trimmed with `~`).
pub const AUDIT_KEPT: usize = 100_000;

/// The stream of what unauthenticated requests caused (failed-login summaries).
pub const AUDIT_UNAUTHENTICATED: &str = "okq:audit:unauthenticated";

/// Entries that stream keeps (about): one a minute is a week.
pub const AUDIT_UNAUTHENTICATED_KEPT: usize = 10_000;

/// One stored entry: its stream id (`ms-seq`) and its fields.
pub type AuditRow = (String, Vec<(String, String)>);

/// A stream id's `(ms, seq)`, for ordering entries of two streams.
fn id_order(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

impl Rdb {
    /// Appends one operator's entry.
    pub async fn audit_append(&self, fields: &[(&str, &str)]) -> Result<()> {
        self.append_capped(AUDIT, AUDIT_KEPT, fields).await
    }

    /// Appends one entry caused by unauthenticated requests, to its own capped stream.
    pub async fn audit_append_unauthenticated(&self, fields: &[(&str, &str)]) -> Result<()> {
        self.append_capped(AUDIT_UNAUTHENTICATED, AUDIT_UNAUTHENTICATED_KEPT, fields)
            .await
    }

    async fn append_capped(&self, key: &str, kept: usize, fields: &[(&str, &str)]) -> Result<()> {
        let _: Option<String> = self
            .conn
            .clone()
            .xadd_maxlen(key, StreamMaxlen::Approx(kept), "*", fields)
            .await?;
        Ok(())
    }

    /// Up to `limit` entries of both streams at or after `since_ms`, newest first.
    pub async fn audit_read(&self, since_ms: u64, limit: usize) -> Result<Vec<AuditRow>> {
        let mut rows = self.read_stream(AUDIT, since_ms, limit).await?;
        rows.extend(
            self.read_stream(AUDIT_UNAUTHENTICATED, since_ms, limit)
                .await?,
        );
        rows.sort_by_key(|r| std::cmp::Reverse(id_order(&r.0)));
        rows.truncate(limit);
        Ok(rows)
    }

    async fn read_stream(&self, key: &str, since_ms: u64, limit: usize) -> Result<Vec<AuditRow>> {
        let reply: StreamRangeReply = self
            .conn
            .clone()
            .xrevrange_count(key, "+", format!("{since_ms}-0"), limit)
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
