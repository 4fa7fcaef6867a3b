//! Key rotation: counting what is sealed with which key (`okra-admin keys status`) and
//! re-sealing everything at rest with the sealing key (`okra-admin keys rekey`), in every
//! queue and the Okra account's reuse store. Values written before sealing was turned on are
//! counted as plaintext and sealed by a rekey, their idempotency keys turned into keyed
//! hashes. Writes are compare-and-set, so a running job's newer write is never overwritten,
//! and the walk's cursor is saved with each batch, so an interrupted rekey resumes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use super::handle::Queue;
use crate::error::{QueueError, Result};
use crate::job::{split_record, split_result};
use crate::rdb::{Account, Reseal, Step};
use crate::seal::{self, Column, Place, Sealer};

/// Where sealed values are kept: a queue's column hashes, and an account's reuse store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// `job`: each record's payload, and the app's metadata in its metadata line.
    Job,
    /// `result`: completed jobs' results.
    Result,
    /// `error`: the message and Okra's answer of each last failure.
    Error,
    /// `history`: each attempt's message.
    History,
    /// An account's reuse store.
    Reuse,
}

impl Stored {
    /// The name in progress records.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Result => "result",
            Self::Error => "error",
            Self::History => "history",
            Self::Reuse => "reuse",
        }
    }

    /// Calls `f` on each sealable text of a stored value (empty texts hold nothing and are
    /// skipped); returns the value rebuilt with `f`'s replacements, `None` when none.
    fn visit(
        self,
        value: &str,
        f: &mut dyn FnMut(Column, &str) -> Option<String>,
    ) -> Option<String> {
        match self {
            Self::Job => {
                let (meta, payload) = split_record(value);
                let payload_new = f(Column::Payload, payload);
                // The app's metadata, in the record's metadata line, under its own column.
                let meta_new = serde_json::from_str::<Value>(meta).ok().and_then(|mut m| {
                    visit_fields(&mut m, &[("metadata", Column::Metadata)], f)
                        .then(|| m.to_string())
                });
                if payload_new.is_none() && meta_new.is_none() {
                    return None;
                }
                Some(format!(
                    "{}\n{}",
                    meta_new.as_deref().unwrap_or(meta),
                    payload_new.as_deref().unwrap_or(payload)
                ))
            }
            Self::Result => match split_result(value) {
                (Some(_), result) => {
                    f(Column::Result, result).map(|r| format!("{}|{r}", &value[..15]))
                }
                (None, result) => f(Column::Result, result),
            },
            Self::Reuse => f(Column::Reuse, value),
            Self::Error => {
                let mut v: Value = serde_json::from_str(value).ok()?;
                let changed = visit_fields(
                    &mut v,
                    &[
                        ("message", Column::ErrorMessage),
                        ("body", Column::ErrorBody),
                    ],
                    f,
                );
                changed.then(|| v.to_string())
            }
            Self::History => {
                let mut v: Value = serde_json::from_str(value).ok()?;
                let mut changed = false;
                for entry in v.as_array_mut()? {
                    changed |= visit_fields(entry, &[("message", Column::HistoryMessage)], f);
                }
                changed.then(|| v.to_string())
            }
        }
    }
}

fn visit_fields(
    v: &mut Value,
    fields: &[(&str, Column)],
    f: &mut dyn FnMut(Column, &str) -> Option<String>,
) -> bool {
    let mut changed = false;
    for (name, column) in fields {
        if let Some(Value::String(text)) = v.get_mut(*name)
            && !text.is_empty()
            && let Some(new) = f(*column, text)
        {
            *text = new;
            changed = true;
        }
    }
    changed
}

/// Values of one column in one place (a queue, or `acct:NAME`), per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KeyCount {
    /// The queue, or `acct:NAME`.
    pub scope: String,
    /// `payload`, `metadata`, `result`, `error.message`, `error.body`, `history.message` or
    /// `reuse`.
    pub column: String,
    /// Values not sealed (written before sealing was on, or with sealing off).
    pub plaintext: u64,
    /// Values sealed per key id.
    pub sealed: BTreeMap<String, u64>,
}

/// How a rekey is going (after each batch) or went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RekeyReport {
    /// Stored values looked at.
    pub scanned: u64,
    /// Values re-sealed with the sealing key.
    pub resealed: u64,
    /// Values a job changed between the read and the write (already sealed with the sealing
    /// key by that write).
    pub newer: u64,
    /// Values that do not open with any listed key (left as they are).
    pub unreadable: u64,
}

/// Values per batch of a walk.
const BATCH: usize = 200;

impl Queue {
    /// Counts values per key id and plaintext, in every queue and the account's reuse store
    /// (a walk over everything kept; works without the keys).
    pub async fn seal_status(&self) -> Result<Vec<KeyCount>> {
        let mut rows: BTreeMap<(String, &'static str), KeyCount> = BTreeMap::new();
        let mut count = |scope: &str, column: Column, text: &str| {
            let row = rows
                .entry((scope.to_string(), column.as_str()))
                .or_insert_with(|| KeyCount {
                    scope: scope.to_string(),
                    column: column.as_str().to_string(),
                    ..KeyCount::default()
                });
            match seal::key_of(text) {
                Some(id) => *row.sealed.entry(id.to_string()).or_default() += 1,
                None => row.plaintext += 1,
            }
        };
        for q in self.every_queue().await? {
            for (stored, hash) in q.sealed_hashes() {
                let mut cursor = 0;
                loop {
                    let (next, items) = q.rdb.hscan_step(&hash, cursor, BATCH).await?;
                    for (_, value) in items {
                        stored.visit(&value, &mut |c, t| {
                            count(q.name(), c, t);
                            None
                        });
                    }
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
        }
        if let Some(a) = self.account() {
            let mut cursor = 0;
            loop {
                let (next, items) = a.reuse_step(cursor, BATCH).await?;
                for (_, value) in items {
                    count(a.scope(), Column::Reuse, &value);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(rows.into_values().collect())
    }

    /// Re-seals every value at rest that is not sealed with the sealing key (plaintext
    /// included), in every queue and the account's reuse store; resumes an interrupted run
    /// unless `restart` (or the sealing key changed since). `progress` gets the running
    /// report after each batch. Audited.
    pub async fn rekey(
        &self,
        restart: bool,
        progress: impl FnMut(RekeyReport),
    ) -> Result<RekeyReport> {
        let r = self.rekey_all(restart, progress).await;
        self.audited("rekey", &format!("to key {}", self.sealer().map_or("-", |s| s.sealing_id())), r, |r| {
            json!({ "scanned": r.scanned, "resealed": r.resealed, "newer": r.newer, "unreadable": r.unreadable })
        })
        .await
    }

    async fn rekey_all(
        &self,
        restart: bool,
        mut progress: impl FnMut(RekeyReport),
    ) -> Result<RekeyReport> {
        let sealer = self.sealer().ok_or_else(|| {
            QueueError::Config(
                "rekey needs the keys: set seal.keys_file (OKQ_SEAL__KEYS_FILE)".into(),
            )
        })?;
        let target = sealer.sealing_id();
        let mut report = RekeyReport::default();
        for q in self.every_queue().await? {
            // From now on the queue refuses plaintext from writers without the keys.
            q.rdb.mark_sealed(target).await?;
            let mut done = q.rdb.rekey_progress().await?;
            if restart || done.get("target").map(String::as_str) != Some(target) {
                q.rdb.rekey_start(target).await?;
                done.clear();
            }
            for (stored, hash) in q.sealed_hashes() {
                let Some(mut cursor) = resume_at(&done, stored) else {
                    continue;
                };
                loop {
                    let (next, items) = q.rdb.hscan_step(&hash, cursor, BATCH).await?;
                    let values = q.reseal_step(sealer, stored, items, &mut report);
                    let mark = if next == 0 {
                        "done".to_string()
                    } else {
                        next.to_string()
                    };
                    let (w, s) = q
                        .rdb
                        .reseal_fields(&hash, stored.as_str(), &mark, &values)
                        .await?;
                    report.resealed += w;
                    report.newer += s;
                    progress(report);
                    if next == 0 {
                        break;
                    }
                    cursor = next;
                }
            }
            q.rdb.rekey_done().await?;
        }
        if let Some(a) = self.account() {
            rekey_reuse(a, sealer, restart, &mut report, &mut progress).await?;
        }
        Ok(report)
    }

    /// This queue and every registered one, each as a handle with this one's settings.
    pub(crate) async fn every_queue(&self) -> Result<Vec<Queue>> {
        let mut out = vec![self.clone()];
        for name in self.queues().await? {
            if name != self.name() {
                out.push(self.sibling(&name)?);
            }
        }
        Ok(out)
    }

    /// The queue's hashes that hold sealed values, in walk order.
    fn sealed_hashes(&self) -> [(Stored, String); 4] {
        let k = self.rdb.keys();
        [
            (Stored::Job, k.job()),
            (Stored::Result, k.result()),
            (Stored::Error, k.error()),
            (Stored::History, k.history()),
        ]
    }

    /// The re-sealed values of one batch of a column hash (and, for a job record with a
    /// plaintext idempotency key, the key's keyed hash and its claim's new name).
    fn reseal_step(
        &self,
        sealer: &Sealer,
        stored: Stored,
        items: Vec<(String, String)>,
        report: &mut RekeyReport,
    ) -> Vec<Reseal> {
        let mut out = Vec::new();
        for (id, was) in items {
            report.scanned += 1;
            let new = stored.visit(&was, &mut |column, text| {
                reseal_text(sealer, &Place::job(self.name(), &id, column), text, report)
            });
            let hashed = match stored {
                Stored::Job => self.hash_idempotency_key(new.as_deref().unwrap_or(&was)),
                _ => None,
            };
            let (new, claim) = match hashed {
                Some((record, claim)) => (Some(record), Some(claim)),
                None => (new, None),
            };
            if let Some(new) = new {
                out.push(Reseal {
                    at: id,
                    was,
                    new,
                    claim,
                });
            }
        }
        out
    }

    /// A job record whose idempotency key is still plaintext, with the key as its keyed hash
    /// and the claim to move; `None` when there is nothing to change.
    fn hash_idempotency_key(&self, record: &str) -> Option<(String, (String, String))> {
        let (meta, payload) = split_record(record);
        let mut m: Value = serde_json::from_str(meta).ok()?;
        let key = m.get("idempotency_key")?.as_str()?.to_string();
        let hashed = self.idem_key(&key);
        if key.starts_with('#') || hashed == key {
            return None;
        }
        m["idempotency_key"] = Value::String(hashed.clone());
        let k = self.rdb.keys();
        Some((
            format!("{m}\n{payload}"),
            (k.idempotency(&key), k.idempotency(&hashed)),
        ))
    }
}

/// `None` when the walk of `stored` already finished; else the cursor to resume from.
fn resume_at(progress: &std::collections::HashMap<String, String>, stored: Stored) -> Option<u64> {
    match progress.get(stored.as_str()).map(String::as_str) {
        Some("done") => None,
        Some(c) => Some(c.parse().unwrap_or(0)),
        None => Some(0),
    }
}

/// One text re-sealed with the sealing key; `None` when it already is, or does not open.
fn reseal_text(
    sealer: &Sealer,
    place: &Place<'_>,
    text: &str,
    report: &mut RekeyReport,
) -> Option<String> {
    if seal::key_of(text) == Some(sealer.sealing_id()) {
        return None;
    }
    // A plaintext (from before sealing was on) is sealed as it is.
    if !seal::is_sealed(text) {
        return Some(sealer.seal(place, text));
    }
    match sealer.open(place, text) {
        Ok(plain) => Some(sealer.seal(place, &plain)),
        Err(_) => {
            report.unreadable += 1;
            None
        }
    }
}

async fn rekey_reuse(
    a: &Account,
    sealer: &Sealer,
    restart: bool,
    report: &mut RekeyReport,
    progress: &mut impl FnMut(RekeyReport),
) -> Result<()> {
    let target = sealer.sealing_id();
    a.mark_sealed(target).await?;
    let mut done = a.rekey_progress().await?;
    if restart || done.get("target").map(String::as_str) != Some(target) {
        a.rekey_start(target).await?;
        done.clear();
    }
    let Some(mut cursor) = resume_at(&done, Stored::Reuse) else {
        return a.rekey_done().await;
    };
    loop {
        let (next, items): Step = a.reuse_step(cursor, BATCH).await?;
        let mut values = Vec::new();
        for (key, was) in items {
            report.scanned += 1;
            // The person is the key's last part: `reuse:<kind>:<person>`.
            let person = key.rsplit(':').next().unwrap_or_default().to_string();
            let place = Place {
                scope: a.scope(),
                id: &person,
                column: Column::Reuse,
            };
            if let Some(new) = reseal_text(sealer, &place, &was, report) {
                values.push(Reseal {
                    at: key,
                    was,
                    new,
                    claim: None,
                });
            }
        }
        let mark = if next == 0 {
            "done".to_string()
        } else {
            next.to_string()
        };
        let (w, s) = a.reseal_reuse(&mark, &values).await?;
        report.resealed += w;
        report.newer += s;
        progress(*report);
        if next == 0 {
            return a.rekey_done().await;
        }
        cursor = next;
    }
}
