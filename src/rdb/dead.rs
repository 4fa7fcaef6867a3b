//! Dead letters: the index that makes filtered pages range reads, and the operations on
//! letters (requeue, delete, briefs, histories).
//!
//! The index format is written here once. Every dead letter has one member per dimension in
//! `dead_index`, `dim|value|died_at|id` (`died_at` as 15 zero-padded digits, so members sort by
//! time within a value), and the list of its members in `dindex` so it can leave the index.

use std::time::Duration;

use redis::Value;

use super::Rdb;
use super::scripts::SCRIPTS;
use crate::error::Result;
use crate::job::{Failure, HistoryEntry, split_record};

/// One value of one dimension of the dead-letter index, `letter|value` (`c|server_error`,
/// `k|bvn_verify`, `s|500`, `t|FLAGGED_USER`, or `a|*` for every letter): the prefix of the
/// index members of the letters that have it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dim(String);

impl Dim {
    /// Every dead letter.
    pub fn all() -> Self {
        Self("a|*".into())
    }

    /// Letters of a failure class.
    pub fn class(class: &str) -> Self {
        Self::of('c', class)
    }

    /// Letters of a job kind.
    pub fn kind(kind: &str) -> Self {
        Self::of('k', kind)
    }

    /// Letters whose upstream answered this HTTP status.
    pub fn status(status: u16) -> Self {
        Self::of('s', &status.to_string())
    }

    /// Letters with this upstream error type.
    pub fn okra_type(t: &str) -> Self {
        Self::of('t', t)
    }

    /// The dimension `letter` with `value` (separators in the value are replaced).
    pub fn of(letter: char, value: &str) -> Self {
        Self(format!("{letter}|{}", value.replace(['|', '\n'], "_")))
    }

    /// Parses the dimension of an index member (`dim|value|died_at|id`).
    fn of_member(member: &str) -> Option<Self> {
        let mut parts = member.splitn(3, '|');
        let (letter, value) = (parts.next()?, parts.next()?);
        (letter.len() == 1).then(|| Self(format!("{letter}|{value}")))
    }

    /// The dimension's letter (`c`, `k`, `s`, `t`, `a`).
    pub fn letter(&self) -> char {
        self.0.chars().next().unwrap_or('?')
    }

    /// The value.
    pub fn value(&self) -> &str {
        self.0.get(2..).unwrap_or("")
    }

    /// `letter|value`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lexicographic bounds of this dimension's members between two times.
    fn bounds(&self, min_ms: u64, max_ms: u64) -> (String, String) {
        (
            format!("[{}|{min_ms:015}|", self.0),
            format!("[{}|{:015}|~", self.0, max_ms.min(999_999_999_999_999)),
        )
    }
}

/// The dimensions a new dead letter of `kind` that failed with `failure` is indexed under
/// (`outcome.lua` makes each a member with the time of death and the id).
pub fn index_members(kind: &str, failure: &Failure) -> Vec<Dim> {
    let mut dims = vec![Dim::all(), Dim::class(&failure.class), Dim::kind(kind)];
    if let Some(s) = failure.http_status {
        dims.push(Dim::status(s));
    }
    if let Some(t) = &failure.error_type {
        dims.push(Dim::okra_type(t));
    }
    dims
}

/// The job id at the end of an index member.
pub fn member_id(member: &str) -> &str {
    member.rsplit('|').next().unwrap_or("")
}

/// What `requeue.lua` did.
#[derive(Debug, Clone, Default)]
pub struct Requeued {
    /// Ids sent back to work.
    pub requeued: Vec<String>,
    /// Dead letters left dead because their record is missing or does not decode.
    pub skipped: Vec<String>,
}

/// A dead letter's listing fields.
#[derive(Debug, Clone)]
pub struct DeadBrief {
    /// Job id.
    pub id: String,
    /// Time of death (ms), `None` if it is no longer dead.
    pub died_at: Option<u64>,
    /// Metadata JSON.
    pub meta: String,
    /// Failure JSON.
    pub error: String,
    /// Attempts spent.
    pub attempts: u32,
    /// The index dimensions it is filed under.
    pub dims: Vec<Dim>,
    /// Payload JSON (only when asked for).
    pub payload: Option<String>,
}

impl Rdb {
    /// Requeues dead letters (those still dead and whose record decodes).
    pub async fn requeue_dead(
        &self,
        ids: &[String],
        delay: Duration,
        at_ms: u64,
        history: &HistoryEntry,
        history_cap: usize,
    ) -> Result<Requeued> {
        let k = &self.keys;
        let mut inv = SCRIPTS.requeue.prepare_invoke();
        inv.key(k.dead())
            .key(k.dead_index())
            .key(k.dindex())
            .key(k.scheduled())
            .key(k.ready())
            .key(k.attempts())
            .key(k.job())
            .key(k.history())
            .key(k.stats())
            .key(k.wake())
            .key(k.sched())
            .key(k.events())
            .arg(delay.as_millis() as u64)
            .arg(at_ms)
            .arg(history_cap.max(1))
            .arg(history.to_script_arg())
            .arg(self.events_max);
        for id in ids {
            inv.arg(id);
        }
        let (requeued, skipped): (Vec<String>, Vec<String>) =
            inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(Requeued { requeued, skipped })
    }

    /// Deletes dead letters (those still dead); returns the ids deleted.
    pub async fn delete_dead(&self, ids: &[String]) -> Result<Vec<String>> {
        let k = &self.keys;
        let mut inv = SCRIPTS.delete.prepare_invoke();
        inv.key(k.dead()).key(k.dead_index()).key(k.stats());
        for col in k.job_columns() {
            inv.key(col);
        }
        inv.key(k.ident());
        for id in ids {
            inv.arg(id);
        }
        Ok(inv.invoke_async(&mut self.conn.clone()).await?)
    }

    /// Dead-letter ids of one index dimension, newest first.
    pub async fn dead_ids_by(
        &self,
        dim: &Dim,
        min_ms: u64,
        max_ms: u64,
        offset: u64,
        count: u64,
    ) -> Result<Vec<String>> {
        let (lo, hi) = dim.bounds(min_ms, max_ms);
        let members: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
            .arg(self.keys.dead_index())
            .arg(hi)
            .arg(lo)
            .arg("LIMIT")
            .arg(offset)
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(members.iter().map(|m| member_id(m).to_string()).collect())
    }

    /// Index members of one dimension after `after` (exclusive), oldest first: a cursor that
    /// stays valid while earlier letters are requeued or deleted.
    pub async fn dead_members_after(
        &self,
        dim: &Dim,
        min_ms: u64,
        max_ms: u64,
        after: Option<&str>,
        count: u64,
    ) -> Result<Vec<String>> {
        let (lo, hi) = dim.bounds(min_ms, max_ms);
        let lo = after.map_or(lo, |m| format!("({m}"));
        Ok(redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.dead_index())
            .arg(lo)
            .arg(hi)
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Number of dead letters in one index dimension.
    pub async fn dead_count_by(&self, dim: &Dim, min_ms: u64, max_ms: u64) -> Result<u64> {
        let (lo, hi) = dim.bounds(min_ms, max_ms);
        Ok(redis::cmd("ZLEXCOUNT")
            .arg(self.keys.dead_index())
            .arg(lo)
            .arg(hi)
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Distinct values of one dead-index dimension (`c` class, `k` kind, `s` status, `t` Okra
    /// type) with the letters that died in `[min_ms, max_ms]`, by a skip scan of the index: two
    /// logarithmic commands per value (a walk, not one call), however many letters there are.
    pub async fn dead_values(
        &self,
        letter: char,
        min_ms: u64,
        max_ms: u64,
    ) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        let mut from = format!("[{letter}|");
        loop {
            let first: Vec<String> = redis::cmd("ZRANGEBYLEX")
                .arg(self.keys.dead_index())
                .arg(&from)
                .arg(format!("({letter}}}"))
                .arg("LIMIT")
                .arg(0)
                .arg(1)
                .query_async(&mut self.conn.clone())
                .await?;
            let Some(dim) = first.first().and_then(|m| Dim::of_member(m)) else {
                return Ok(out);
            };
            let n = self.dead_count_by(&dim, min_ms, max_ms).await?;
            if n > 0 {
                out.push((dim.value().to_string(), n));
            }
            from = format!("({}|~", dim.as_str());
        }
    }

    /// Listing fields of dead letters, in the order of `ids`.
    pub async fn dead_briefs(&self, ids: &[String], with_payload: bool) -> Result<Vec<DeadBrief>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let mut pipe = redis::pipe();
        pipe.cmd("ZMSCORE").arg(k.dead()).arg(ids);
        for col in [k.job(), k.error(), k.attempts(), k.dindex()] {
            pipe.cmd("HMGET").arg(col).arg(ids);
        }
        let cols: Vec<Vec<Value>> = pipe.query_async(&mut self.conn.clone()).await?;
        let get = |col: &Vec<Value>, i: usize| -> String {
            match col.get(i) {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::Int(n)) => n.to_string(),
                _ => String::new(),
            }
        };
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            let died_at = match cols[0].get(i) {
                Some(Value::Double(d)) => Some(*d as u64),
                Some(Value::BulkString(b)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .map(|d| d as u64),
                _ => None,
            };
            let dims = get(&cols[4], i)
                .split('\n')
                .filter_map(Dim::of_member)
                .collect();
            let record = get(&cols[1], i);
            let (meta, payload) = split_record(&record);
            out.push(DeadBrief {
                id: id.clone(),
                died_at,
                meta: meta.to_string(),
                error: get(&cols[2], i),
                attempts: get(&cols[3], i).parse().unwrap_or(0),
                dims,
                payload: with_payload.then(|| payload.to_string()),
            });
        }
        Ok(out)
    }

    /// Attempt histories (JSON arrays) of `ids`, in order.
    pub async fn histories(&self, ids: &[String]) -> Result<Vec<Option<String>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(redis::cmd("HMGET")
            .arg(self.keys.history())
            .arg(ids)
            .query_async(&mut self.conn.clone())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_cover_the_time_range() {
        let (lo, hi) = Dim::class("server_error").bounds(5, 10);
        let member = format!("c|server_error|{:015}|01ABC", 7);
        assert!(lo[1..] <= *member && *member <= hi[1..]);
        let outside = format!("c|server_error|{:015}|01ABC", 11);
        assert!(*outside > hi[1..]);
        assert_eq!(member_id(&member), "01ABC");
        assert_eq!(Dim::of_member(&member), Some(Dim::class("server_error")));
    }

    #[test]
    fn new_letters_are_indexed_by_every_dimension() {
        let f = Failure {
            class: "flagged_user".into(),
            http_status: Some(200),
            error_type: Some("FLAGGED|USER".into()),
            ..Failure::default()
        };
        let dims: Vec<String> = index_members("bvn_verify", &f)
            .iter()
            .map(|d| d.as_str().to_string())
            .collect();
        assert_eq!(
            dims,
            [
                "a|*",
                "c|flagged_user",
                "k|bvn_verify",
                "s|200",
                "t|FLAGGED_USER"
            ]
        );
    }
}
