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
    /// Erases what the account keeps about the person `hash` for each of `kinds` (their reuse
    /// entries in any state: stored profile, pay lock, note), and every stored profile of
    /// someone else that names them (the `carries:<hash>` set charge_end.lua keeps), each
    /// leaving the other `carries:` sets it is in, so no reference to an erased entry stays.
    /// The tombstone comes first (for [`TOMBSTONE`]), so an answer that arrives meanwhile or
    /// later is not stored again; the deletes are compare-and-delete (`erase_reuse.lua`): an
    /// entry of someone else that became a pay lock since it was read stays. Entries of the
    /// earlier layout (a bare profile, `names:` and `paying:` keys) go the same way. Returns how
    /// many stored profiles there were. Three round trips (four with the tombstone).
    pub async fn erase_person(&self, hash: &str, kinds: &[&str], dry_run: bool) -> Result<u64> {
        let k = &self.keys;
        if !dry_run {
            let () = redis::cmd("SET")
                .arg(k.erased(hash))
                .arg(1)
                .arg("PX")
                .arg(TOMBSTONE.as_millis() as u64)
                .query_async(&mut self.conn.clone())
                .await?;
        }
        let reuse_prefix = k.reuse_pattern();
        let reuse_prefix = reuse_prefix.trim_end_matches('*');
        let carrying: Vec<String> = redis::cmd("SMEMBERS")
            .arg(k.carries(hash))
            .query_async(&mut self.conn.clone())
            .await?;
        // Every entry to go, as (kind, person, own): the person's own, and the others'.
        let mut entries: Vec<(String, String, bool)> = kinds
            .iter()
            .map(|kind| (kind.to_string(), hash.to_string(), true))
            .collect();
        for other in &carrying {
            let Some((kind, person)) = other
                .strip_prefix(reuse_prefix)
                .and_then(|rest| rest.split_once(':'))
            else {
                continue;
            };
            if !entries.iter().any(|(k, p, _)| k == kind && p == person) {
                entries.push((kind.to_string(), person.to_string(), false));
            }
        }
        let mut pipe = redis::pipe();
        for (kind, person, _) in &entries {
            pipe.cmd("GET").arg(k.reuse(kind, person));
            pipe.cmd("GET").arg(k.names(kind, person));
        }
        let looked: Vec<Option<String>> = pipe.query_async(&mut self.conn.clone()).await?;
        let mut found = 0;
        let mut inv = SCRIPTS.erase_reuse.prepare_invoke();
        inv.key(k.carries(hash));
        let mut sets = Vec::new();
        for ((kind, person, own), pair) in entries.iter().zip(looked.chunks(2)) {
            let (value, legacy_names) = (pair[0].as_deref(), pair[1].as_deref());
            let named = match value.map(Entry::of) {
                Some(Entry::Profile(named)) => {
                    found += 1;
                    named
                }
                // Another's entry that holds no profile (now a lock) is not theirs to erase.
                _ if !own => continue,
                _ => "",
            };
            let before = sets.len();
            for h in named
                .split_whitespace()
                .chain(legacy_names.unwrap_or_default().split_whitespace())
            {
                sets.push(k.carries(h));
            }
            inv.key(k.reuse(kind, person))
                .key(k.names(kind, person))
                .key(k.paying(kind, person))
                .arg(if *own { "1" } else { "0" })
                .arg(value.unwrap_or_default())
                .arg(sets.len() - before);
        }
        if dry_run {
            return Ok(found);
        }
        for set in &sets {
            inv.key(set);
        }
        let _gone: u64 = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(found)
    }
}

/// What a reuse entry holds (`rdb/pay_locks.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// A paid call in flight (`run|…`) or the note that one got no answer (`unsure|…`).
    Lock,
    /// A stored profile, with the keyed hashes (space-separated) of the others it names
    /// (empty for an entry of the earlier layout: those are in its `names:` key).
    Profile(&'a str),
}

impl<'a> Entry<'a> {
    pub(crate) fn of(value: &'a str) -> Self {
        if value.starts_with("run|") || value.starts_with("unsure|") {
            return Entry::Lock;
        }
        match value
            .strip_prefix("profile|")
            .and_then(|rest| rest.split_once('|'))
        {
            Some((named, _)) => Entry::Profile(named),
            None => Entry::Profile(""),
        }
    }

    /// The stored value of a profile entry (without the carried hashes), `None` for a lock.
    pub(crate) fn stored(value: &'a str) -> Option<&'a str> {
        match Entry::of(value) {
            Entry::Lock => None,
            Entry::Profile(_) => Some(
                value
                    .strip_prefix("profile|")
                    .and_then(|rest| rest.split_once('|'))
                    .map_or(value, |(_, v)| v),
            ),
        }
    }
}
