//! Erasing one person: every job that verifies them (found through the identity index by the
//! keyed hash, never the number) and what their Okra account keeps about them.

use std::time::Duration;

use serde::Serialize;

use super::account::Account;
use super::reply::int;
use super::scripts::SCRIPTS;
use super::{MAX_BATCH, Rdb};
use crate::error::Result;
use crate::job::{JobMeta, split_record};

/// What an erase removed (or, on a dry run, would remove) from one queue, per state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErasedJobs {
    /// Jobs waiting to run.
    pub ready: u64,
    /// Delayed jobs and jobs waiting for a retry.
    pub scheduled: u64,
    /// Jobs running at that moment (their outcomes write nothing back).
    pub running: u64,
    /// Completed jobs (with their results).
    pub completed: u64,
    /// Cancelled jobs.
    pub cancelled: u64,
    /// Dead letters (with their failures and Okra's answers).
    pub dead: u64,
    /// Idempotency claims of those jobs.
    pub claims: u64,
    /// Identity-index entries (including ones whose job had already gone).
    pub index: u64,
}

impl ErasedJobs {
    /// Jobs in any state.
    pub fn jobs(&self) -> u64 {
        self.ready + self.scheduled + self.running + self.completed + self.cancelled + self.dead
    }

    fn add(&mut self, counts: &[u64]) {
        let fields = [
            &mut self.ready,
            &mut self.scheduled,
            &mut self.running,
            &mut self.completed,
            &mut self.cancelled,
            &mut self.dead,
            &mut self.claims,
            &mut self.index,
        ];
        for (f, n) in fields.into_iter().zip(counts) {
            *f += n;
        }
    }
}

impl Rdb {
    /// Erases every job the identity index lists under `hash` (see `erase.lua`), in batches;
    /// with `dry_run`, counts what would go and writes nothing.
    pub async fn erase_jobs(&self, hash: &str, dry_run: bool) -> Result<ErasedJobs> {
        let k = &self.keys;
        let mut total = ErasedJobs::default();
        let mut offset = 0;
        loop {
            let members: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(k.ident())
                .arg(format!("[{hash}|"))
                .arg(format!("[{hash}|~"))
                .arg("LIMIT")
                .arg(offset)
                .arg(MAX_BATCH)
                .query_async(&mut self.conn.clone())
                .await?;
            if members.is_empty() {
                return Ok(total);
            }
            let ids: Vec<&str> = members
                .iter()
                .filter_map(|m| m.split_once('|').map(|(_, id)| id))
                .collect();
            let records: Vec<Option<String>> = redis::cmd("HMGET")
                .arg(k.job())
                .arg(&ids)
                .query_async(&mut self.conn.clone())
                .await?;
            let mut inv = SCRIPTS.erase.prepare_invoke();
            inv.key(k.ident())
                .key(k.ready())
                .key(k.scheduled())
                .key(k.running())
                .key(k.dead())
                .key(k.dead_index())
                .key(k.erased())
                .key(k.stats());
            for c in k.job_columns() {
                inv.key(c);
            }
            inv.arg(if dry_run { "1" } else { "0" }).arg(hash);
            let mut claims = 16;
            for (id, record) in ids.iter().zip(&records) {
                let claim = record
                    .as_deref()
                    .and_then(|r| serde_json::from_str::<JobMeta>(split_record(r).0).ok())
                    .and_then(|m| m.idempotency_key);
                inv.arg(*id);
                match claim {
                    Some(key) => {
                        claims += 1;
                        inv.key(k.idempotency(&key)).arg(claims);
                    }
                    None => {
                        inv.arg(0);
                    }
                }
            }
            let counts: Vec<redis::Value> = inv.invoke_async(&mut self.conn.clone()).await?;
            let counts = counts
                .iter()
                .map(|v| int(Some(v)))
                .collect::<Result<Vec<u64>>>()?;
            total.add(&counts);
            if members.len() < MAX_BATCH {
                return Ok(total);
            }
            // Erased entries left the index; on a dry run nothing did, so page on.
            if dry_run {
                offset += MAX_BATCH;
            }
        }
    }
}

/// How long an erased person's tombstone stops answers that arrive later from being stored
/// for reuse (longer than any paid call can take).
pub const TOMBSTONE: Duration = Duration::from_secs(3600);

impl Account {
    /// Erases what the account keeps about the person `hash` for each of `kinds` (stored
    /// profiles and pay locks), and every stored profile of someone else that names them (the
    /// `carries:<hash>` set charge_end.lua keeps), each with its cross-references (`names:…`
    /// and its place in the other `carries:` sets, so no reference to an erased entry stays),
    /// and leaves a tombstone for [`TOMBSTONE`], so an answer that arrives later is not stored
    /// again. Returns how many stored profiles there were. Three round trips: what names them,
    /// the cross-references, then the erase in one transaction.
    pub async fn erase_person(&self, hash: &str, kinds: &[&str], dry_run: bool) -> Result<u64> {
        let k = &self.keys;
        let reuse_prefix = k.reuse_pattern();
        let reuse_prefix = reuse_prefix.trim_end_matches('*');
        let carrying: Vec<String> = redis::cmd("SMEMBERS")
            .arg(k.carries(hash))
            .query_async(&mut self.conn.clone())
            .await?;
        // Every reuse entry to go, with its `names` key: the person's own, and the others'.
        let mut entries: Vec<(String, String)> = kinds
            .iter()
            .map(|kind| (k.reuse(kind, hash), k.names(kind, hash)))
            .collect();
        for other in carrying {
            let Some(rest) = other.strip_prefix(reuse_prefix) else {
                continue;
            };
            let Some((kind, person)) = rest.split_once(':') else {
                continue;
            };
            let names = k.names(kind, person);
            if !entries.iter().any(|(r, _)| *r == other) {
                entries.push((other, names));
            }
        }
        let mut pipe = redis::pipe();
        for (reuse, names) in &entries {
            pipe.cmd("EXISTS").arg(reuse);
            pipe.cmd("GET").arg(names);
        }
        let looked: Vec<redis::Value> = pipe.query_async(&mut self.conn.clone()).await?;
        let mut found = 0;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for ((reuse, names), pair) in entries.iter().zip(looked.chunks(2)) {
            found += super::reply::int(pair.first())?;
            let named = super::reply::text(pair.get(1)).unwrap_or_default();
            for h in named.split_whitespace() {
                pipe.cmd("SREM").arg(k.carries(h)).arg(reuse).ignore();
            }
            pipe.cmd("DEL").arg(reuse).arg(names).ignore();
        }
        if dry_run {
            return Ok(found);
        }
        for kind in kinds {
            pipe.cmd("DEL").arg(k.paying(kind, hash)).ignore();
        }
        pipe.cmd("DEL").arg(k.carries(hash)).ignore();
        pipe.cmd("SET")
            .arg(k.erased(hash))
            .arg(1)
            .arg("PX")
            .arg(TOMBSTONE.as_millis() as u64)
            .ignore();
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(found)
    }
}
