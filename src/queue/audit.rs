//! The audit trail: every operator change (from `okra-admin`, the dashboard or the library's
//! admin calls) is appended to one capped stream with the time, the actor, the action, the
//! queue, the filter, the counts and the result. Entries never hold an identifier: a person
//! appears as a keyed hash at most. The worker's own steering (the circuit breaker's pause, a
//! 429's throttle) is not an operator change and is not recorded here.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use super::handle::Queue;
use crate::error::Result;

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// When (Redis time, ms since the epoch).
    pub at: u64,
    /// Who: `--actor` / `OKQ_ACTOR` (default `user@host`), or the dashboard token's name.
    pub actor: String,
    /// What: `requeue`, `purge`, `cancel`, `run-now`, `pause`, `resume`, `unthrottle`,
    /// `rate-limit`, `queue-delete`, `erase`, `rekey`, `export-reveal`, `show-reveal`,
    /// `list-reveal`, `api-key-create`, `api-key-revoke`, `login`, `login-failed` (a window's
    /// failed dashboard logins, by the actor `unauthenticated`), `webhook-add`,
    /// `webhook-remove`, `webhook-rotate`, `webhook-disable` (a 410 Gone).
    pub action: String,
    /// The queue it acted on (empty for changes outside one queue).
    pub queue: String,
    /// What it was aimed at: a filter, job ids, or a person's keyed hash.
    pub filter: String,
    /// What it counted (requeued, deleted, erased per state, ...).
    pub counts: Value,
    /// `ok`, or the error.
    pub result: String,
}

/// The actor of entries that unauthenticated requests caused.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// The actor when none is given: `$USER@host`.
pub fn default_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("{user}@{}", crate::job::host_name())
}

impl Queue {
    /// Who this handle's operator changes are recorded as.
    pub fn actor(&self) -> String {
        self.cfg.actor.clone().unwrap_or_else(default_actor)
    }

    /// This handle, recording its changes as made by `actor` (the dashboard: the token's name).
    pub fn acting_as(&self, actor: &str) -> Queue {
        let mut q = self.clone();
        let mut cfg = (*self.cfg).clone();
        cfg.actor = Some(actor.to_string());
        q.cfg = std::sync::Arc::new(cfg);
        q
    }

    /// Records a change made outside the library's own calls (an export with `--reveal`, a
    /// dashboard login). `filter` and `counts` must not hold an identifier.
    pub async fn audit(
        &self,
        action: &str,
        filter: &str,
        counts: Value,
        result: &str,
    ) -> Result<()> {
        let (actor, counts) = (self.actor(), counts.to_string());
        let entry = entry(&actor, action, self.name(), filter, &counts, result);
        self.rdb.audit_append(&entry).await
    }

    /// Records what unauthenticated requests caused (the dashboard's failed logins, one
    /// summary per window) in a stream of its own, so that no amount of it can trim an
    /// operator's entry out of the trail; [`Queue::audit_log`] lists both.
    pub async fn audit_unauthenticated(
        &self,
        action: &str,
        filter: &str,
        counts: Value,
        result: &str,
    ) -> Result<()> {
        let counts = counts.to_string();
        let entry = entry(UNAUTHENTICATED, action, "", filter, &counts, result);
        self.rdb.audit_append_unauthenticated(&entry).await
    }

    /// Records `r`, the result of `action`, and hands it back. A change that happened is
    /// reported as it happened even if the record cannot be written (that is logged).
    pub(crate) async fn audited<T>(
        &self,
        action: &str,
        filter: &str,
        r: Result<T>,
        counts: impl FnOnce(&T) -> Value,
    ) -> Result<T> {
        let (counts, result) = match &r {
            Ok(v) => (counts(v), "ok".to_string()),
            Err(e) => (Value::Object(Default::default()), format!("error: {e}")),
        };
        if let Err(e) = self.audit(action, filter, counts, &result).await {
            tracing::warn!(action, error = %e, "the audit trail could not record this change");
        }
        r
    }

    /// Up to `limit` recorded changes (every queue, and the failed-login summaries) since
    /// `since`, newest first.
    pub async fn audit_log(&self, since: SystemTime, limit: usize) -> Result<Vec<AuditEntry>> {
        let since = since
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let rows = self.rdb.audit_read(since, limit).await?;
        Ok(rows
            .into_iter()
            .map(|(id, fields)| {
                let get = |k: &str| {
                    fields
                        .iter()
                        .find(|(f, _)| f == k)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                AuditEntry {
                    at: id
                        .split('-')
                        .next()
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                    actor: get("actor"),
                    action: get("action"),
                    queue: get("queue"),
                    filter: get("filter"),
                    counts: serde_json::from_str(&get("counts")).unwrap_or(Value::Null),
                    result: get("result"),
                }
            })
            .collect())
    }
}

/// An audit entry's fields, in the order both streams store them.
fn entry<'a>(
    actor: &'a str,
    action: &'a str,
    queue: &'a str,
    filter: &'a str,
    counts: &'a str,
    result: &'a str,
) -> [(&'static str, &'a str); 6] {
    [
        ("actor", actor),
        ("action", action),
        ("queue", queue),
        ("filter", filter),
        ("counts", counts),
        ("result", result),
    ]
}
