//! Erasure by person: every copy the system holds of one person's BVN, NIN or account number,
//! in every queue (job records in any state, results, history, errors, dead letters, identity
//! index entries and idempotency claims) and what their Okra account keeps (stored profiles,
//! pay locks). A job running at that moment loses its lease; its outcome, when it arrives,
//! writes nothing back. Found through the identity index, so it needs `queue.index_key`. It
//! extends [`Queue`] from here, above the queue handle, because which stored profiles a person
//! has depends on the kind table.

use serde::Serialize;
use serde_json::json;

use crate::error::{QueueError, Result};
use crate::ident::IdType;
use crate::queue::Queue;
use crate::rdb::ErasedJobs;

/// What erasing one person removed (or, on a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Erasure {
    /// Nothing was written: these are the counts an erase would remove.
    pub dry_run: bool,
    /// The person's keyed hash (what the audit trail records; never the number).
    pub person: String,
    /// Per queue (this one first, then the registry's order); queues holding nothing of the person are left out.
    pub queues: Vec<(String, ErasedJobs)>,
    /// The Okra account whose store was searched, when the queue has one.
    pub account: Option<String>,
    /// Profiles the account had stored for reuse.
    pub reused: u64,
}

impl Erasure {
    /// Every queue's counts added up.
    pub fn total(&self) -> ErasedJobs {
        let mut t = ErasedJobs::default();
        for (_, q) in &self.queues {
            t.ready += q.ready;
            t.scheduled += q.scheduled;
            t.running += q.running;
            t.completed += q.completed;
            t.cancelled += q.cancelled;
            t.dead += q.dead;
            t.claims += q.claims;
            t.index += q.index;
        }
        t
    }
}

impl Queue {
    /// Erases the person `value` of type `ty` everywhere (every registered queue, this one
    /// included, and this queue's Okra account); with `dry_run`, only counts. Recorded in the
    /// audit trail by keyed hash.
    pub async fn erase(&self, ty: IdType, value: &str, dry_run: bool) -> Result<Erasure> {
        let key = self.cfg.index_key.clone().ok_or_else(|| {
            QueueError::Config(
                "erasing a person needs the identity index: set queue.index_key (OKQ_QUEUE__INDEX_KEY) to the key the producers use".into(),
            )
        })?;
        ty.check(value).map_err(QueueError::Config)?;
        self.erase_hashed(ty, &key.hash(ty, value), dry_run).await
    }

    /// [`Queue::erase`] by the person's keyed hash (what the dashboard passes between its
    /// pages, so the number never appears in one): 32 hex digits.
    pub async fn erase_hashed(&self, ty: IdType, person: &str, dry_run: bool) -> Result<Erasure> {
        if person.len() != 32 || !person.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(QueueError::Config(
                "a person's keyed hash is 32 hex digits".into(),
            ));
        }
        let person = person.to_ascii_lowercase();
        let filter = format!("{} #{person}", ty.as_str());
        let r = self.erase_hash(&person, dry_run).await;
        if dry_run {
            return r;
        }
        self.audited("erase", &filter, r, |e| {
            let t = e.total();
            json!({
                "ready": t.ready, "scheduled": t.scheduled, "running": t.running,
                "completed": t.completed, "cancelled": t.cancelled, "dead": t.dead,
                "claims": t.claims, "index": t.index, "reused": e.reused,
                "queues": e.queues.len(),
            })
        })
        .await
    }

    async fn erase_hash(&self, person: &str, dry_run: bool) -> Result<Erasure> {
        let mut out = Erasure {
            dry_run,
            person: person.to_string(),
            ..Erasure::default()
        };
        // The account first: an answer arriving meanwhile finds the tombstone and stores
        // nothing for reuse.
        if let Some(a) = self.account() {
            out.account = Some(a.name().to_string());
            out.reused = a
                .erase_person(person, &super::kinds::names().collect::<Vec<_>>(), dry_run)
                .await?;
        }
        for q in self.every_queue().await? {
            let counts = q.rdb.erase_jobs(person, dry_run).await?;
            if counts != ErasedJobs::default() {
                out.queues.push((q.name().to_string(), counts));
            }
        }
        Ok(out)
    }
}
