//! What an Okra account pays for, kept under the account's hash tag: the spend ledger (per UTC
//! day and kind) and the daily budget. The reuse store and the pay locks are `pay_locks.rs`.

use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use super::account::Account;
use super::scripts::SCRIPTS;
use crate::error::Result;

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
    /// Takes one paid-call slot of today's budget (`limit` per UTC day; 0 = none); `false`
    /// when it is spent, and then every queue of the account is held until the next UTC day
    /// (or `okra-admin queue resume`).
    pub async fn budget_take(&self, limit: u32) -> Result<bool> {
        Ok(self.budget_take_many(limit, 1).await? == 1)
    }

    /// Takes up to `want` slots of today's budget in one round trip (a batch of paid calls
    /// about to be made); returns how many were granted (the batch's first asks get them).
    /// When fewer than `want` are left, the account is held as by [`Account::budget_take`].
    pub async fn budget_take_many(&self, limit: u32, want: usize) -> Result<usize> {
        if limit == 0 || want == 0 {
            return Ok(want);
        }
        let reason = format!("budget: {limit} paid calls today (okra.daily_budget)");
        let (granted, _count): (u64, u64) = SCRIPTS
            .budget_take
            .key(self.keys.budget())
            .key(self.keys.hold())
            .key(self.keys.lifted())
            .arg(limit)
            .arg(reason)
            .arg(want)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((granted as usize).min(want))
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
