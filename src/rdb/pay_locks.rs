//! The reuse store (a profile paid for once, handed to later jobs for the same person within
//! `okra.reuse_window`) and the per-person pay lock that makes concurrent jobs for one person
//! one paid call, kept under the account's hash tag. A person is always a keyed hash of the
//! identifier, never the identifier.
//!
//! Both live in one entry per person and kind (`reuse:<kind>:<person>`, see `keys.rs`): the
//! lock (`run|<who>`), the note that the last call got no answer (`unsure|<who>`), or the
//! stored profile with the keyed hashes of the other identifiers it names
//! (`profile|<hash hash ...>|<value>`). A job that asked for a fresh answer takes the lock over
//! a stored profile (the others wait for its answer).
//!
//! The common case is two plain commands, no script: to begin, `SET <entry> run|<me> NX PX
//! <lock> GET` (nothing there: the lock is taken; a profile: reuse it); to settle, `SET
//! <entry> <profile> XX PX <window> GET` (the old value says whether the lock was still the
//! caller's) and, once per batch, an `EXISTS` of every tombstone the batch's profiles could
//! meet (and of the account's sealed marker for a plaintext profile). Only what those cannot
//! decide goes to a script: a begin that finds a lock or the note, or comes from a fresh job
//! (`charge_begin.lua`); a settle without a profile, or whose lock is gone
//! (`charge_end.lua`); a profile stored over another job's lock, or over a tombstone that
//! `EXISTS` saw (`charge_fix.lua`, which puts the lock back or removes the profile while the
//! entry still holds it). A profile can be in the store without being reusable only for that
//! one round trip, and only when an erasure met its paid call (docs/costs.md). A begin told
//! to wait for a lock whose holder no longer holds its job's lease takes it over, looking first
//! (`charge_stale.lua`).
//!
//! Both directions take a batch, together: a worker gathers the jobs that begin or settle while
//! its last call is in flight and sends them in one pipeline ([`Account::charge_many`]: the
//! settles first, so a begin finds a profile stored in the same round trip), so a busy worker
//! pays Redis one round trip per batch, not two per job (`okra::pay_once`). Every key of a
//! batch is the account's (`{acct:NAME}`), so a batch is one hash slot under Redis Cluster.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use super::account::Account;
use super::reply::{int, text, text_ref};
use super::scripts::SCRIPTS;
use crate::error::{QueueError, Result};
use crate::keys::{AccountKeys, Joined};

/// Before a paid call for one person: what [`Account::charge_begin_many`] is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeginAsk {
    /// Job kind.
    pub kind: &'static str,
    /// The person: a keyed hash of the identifier (shared: a waiting job asks again).
    pub person: Arc<str>,
    /// The caller (`queue|job|token`).
    pub me: Arc<str>,
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
    /// Before paid calls, for a batch of people (see [`Begin`]), in one round trip (two when a
    /// begin finds a lock or the note): two asks for one person in one batch take the lock
    /// once (the second waits).
    pub async fn charge_begin_many(&self, asks: &[BeginAsk]) -> Result<Vec<Begin>> {
        let asks: Vec<&BeginAsk> = asks.iter().collect();
        Ok(self.charge_many(&[], &asks).await?.1)
    }

    /// Settles and begins of one batch in one round trip (more only for what the plain
    /// commands cannot decide): the settles' commands first, so a begin finds a profile a
    /// settle of the same batch stored. Returns, per settle, whether the lock was its own (as
    /// [`Account::charge_end_many`]) and, per begin, what to do (as
    /// [`Account::charge_begin_many`]).
    pub async fn charge_many(
        &self,
        ends: &[EndAsk<'_>],
        begins: &[&BeginAsk],
    ) -> Result<(Vec<bool>, Vec<Begin>)> {
        let mut named: Vec<Vec<&str>> = Vec::with_capacity(ends.len());
        for a in ends {
            named.push(others(a)?);
        }
        // The settles a plain `SET XX` can store, each with the entry it stores.
        let stores: Vec<(usize, Entry)> = ends
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match a.end {
                End::Paid(value) if !a.window.is_zero() => Some((
                    i,
                    Entry {
                        named: &named[i],
                        value,
                    },
                )),
                _ => None,
            })
            .collect();
        let takes: Vec<usize> = (0..begins.len()).filter(|&i| begins[i].reuse).collect();
        let mut pipe = redis::pipe();
        let settles = if stores.is_empty() {
            0
        } else {
            self.plain_settles(&mut pipe, ends, &named, &stores).await?;
            stores.len() + 1
        };
        for &i in &takes {
            let a = begins[i];
            pipe.cmd("SET")
                .arg(self.keys.reuse_parts(a.kind, &a.person))
                .arg(Joined(["run|", &a.me]))
                .arg("NX")
                .arg("PX")
                .arg(life_ms(a.lock))
                .arg("GET");
        }
        let replies: Vec<Value> = if settles + takes.len() == 0 {
            Vec::new()
        } else {
            pipe.query_async(&mut self.conn.clone()).await?
        };
        replied(
            "the pay-once pipeline",
            replies.len(),
            settles + takes.len(),
        )?;
        let (settled, taken) = replies.split_at(settles);
        let ended = self.settle_rest(ends, &named, &stores, settled).await?;
        let began = self.begin_rest(begins, &takes, taken).await?;
        Ok((ended, began))
    }

    /// The begins' answers: each plain `SET NX GET`'s old value (`taken`, one per ask in
    /// `takes`), and `charge_begin.lua` for the rest.
    async fn begin_rest(
        &self,
        asks: &[&BeginAsk],
        takes: &[usize],
        taken: &[Value],
    ) -> Result<Vec<Begin>> {
        let mut out: Vec<Option<Begin>> = vec![None; asks.len()];
        for (&i, old) in takes.iter().zip(taken) {
            out[i] = begun(&asks[i].me, old);
        }
        let rest: Vec<usize> = (0..asks.len()).filter(|&i| out[i].is_none()).collect();
        if !rest.is_empty() {
            let replies = self.begin_script(rest.iter().map(|&i| asks[i])).await?;
            for (i, (r, holder)) in rest.into_iter().zip(replies) {
                let stale = match (&r, holder) {
                    (Begin::Wait(_), Some(held)) => self.take_stale(asks[i], &held).await?,
                    _ => false,
                };
                out[i] = Some(if stale {
                    Begin::Go { look_first: true }
                } else {
                    r
                });
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Whether `a` took over the lock it was told to wait for because its holder no longer
    /// holds its job's lease: the holder's worker died (or lost the job) mid-call, so whether
    /// that call was paid is unknown, and the caller looks first. Without this the lock would
    /// only expire, and whichever job came next would pay without looking.
    /// `held` is the lock as `charge_begin.lua` read it.
    async fn take_stale(&self, a: &BeginAsk, held: &str) -> Result<bool> {
        let Some((queue, job, token)) = holder(held) else {
            return Ok(false);
        };
        let lease: Option<String> = redis::cmd("HGET")
            .arg(crate::keys::Keys::new(queue).lease())
            .arg(job)
            .query_async(&mut self.conn.clone())
            .await?;
        if lease.as_deref() == Some(token) {
            return Ok(false);
        }
        let took: u64 = SCRIPTS
            .charge_stale
            .key(self.keys.reuse(a.kind, &a.person))
            .arg(held)
            .arg(format!("run|{}", a.me))
            .arg(life_ms(a.lock))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(took == 1)
    }

    /// `charge_begin.lua` for the asks the plain `SET NX GET` could not decide: each answer,
    /// and for a wait the lock waited for.
    async fn begin_script(
        &self,
        asks: impl Iterator<Item = &BeginAsk>,
    ) -> Result<Vec<(Begin, Option<String>)>> {
        let mut inv = SCRIPTS.charge_begin.prepare_invoke();
        let mut n = 0;
        for a in asks {
            inv.key(self.keys.reuse(a.kind, &a.person))
                .arg(&*a.me)
                .arg(life_ms(a.lock))
                .arg(if a.reuse { "1" } else { "0" });
            n += 1;
        }
        let reply: Vec<Value> = inv.invoke_async(&mut self.conn.clone()).await?;
        replied("charge_begin", reply.len(), 3 * n)?;
        reply
            .chunks(3)
            .map(|three| {
                Ok(match text(three.first())?.as_str() {
                    "reuse" => (Begin::Reuse(text(three.get(1))?), None),
                    "wait" => (
                        Begin::Wait(Duration::from_millis(int(three.get(1))?)),
                        Some(text(three.get(2))?),
                    ),
                    "go" => (
                        Begin::Go {
                            look_first: int(three.get(1))? == 1,
                        },
                        None,
                    ),
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
            person: person.into(),
            me: me.into(),
            lock,
            reuse,
        };
        let mut replies = self.charge_begin_many(std::slice::from_ref(&ask)).await?;
        Ok(replies.remove(0))
    }

    /// After paid calls (or the lookups before them), for a batch of people, in one round
    /// trip (two when one needs `charge_end.lua` or `charge_fix.lua`): each stores a profile
    /// for reuse (for its `window`; none when it is zero, or when the person was erased
    /// meanwhile), and releases its pay lock or leaves the note that the answer never came
    /// (for `unsure_for`). `carried` are the keyed hashes of other identifiers the profile
    /// holds, so erasing any of them removes the stored profile, and it is not kept if one of
    /// them was erased meanwhile. Once the account stored a sealed profile, a plaintext one is
    /// not kept. A profile never replaces another caller's lock (this caller's expired and was
    /// taken): the lock is put back. Returns, per ask, whether the lock was its own.
    pub async fn charge_end_many(&self, asks: &[EndAsk<'_>]) -> Result<Vec<bool>> {
        Ok(self.charge_many(asks, &[]).await?.0)
    }

    /// The settles' answers: each plain `SET XX GET`'s old value and the batch's `EXISTS`
    /// (`settled`, for the asks in `stores`, each with the entry it stored), `charge_fix.lua` for
    /// what must not stay, `charge_end.lua` for the rest.
    async fn settle_rest(
        &self,
        asks: &[EndAsk<'_>],
        named: &[Vec<&str>],
        stores: &[(usize, Entry<'_>)],
        settled: &[Value],
    ) -> Result<Vec<bool>> {
        let mut out: Vec<Option<bool>> = vec![None; asks.len()];
        if let Some((exists, olds)) = settled.split_last() {
            let met = int(Some(exists))? > 0;
            let olds: Vec<Option<Cow<'_, str>>> = olds
                .iter()
                .map(|v| match v {
                    Value::Nil => Ok(None),
                    v => Ok(Some(text_ref(v)?)),
                })
                .collect::<Result<_>>()?;
            let mut fix = Vec::new();
            for (&(i, stored), old) in stores.iter().zip(&olds) {
                // Nothing was there (the lock expired): the script decides.
                let Some(old) = old else { continue };
                let mine = old.strip_prefix("run|") == Some(asks[i].me);
                out[i] = Some(mine);
                // Another job's lock goes back; anything else it replaced may go.
                let other_lock = (old.starts_with("run|") && !mine).then_some(&**old);
                if other_lock.is_some() || met {
                    fix.push((i, stored, other_lock.unwrap_or("")));
                }
            }
            if !fix.is_empty() {
                self.fix(asks, named, &fix).await?;
            }
        }
        let rest: Vec<usize> = (0..asks.len()).filter(|&i| out[i].is_none()).collect();
        if !rest.is_empty() {
            let mine = self.end_script(asks, named, &rest).await?;
            for (i, m) in rest.into_iter().zip(mine) {
                out[i] = Some(m);
            }
        }
        Ok(out.into_iter().map(|m| m.unwrap_or(false)).collect())
    }

    /// The plain settle, added to `pipe`: per ask `SET <entry> <profile> XX PX <window> GET`
    /// (and its `carries:` sets), then one `EXISTS` of every tombstone the batch could meet:
    /// `stores.len() + 1` replies, each `SET`'s the value it replaced (nil: nothing was there,
    /// nothing stored), then how many tombstones it met.
    async fn plain_settles(
        &self,
        pipe: &mut redis::Pipeline,
        asks: &[EndAsk<'_>],
        named: &[Vec<&str>],
        stores: &[(usize, Entry<'_>)],
    ) -> Result<()> {
        let ids: Vec<Option<&str>> = stores.iter().map(|(_, e)| e.sealed_key_id()).collect();
        let plaintext = ids.contains(&None);
        let mut sealed_by: Vec<&str> = ids.into_iter().flatten().collect();
        sealed_by.sort_unstable();
        sealed_by.dedup();
        if !sealed_by.is_empty() {
            // Before any sealed profile is stored: from now on no plaintext one is kept.
            let now = self.clock.now(&self.conn).await?;
            for id in sealed_by {
                pipe.cmd("HSETNX")
                    .arg(self.keys.sealed())
                    .arg(id)
                    .arg(now)
                    .ignore();
            }
        }
        let mut exists = redis::cmd("EXISTS");
        for &(i, value) in stores {
            let a = &asks[i];
            let key = self.keys.reuse_parts(a.kind, a.person);
            let ms = a.window.as_millis() as u64;
            // Sized for the profile it carries: no regrowth while it is copied in.
            let mut store = redis::Cmd::with_capacity(7, value.len() + 160);
            store
                .arg("SET")
                .arg(key)
                .arg(value)
                .arg("XX")
                .arg("PX")
                .arg(ms)
                .arg("GET");
            pipe.add_command(store);
            exists.arg(self.keys.erased_parts(a.person));
            for h in &named[i] {
                let set = self.keys.carries(h);
                pipe.cmd("SADD").arg(&set).arg(key).ignore();
                // A new set gets the window; a set that lives longer keeps its TTL.
                pipe.cmd("PEXPIRE").arg(&set).arg(ms).arg("NX").ignore();
                pipe.cmd("PEXPIRE").arg(&set).arg(ms).arg("GT").ignore();
                exists.arg(self.keys.erased(h));
            }
        }
        if plaintext {
            exists.arg(self.keys.sealed());
        }
        pipe.add_command(exists);
        Ok(())
    }

    /// `charge_fix.lua` for the plain settles that must not stay as they are.
    async fn fix(
        &self,
        asks: &[EndAsk<'_>],
        named: &[Vec<&str>],
        fix: &[(usize, Entry<'_>, &str)],
    ) -> Result<()> {
        let mut inv = SCRIPTS.charge_fix.prepare_invoke();
        inv.key(self.keys.sealed());
        for &(i, stored, replaced) in fix {
            let a = &asks[i];
            inv.key(self.keys.reuse(a.kind, a.person))
                .key(self.keys.erased(a.person));
            pairs(&mut inv, &self.keys, &named[i]);
            inv.arg(stored)
                .arg(replaced)
                .arg(life_ms(a.lock))
                .arg(named[i].len());
        }
        let _: u64 = inv.invoke_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// `charge_end.lua` for the settles the plain one does not cover.
    async fn end_script(
        &self,
        asks: &[EndAsk<'_>],
        named: &[Vec<&str>],
        rest: &[usize],
    ) -> Result<Vec<bool>> {
        let mut inv = SCRIPTS.charge_end.prepare_invoke();
        inv.key(self.keys.sealed());
        for &i in rest {
            let a = &asks[i];
            inv.key(self.keys.reuse(a.kind, a.person))
                .key(self.keys.erased(a.person));
            pairs(&mut inv, &self.keys, &named[i]);
            inv.arg(a.me);
            match a.end {
                End::Paid(value) => inv.arg("paid").arg(Entry {
                    named: &named[i],
                    value,
                }),
                End::Unsure => inv.arg("unsure").arg(""),
                End::Nothing => inv.arg("none").arg(""),
            };
            inv.arg(a.window.as_millis() as u64)
                .arg(life_ms(a.unsure_for))
                .arg(life_ms(a.lock))
                .arg(named[i].len());
        }
        let mine: Vec<u64> = inv.invoke_async(&mut self.conn.clone()).await?;
        replied("charge_end", mine.len(), rest.len())?;
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
/// A stored profile's entry, `profile|<hashes of the others it names>|<value>`: written into
/// the command (the plain settle's `SET`, or the scripts' arguments) piece by piece, so the
/// profile is copied once, into the command.
#[derive(Clone, Copy)]
struct Entry<'a> {
    named: &'a [&'a str],
    value: &'a str,
}

impl<'a> Entry<'a> {
    /// Its length in bytes.
    fn len(self) -> usize {
        let named = self.named.iter().map(|h| h.len()).sum::<usize>();
        let spaces = self.named.len().saturating_sub(1);
        "profile|".len() + named + spaces + 1 + self.value.len()
    }

    /// The key id of a sealed value (`sealed1:<id>:…`); `None` for a plaintext one.
    fn sealed_key_id(self) -> Option<&'a str> {
        self.value
            .strip_prefix("sealed1:")?
            .split_once(':')
            .map(|(id, _)| id)
    }
}

impl redis::ToRedisArgs for Entry<'_> {
    fn write_redis_args<W: ?Sized + redis::RedisWrite>(&self, out: &mut W) {
        use std::io::Write as _;
        let mut arg = out.writer_for_next_arg();
        // Into the command's own buffer: cannot fail.
        let _ = arg.write_all(b"profile|");
        for (i, h) in self.named.iter().enumerate() {
            if i > 0 {
                let _ = arg.write_all(b" ");
            }
            let _ = arg.write_all(h.as_bytes());
        }
        let _ = arg.write_all(b"|");
        let _ = arg.write_all(self.value.as_bytes());
    }
}

/// A lock's or note's life in ms for Redis (`PX` refuses 0).
fn life_ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

/// A reply of `got` values where `want` were asked for is the server's fault, said in one line.
fn replied(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        return Ok(());
    }
    Err(QueueError::Protocol(format!(
        "{what} replied {got} values for {want} asked"
    )))
}

/// The queue, job and token of a pay lock (`run|<queue>|<job>|<token>`); `None` for anything
/// else, or a queue name no queue could have.
fn holder(lock: &str) -> Option<(&str, &str, &str)> {
    let (queue, rest) = lock.strip_prefix("run|")?.split_once('|')?;
    let (job, token) = rest.rsplit_once('|')?;
    crate::keys::validate_name("queue", queue).ok()?;
    Some((queue, job, token))
}

/// What a plain begin's old value decides (`None`: the script must).
fn begun(me: &str, old: &Value) -> Option<Begin> {
    let Value::BulkString(old) = old else {
        return matches!(old, Value::Nil).then_some(Begin::Go { look_first: false });
    };
    let old = std::str::from_utf8(old).ok()?;
    if old.strip_prefix("run|") == Some(me) {
        return Some(Begin::Go { look_first: false });
    }
    let (_, value) = old.strip_prefix("profile|")?.split_once('|')?;
    Some(Begin::Reuse(value.to_string()))
}

/// The keyed hashes of the others a settle's profile names (its own person left out); each
/// becomes part of a key, so only hex is taken.
fn others<'a>(a: &EndAsk<'a>) -> Result<Vec<&'a str>> {
    let person = a.person;
    let named: Vec<&'a str> = a
        .carried
        .iter()
        .map(String::as_str)
        .filter(|h| *h != person)
        .collect();
    if let Some(bad) = named
        .iter()
        .find(|h| !h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(QueueError::Protocol(format!(
            "charge_end: a carried hash is not hex ({} characters)",
            bad.len()
        )));
    }
    Ok(named)
}

/// The `carries:<hash>`, `erased:<hash>` key pair of each identifier a profile names.
fn pairs(inv: &mut redis::ScriptInvocation<'_>, keys: &AccountKeys, named: &[&str]) {
    for h in named {
        inv.key(keys.carries(h)).key(keys.erased(h));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_written_as_its_text() {
        for (named, value, text) in [
            (&[][..], "{\"bvn\":1}", "profile||{\"bvn\":1}"),
            (
                &["ab12", "cd34"][..],
                "sealed1:k1:xyz",
                "profile|ab12 cd34|sealed1:k1:xyz",
            ),
        ] {
            let e = Entry { named, value };
            let mut by_parts = redis::cmd("SET");
            by_parts.arg(e);
            let mut whole = redis::cmd("SET");
            whole.arg(text);
            assert_eq!(by_parts.get_packed_command(), whole.get_packed_command());
            assert_eq!(e.len(), text.len());
            assert_eq!(
                e.sealed_key_id(),
                value.strip_prefix("sealed1:").map(|_| "k1")
            );
        }
    }
}
