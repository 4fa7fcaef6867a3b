//! The reuse store (a profile paid for once, handed to later jobs for the same person within
//! `okra.reuse_window`) and the per-person pay lock that makes concurrent jobs for one person
//! one paid call, kept under the account's hash tag. A person is always a keyed hash of the
//! identifier, never the identifier.
//!
//! Both live in one entry per person and kind (`reuse:<kind>:<person>`, see `keys.rs`): the
//! lock (`run|<who>`), the note that the last call got no answer (`unsure|<who>`), or the
//! stored profile with the keyed hashes of the other identifiers it names
//! (`profile|<hash hash ...>|<value>`), so the common case costs Redis one write to begin (`SET
//! NX`) and one to settle (`SET ... GET`). A job that asked for a fresh answer while a profile
//! is stored keeps its lock aside (`paying:<kind>:<person>`), so the others still reuse the
//! profile meanwhile. Entries written before (a bare profile, with the lock in `paying:` and
//! the hashes in `names:`) are still reused, honoured, erased and re-sealed until they expire.
//!
//! Both directions take a batch: a worker gathers the jobs that begin (or settle) while its
//! last call is in flight and sends them in one script call, so a busy worker pays Redis one
//! round trip per batch, not one per job (`okra::pay_once`). Every key of a batch is the
//! account's (`{acct:NAME}`), so a batch is one hash slot under Redis Cluster.

use std::time::Duration;

use redis::Value;

use super::account::Account;
use super::reply::{int, text};
use super::scripts::SCRIPTS;
use crate::error::{QueueError, Result};

/// Before a paid call for one person: what [`Account::charge_begin_many`] is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeginAsk {
    /// Job kind.
    pub kind: &'static str,
    /// The person: a keyed hash of the identifier.
    pub person: String,
    /// The caller (`queue|job|token`).
    pub me: String,
    /// The longest the caller's call can take: the lock's life.
    pub lock: Duration,
    /// False for a job that asked for a fresh answer.
    pub reuse: bool,
}

/// What [`Account::charge_begin_many`] says to do.
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

/// After a paid call for one person: what [`Account::charge_end_many`] is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndAsk<'a> {
    /// Job kind.
    pub kind: &'a str,
    /// The person: a keyed hash of the identifier.
    pub person: &'a str,
    /// The caller (`queue|job|token`), as it began.
    pub me: &'a str,
    /// How it ended.
    pub end: End<'a>,
    /// How long a stored profile lives (zero: store nothing).
    pub window: Duration,
    /// How long the note that the answer never came lasts.
    pub unsure_for: Duration,
    /// The pay lock's life: another caller's lock found where the profile would go is put
    /// back for this long.
    pub lock: Duration,
    /// The keyed hashes of other identifiers the profile holds (`IndexKey::carried`).
    pub carried: &'a [String],
}

impl Account {
    /// Before paid calls, for a batch of people (see [`Begin`]), in order and in one round
    /// trip: two asks for one person in one batch take the lock once (the second waits).
    pub async fn charge_begin_many(&self, asks: &[BeginAsk]) -> Result<Vec<Begin>> {
        if asks.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = SCRIPTS.charge_begin.prepare_invoke();
        for a in asks {
            inv.key(self.keys.reuse(a.kind, &a.person))
                .key(self.keys.paying(a.kind, &a.person))
                .arg(&a.me)
                .arg(a.lock.as_millis().max(1) as u64)
                .arg(if a.reuse { "1" } else { "0" });
        }
        let reply: Vec<Value> = inv.invoke_async(&mut self.conn.clone()).await?;
        if reply.len() != 2 * asks.len() {
            return Err(QueueError::Protocol(format!(
                "charge_begin replied {} values for {} asks",
                reply.len(),
                asks.len()
            )));
        }
        reply
            .chunks(2)
            .map(|pair| {
                Ok(match text(pair.first())?.as_str() {
                    "reuse" => Begin::Reuse(text(pair.get(1))?),
                    "wait" => Begin::Wait(Duration::from_millis(int(pair.get(1))?)),
                    "go" => Begin::Go {
                        look_first: int(pair.get(1))? == 1,
                    },
                    other => {
                        return Err(QueueError::Protocol(format!(
                            "charge_begin replied {other}"
                        )));
                    }
                })
            })
            .collect()
    }

    /// Before a paid call for `person` (a keyed hash) of `kind`: reuse, wait, or go (see
    /// [`Begin`]). `me` names the caller (`queue|job|token`); `lock` is the longest its call
    /// can take; `reuse` is false for a job that asked for a fresh answer.
    pub async fn charge_begin(
        &self,
        kind: &'static str,
        person: &str,
        me: &str,
        lock: Duration,
        reuse: bool,
    ) -> Result<Begin> {
        let ask = BeginAsk {
            kind,
            person: person.to_string(),
            me: me.to_string(),
            lock,
            reuse,
        };
        let mut replies = self.charge_begin_many(std::slice::from_ref(&ask)).await?;
        Ok(replies.remove(0))
    }

    /// After paid calls (or the lookups before them), for a batch of people, in one round
    /// trip: each stores a profile for reuse (for its `window`; none when it is zero, or when
    /// the person was erased meanwhile), and releases its pay lock or leaves the note that the
    /// answer never came (for `unsure_for`). `carried` are the keyed hashes of other
    /// identifiers the profile holds, so erasing any of them removes the stored profile, and
    /// it is not stored if one of them was erased meanwhile. Once the account stored a sealed
    /// profile, a plaintext one is not stored. A profile never replaces another caller's lock
    /// (this caller's expired and was taken): it is not stored. Returns, per ask, whether the
    /// lock was its own.
    pub async fn charge_end_many(&self, asks: &[EndAsk<'_>]) -> Result<Vec<bool>> {
        if asks.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = SCRIPTS.charge_end.prepare_invoke();
        inv.key(self.keys.sealed());
        for a in asks {
            inv.key(self.keys.reuse(a.kind, a.person))
                .key(self.keys.erased(a.person))
                .key(self.keys.paying(a.kind, a.person));
            let others: Vec<&str> = a
                .carried
                .iter()
                .map(String::as_str)
                .filter(|h| *h != a.person)
                .collect();
            if let Some(bad) = others
                .iter()
                .find(|h| !h.bytes().all(|b| b.is_ascii_hexdigit()))
            {
                return Err(QueueError::Protocol(format!(
                    "charge_end: a carried hash is not hex ({} characters)",
                    bad.len()
                )));
            }
            for h in &others {
                inv.key(self.keys.carries(h)).key(self.keys.erased(h));
            }
            inv.arg(a.me);
            match a.end {
                End::Paid(v) => inv.arg("paid").arg(entry(&others, v)),
                End::Unsure => inv.arg("unsure").arg(""),
                End::Nothing => inv.arg("none").arg(""),
            };
            inv.arg(a.window.as_millis() as u64)
                .arg(a.unsure_for.as_millis().max(1) as u64)
                .arg(a.lock.as_millis().max(1) as u64)
                .arg(others.len());
        }
        let mine: Vec<u64> = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(mine.into_iter().map(|m| m == 1).collect())
    }

    /// [`Account::charge_end_many`] for one person.
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
        self.charge_end_many(&[EndAsk {
            kind,
            person,
            me,
            end,
            window,
            unsure_for,
            // No lock life of its own: an unsure note's (at least a call's) bounds it.
            lock: unsure_for,
            carried,
        }])
        .await?;
        Ok(())
    }
}

/// A stored profile's entry: `profile|<the keyed hashes it names>|<value>` (the hashes are hex,
/// so the first two bars delimit them).
fn entry(named: &[&str], value: &str) -> String {
    let len = named.iter().map(|h| h.len() + 1).sum::<usize>();
    let mut out = String::with_capacity(len + value.len() + 9);
    out.push_str("profile|");
    for (i, h) in named.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(h);
    }
    out.push('|');
    out.push_str(value);
    out
}
