//! What an Okra account pays for, kept under the account's hash tag: the reuse store (a profile
//! paid for once, handed to later jobs for the same person within `okra.reuse_window`), the
//! per-person pay lock that makes concurrent jobs for one person one paid call, the spend
//! ledger (per UTC day and kind) and the daily budget. A person is always a keyed hash of
//! the identifier, never the identifier.

use std::time::{Duration, UNIX_EPOCH};

use redis::Value;
use serde::Serialize;

use super::account::Account;
use super::reply::{int, text};
use super::scripts::SCRIPTS;
use crate::error::{QueueError, Result};

/// What [`Account::charge_begin`] says to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// A profile the account paid for within the reuse window: use it, call nothing.
    Reuse(String),
    /// Another job is paying for this person right now: wait (at most this long) for its
    /// answer.
    Wait(Duration),
    /// The caller holds the person's pay lock; `look_first`: the last paid call for the person
    /// got no answer, so a free lookup comes before paying.
    Go {
        /// Look before paying.
        look_first: bool,
    },
}

/// How a paid call (or the lookup before it) for one person ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End<'a> {
    /// A profile (paid for, or found by the free lookup): stored for reuse within the window.
    Paid(&'a str),
    /// The answer never came: the next job for the person looks first.
    Unsure,
    /// Nothing was paid for (a definite error): the lock is released.
    Nothing,
}

/// What the spend ledger counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spent {
    /// A verify Okra answered with success (charged).
    Paid,
    /// A verify whose answer never came (maybe charged).
    Uncertain,
    /// A free lookup found the profile instead of a second paid verify.
    SavedLookup,
    /// A profile reused from the reuse store instead of a paid verify.
    SavedReuse,
}

impl Spent {
    /// Every counter, in the ledger's column order.
    pub const ALL: [Spent; 4] = [
        Self::Paid,
        Self::Uncertain,
        Self::SavedLookup,
        Self::SavedReuse,
    ];

    /// The counter's name in the ledger and in `okra-admin spend --json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paid => "paid",
            Self::Uncertain => "uncertain",
            Self::SavedLookup => "saved_lookup",
            Self::SavedReuse => "saved_reuse",
        }
    }
}

/// One count for the spend ledger: `n` of `what` for `kind` on a UTC `day`, with the credits
/// their receipts said.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendCount {
    /// UTC day, `YYYY-MM-DD` (of Redis time).
    pub day: String,
    /// Job kind.
    pub kind: String,
    /// What is counted.
    pub what: Spent,
    /// How many.
    pub n: u64,
    /// Credits (receipt amounts) they cost.
    pub credits: f64,
}

/// Credits are counted in millionths, so sums stay exact.
const MICRO: f64 = 1_000_000.0;

/// A ledger day's field for the credits of a kind.
const CREDITS: &str = "credits_micro";

/// How long a day of the ledger is kept.
const LEDGER_KEPT: Duration = Duration::from_secs(400 * 24 * 3600);

/// One row of the spend ledger: one UTC day and one kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SpendRow {
    /// UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// Job kind.
    pub kind: String,
    /// Verifies Okra answered with success (charged).
    pub paid: u64,
    /// Verifies whose answer never came (maybe charged).
    pub uncertain: u64,
    /// Paid verifies avoided by a free lookup that found the profile.
    pub saved_lookup: u64,
    /// Paid verifies avoided by reusing a profile paid for within the window.
    pub saved_reuse: u64,
    /// The sum of the `receipt` amounts Okra's answers carried (credits; 1 credit = 1 USD).
    pub credits: f64,
}

/// The UTC day (`YYYY-MM-DD`) of a time in ms since the epoch.
pub fn utc_day(ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()[..10].to_string()
}

impl Account {
    /// Before a paid call for `person` (a keyed hash) of `kind`: reuse, wait, or go (see
    /// [`Begin`]). `me` names the caller (`queue|job|token`); `lock` is the longest its call
    /// can take; `reuse` is false for a job that asked for a fresh answer.
    pub async fn charge_begin(
        &self,
        kind: &str,
        person: &str,
        me: &str,
        lock: Duration,
        reuse: bool,
    ) -> Result<Begin> {
        let reply: Vec<Value> = SCRIPTS
            .charge_begin
            .key(self.keys.reuse(kind, person))
            .key(self.keys.paying(kind, person))
            .arg(me)
            .arg(lock.as_millis().max(1) as u64)
            .arg(if reuse { "1" } else { "0" })
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match text(reply.first())?.as_str() {
            "reuse" => Begin::Reuse(text(reply.get(1))?),
            "wait" => Begin::Wait(Duration::from_millis(int(reply.get(1))?)),
            "go" => Begin::Go {
                look_first: int(reply.get(1))? == 1,
            },
            other => {
                return Err(QueueError::Protocol(format!(
                    "charge_begin replied {other}"
                )));
            }
        })
    }

    /// After the paid call (or the lookup before it) for `person`: stores a profile for reuse
    /// (for `window`; none when it is zero, or when the person was erased meanwhile), and
    /// releases the pay lock or leaves the note that the answer never came (for `unsure_for`).
    /// `carried` are the keyed hashes of other identifiers the profile holds
    /// (`IndexKey::carried`), so erasing any of them removes the stored profile, and it is not
    /// stored if one of them was erased meanwhile. Once the account stored a sealed profile, a
    /// plaintext one is not stored.
    #[allow(clippy::too_many_arguments)]
    pub async fn charge_end(
        &self,
        kind: &str,
        person: &str,
        me: &str,
        end: End<'_>,
        window: Duration,
        unsure_for: Duration,
        carried: &[String],
    ) -> Result<()> {
        let (outcome, value) = match end {
            End::Paid(v) => ("paid", v),
            End::Unsure => ("unsure", ""),
            End::Nothing => ("none", ""),
        };
        let mut inv = SCRIPTS.charge_end.prepare_invoke();
        inv.key(self.keys.reuse(kind, person))
            .key(self.keys.paying(kind, person))
            .key(self.keys.erased(person))
            .key(self.keys.names(kind, person))
            .key(self.keys.sealed());
        let others: Vec<&String> = carried.iter().filter(|h| h.as_str() != person).collect();
        for h in &others {
            inv.key(self.keys.carries(h)).key(self.keys.erased(h));
        }
        let names: Vec<&str> = others.iter().map(|h| h.as_str()).collect();
        let _: u64 = inv
            .arg(me)
            .arg(outcome)
            .arg(value)
            .arg(window.as_millis() as u64)
            .arg(unsure_for.as_millis().max(1) as u64)
            .arg(names.join(" "))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Takes one paid-call slot of today's budget (`limit` per UTC day; 0 = none); `false`
    /// when it is spent, and then every queue of the account is held until the next UTC day
    /// (or `okra-admin queue resume`).
    pub async fn budget_take(&self, limit: u32) -> Result<bool> {
        if limit == 0 {
            return Ok(true);
        }
        let reason = format!("budget: {limit} paid calls today (okra.daily_budget)");
        let (granted, _count): (u64, u64) = SCRIPTS
            .budget_take
            .key(self.keys.budget())
            .key(self.keys.hold())
            .key(self.keys.lifted())
            .arg(limit)
            .arg(reason)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(granted == 1)
    }

    /// Gives a slot back to today's budget: the call turned out not to be charged.
    pub async fn budget_give_back(&self) -> Result<()> {
        let _: u64 = SCRIPTS
            .budget_give_back
            .key(self.keys.budget())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Lifts the budget's hold for the rest of the UTC day; true if one was in place.
    pub async fn lift_hold(&self) -> Result<bool> {
        let lifted: u64 = SCRIPTS
            .lift
            .key(self.keys.hold())
            .key(self.keys.lifted())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(lifted == 1)
    }

    /// Counts `n` of `what` (and `credits`, from receipts) for `kind` on the UTC day of
    /// `now_ms` (Redis time).
    pub async fn spend_add(
        &self,
        now_ms: u64,
        kind: &str,
        what: Spent,
        n: u64,
        credits: f64,
    ) -> Result<()> {
        self.spend_add_many(&[SpendCount {
            day: utc_day(now_ms),
            kind: kind.to_string(),
            what,
            n,
            credits,
        }])
        .await
    }

    /// Adds many counts in one round trip (a worker gathers its jobs' counts and writes them
    /// together: one pipeline for a batch, not one per job).
    pub async fn spend_add_many(&self, counts: &[SpendCount]) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        let mut days: Vec<&str> = Vec::new();
        for c in counts {
            let key = self.keys.spend(&c.day);
            pipe.hincr(&key, format!("{}|{}", c.kind, c.what.as_str()), c.n)
                .ignore();
            if c.credits > 0.0 {
                pipe.hincr(
                    &key,
                    format!("{}|{CREDITS}", c.kind),
                    (c.credits * MICRO).round() as i64,
                )
                .ignore();
            }
            if !days.contains(&c.day.as_str()) {
                days.push(&c.day);
            }
        }
        for day in days {
            pipe.expire(self.keys.spend(day), LEDGER_KEPT.as_secs() as i64)
                .ignore();
        }
        let _: () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// The ledger of the last `days` UTC days (today included, by Redis time), newest first,
    /// one row per day and kind that has any count. Two round trips: the time, then the days.
    pub async fn spend(&self, days: u32) -> Result<Vec<SpendRow>> {
        let mut conn = self.conn.clone();
        let (secs, _): (u64, u64) = redis::cmd("TIME").query_async(&mut conn).await?;
        let day_list: Vec<String> = (0..u64::from(days.max(1)))
            .map(|ago| utc_day((secs.saturating_sub(ago * 86_400)) * 1000))
            .collect();
        let mut pipe = redis::pipe();
        for d in &day_list {
            pipe.hgetall(self.keys.spend(d));
        }
        let maps: Vec<std::collections::BTreeMap<String, i64>> =
            pipe.query_async(&mut conn).await?;
        let mut rows = Vec::new();
        for (day, fields) in day_list.into_iter().zip(maps) {
            let mut by_kind: std::collections::BTreeMap<String, SpendRow> = Default::default();
            for (field, n) in fields {
                let Some((kind, what)) = field.rsplit_once('|') else {
                    continue;
                };
                let row = by_kind.entry(kind.to_string()).or_insert_with(|| SpendRow {
                    day: day.clone(),
                    kind: kind.to_string(),
                    ..SpendRow::default()
                });
                let n = n.max(0) as u64;
                match what {
                    "paid" => row.paid = n,
                    "uncertain" => row.uncertain = n,
                    "saved_lookup" => row.saved_lookup = n,
                    "saved_reuse" => row.saved_reuse = n,
                    CREDITS => row.credits = n as f64 / MICRO,
                    _ => {}
                }
            }
            rows.extend(by_kind.into_values());
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(1_795_996_800_000), "2026-11-30");
        assert_eq!(utc_day(1_795_996_800_000 - 1), "2026-11-29");
    }
}
