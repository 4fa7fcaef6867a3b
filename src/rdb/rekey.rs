//! Walking what is sealed at rest, for `okra-admin keys status` and `keys rekey`: one
//! `HSCAN` step over a queue's column hash, one `SCAN` step over an account's reuse store,
//! and the compare-and-set write of re-sealed values (`reseal.lua`), which also records how
//! far the walk got (the `rekey` hash), so an interrupted rekey resumes.

use std::collections::HashMap;

use redis::AsyncCommands;

use super::account::Account;
use super::erase::Entry;
use super::scripts::SCRIPTS;
use super::{Rdb, RedisConn};
use crate::error::Result;

/// One value to re-seal: where it is, what was read, what to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseal {
    /// The hash field (a job id), or the string key (a reuse entry).
    pub at: String,
    /// The value as read; the write happens only if it is still this.
    pub was: String,
    /// The re-sealed value.
    pub new: String,
    /// An idempotency claim to rename with it (old key, new key): a job record whose
    /// plaintext key became a keyed hash.
    pub claim: Option<(String, String)>,
}

/// One step of a walk: the next cursor (0 = done) and `(field or key, value)` pairs.
pub type Step = (u64, Vec<(String, String)>);

impl Rdb {
    /// One `HSCAN` step over a column hash of this queue.
    pub async fn hscan_step(&self, hash: &str, cursor: u64, count: usize) -> Result<Step> {
        let (next, flat): (u64, Vec<String>) = redis::cmd("HSCAN")
            .arg(hash)
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok((next, pairs(flat)))
    }

    /// How far an interrupted rekey got (`target` = the key it seals with, column → cursor or
    /// `done`).
    pub async fn rekey_progress(&self) -> Result<HashMap<String, String>> {
        Ok(self.conn.clone().hgetall(self.keys.rekey()).await?)
    }

    /// Starts a rekey over: forgets the progress and records the key it seals with.
    pub async fn rekey_start(&self, target: &str) -> Result<()> {
        start(&self.conn, &self.keys.rekey(), target).await
    }

    /// Writes re-sealed values of `hash` (compare-and-set) and records `progress` for `field`.
    pub async fn reseal_fields(
        &self,
        hash: &str,
        field: &str,
        progress: &str,
        values: &[Reseal],
    ) -> Result<(u64, u64)> {
        let mut inv = SCRIPTS.reseal.prepare_invoke();
        inv.key(self.keys.rekey()).key(hash);
        inv.arg("h").arg(field).arg(progress);
        let mut next_key = 3;
        for v in values {
            inv.arg(&v.at).arg(&v.was).arg(&v.new);
            match &v.claim {
                Some((old, new)) => {
                    inv.key(old).key(new).arg(next_key);
                    next_key += 2;
                }
                None => {
                    inv.arg(0);
                }
            }
        }
        Ok(inv.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Forgets a finished rekey's progress.
    pub async fn rekey_done(&self) -> Result<()> {
        let _: u64 = self.conn.clone().del(self.keys.rekey()).await?;
        Ok(())
    }
}

impl Account {
    /// Marks the account's reuse store sealed by key `id`: from now on a plaintext profile is
    /// not stored (charge_end.lua).
    pub async fn mark_sealed(&self, id: &str) -> Result<()> {
        let (secs, _): (u64, u64) = redis::cmd("TIME")
            .query_async(&mut self.conn.clone())
            .await?;
        let _: u64 = self
            .conn
            .clone()
            .hset_nx(self.keys.sealed(), id, secs * 1000)
            .await?;
        Ok(())
    }

    /// One `SCAN` step over the account's reuse store, with the stored values (entries that
    /// expire between the two reads, and entries that hold a pay lock or a note rather than a
    /// profile, are left out; a profile's carried hashes are not part of its value:
    /// [`Account::reseal_reuse`] keeps them).
    pub async fn reuse_step(&self, cursor: u64, count: usize) -> Result<Step> {
        let k = &self.keys;
        let (next, keys) = self
            .conn
            .scan_step(&k.rekey(), &k.reuse_pattern(), cursor, count)
            .await?;
        if keys.is_empty() {
            return Ok((next, Vec::new()));
        }
        // One hash tag: a single MGET, also on a cluster.
        let values: Vec<Option<String>> = self.conn.clone().mget(&keys).await?;
        Ok((
            next,
            keys.into_iter()
                .zip(values)
                .filter_map(|(k, v)| {
                    let stored = Entry::stored(v.as_deref()?)?.to_string();
                    Some((k, stored))
                })
                .collect(),
        ))
    }

    /// How far an interrupted rekey got through the reuse store.
    pub async fn rekey_progress(&self) -> Result<HashMap<String, String>> {
        Ok(self.conn.clone().hgetall(self.keys.rekey()).await?)
    }

    /// Starts the reuse store's rekey over, sealing with `target`.
    pub async fn rekey_start(&self, target: &str) -> Result<()> {
        start(&self.conn, &self.keys.rekey(), target).await
    }

    /// Writes re-sealed reuse entries (compare-and-set on the stored value, TTL and carried
    /// hashes kept) and records `progress`.
    pub async fn reseal_reuse(&self, progress: &str, values: &[Reseal]) -> Result<(u64, u64)> {
        let mut inv = SCRIPTS.reseal.prepare_invoke();
        inv.key(self.keys.rekey()).key(self.keys.rekey());
        inv.arg("s").arg("reuse").arg(progress);
        for v in values {
            inv.key(&v.at).arg(&v.was).arg(&v.new);
        }
        Ok(inv.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Forgets a finished rekey's progress.
    pub async fn rekey_done(&self) -> Result<()> {
        let _: u64 = self.conn.clone().del(self.keys.rekey()).await?;
        Ok(())
    }
}

async fn start(conn: &RedisConn, key: &str, target: &str) -> Result<()> {
    let _: () = redis::pipe()
        .atomic()
        .del(key)
        .ignore()
        .hset(key, "target", target)
        .ignore()
        .query_async(&mut conn.clone())
        .await?;
    Ok(())
}

fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut it = flat.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    out
}
