//! Webhooks' storage: a queue's endpoints (`hooks`, with `hooks_on`, the events they take, kept
//! in step by `webhook_set.lua`), the endpoint index (`okq:webhooks`, id → queue), and the
//! outbox of references that `outcome.lua` writes with each outcome and the workers'
//! forwarder turns into delivery jobs (moved to `outbox_held` while it works, removed after).

use std::sync::LazyLock;

use redis::{AsyncCommands, Script};

use super::Rdb;
use crate::error::Result;
use crate::keys::WEBHOOKS;

static SET: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/webhook_set.lua")));
static TAKE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("lua/outbox_take.lua")));

/// How [`Rdb::hook_write`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookWrite<'a> {
    /// A new endpoint (its id must be free).
    Add,
    /// Replace an endpoint that still holds `was` (the JSON the new one was made from):
    /// nothing if it was removed or changed meanwhile, so two changes never lose one.
    Update {
        /// What was read.
        was: &'a str,
    },
    /// Remove it.
    Delete,
}

/// What [`Rdb::hook_write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookWritten {
    /// Written (added, replaced or removed).
    Done,
    /// Update or delete of an endpoint that is not there: nothing written.
    Absent,
    /// Update of an endpoint changed since it was read: nothing written; read it again.
    Changed,
}

impl Rdb {
    /// Writes endpoint `id` (its JSON; ignored for `Delete`) and recomputes `hooks_on`, and
    /// keeps the endpoint index in step.
    pub async fn hook_write(
        &self,
        id: &str,
        json: &str,
        mode: HookWrite<'_>,
    ) -> Result<HookWritten> {
        let k = &self.keys;
        let (m, was) = match mode {
            HookWrite::Add => ("add", ""),
            HookWrite::Update { was } => ("update", was),
            HookWrite::Delete => ("delete", ""),
        };
        let said: u8 = SET
            .key(k.hooks())
            .key(k.hooks_on())
            .arg(id)
            .arg(json)
            .arg(m)
            .arg(was)
            .invoke_async(&mut self.conn.clone())
            .await?;
        match (said, mode) {
            (2, _) => return Ok(HookWritten::Changed),
            (0, HookWrite::Update { .. } | HookWrite::Delete) => return Ok(HookWritten::Absent),
            _ => {}
        }
        // The index lives outside the queue's slot: its own command, after the endpoint.
        let mut conn = self.conn.clone();
        match mode {
            HookWrite::Add => {
                let _: u64 = conn.hset(WEBHOOKS, id, k.queue()).await?;
            }
            HookWrite::Delete => {
                let _: u64 = conn.hdel(WEBHOOKS, id).await?;
            }
            HookWrite::Update { .. } => {}
        }
        Ok(HookWritten::Done)
    }

    /// Every endpoint of the queue: (id, JSON).
    pub async fn hooks(&self) -> Result<Vec<(String, String)>> {
        Ok(self.conn.clone().hgetall(self.keys.hooks()).await?)
    }

    /// One endpoint's JSON.
    pub async fn hook(&self, id: &str) -> Result<Option<String>> {
        Ok(self.conn.clone().hget(self.keys.hooks(), id).await?)
    }

    /// The queue endpoint `id` belongs to, from the index.
    pub async fn hook_queue(&self, id: &str) -> Result<Option<String>> {
        Ok(self.conn.clone().hget(WEBHOOKS, id).await?)
    }

    /// Every endpoint in the index: (id, queue).
    pub async fn hook_index(&self) -> Result<Vec<(String, String)>> {
        Ok(self.conn.clone().hgetall(WEBHOOKS).await?)
    }

    /// Waits up to `timeout` (at least a second's granularity is fine) for the oldest
    /// reference, moving it to the held list. Use a blocking connection.
    pub async fn outbox_wait(&self, timeout: std::time::Duration) -> Result<Option<String>> {
        let k = &self.keys;
        Ok(redis::cmd("BLMOVE")
            .arg(k.outbox())
            .arg(k.outbox_held())
            .arg("RIGHT")
            .arg("LEFT")
            .arg(timeout.as_secs_f64())
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Moves up to `n` of the oldest references to the held list, without waiting.
    pub async fn outbox_take(&self, n: usize) -> Result<Vec<String>> {
        Ok(TAKE
            .key(self.keys.outbox())
            .key(self.keys.outbox_held())
            .arg(n)
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// Up to 1,000 held references, newest first (the sweep takes back those held too long).
    pub async fn outbox_held(&self) -> Result<Vec<String>> {
        Ok(self
            .conn
            .clone()
            .lrange(self.keys.outbox_held(), 0, 999)
            .await?)
    }

    /// Removes references that became delivery jobs from the held list (one pipeline).
    pub async fn outbox_done(&self, refs: &[String]) -> Result<()> {
        if refs.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for r in refs {
            pipe.lrem(self.keys.outbox_held(), 1, r).ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// References waiting and held: (outbox, held).
    pub async fn outbox_sizes(&self) -> Result<(u64, u64)> {
        let k = &self.keys;
        Ok(redis::pipe()
            .llen(k.outbox())
            .llen(k.outbox_held())
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// The identity-index entry (`ix`, a keyed hash) of each job, `None` for a job that is
    /// gone or not indexed: a delivery job is indexed under its job's person, so erasing the
    /// person erases the delivery too.
    pub async fn job_ix(&self, ids: &[&str]) -> Result<Vec<Option<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.job())
            .arg(ids)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(records
            .into_iter()
            .map(|r| {
                let r = r?;
                let meta = crate::job::split_record(&r).0;
                let v: serde_json::Value = serde_json::from_str(meta).ok()?;
                v.get("ix")?.as_str().map(str::to_string)
            })
            .collect())
    }
}
