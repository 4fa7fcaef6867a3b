//! Dead letters: list, inspect, requeue and delete, singly or by filter.
//!
//! Every dead letter is indexed by class, kind, HTTP status and upstream type in one
//! lexicographic sorted set (`dead_index`, members `dim|value|died_at|id`), so a filtered page is
//! a range read, not a scan of the whole dead set. Filters that combine dimensions drive the read
//! from the smallest matching dimension and check the others per candidate. Bulk operations walk
//! the index with a member cursor and apply each chunk of up to 1,000 letters in one script: an
//! interruption leaves every letter either requeued (or deleted) or still dead.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;

use super::handle::Queue;
use crate::error::{QueueError, Result};
use crate::job::{
    Failure, HistoryEntry, HistoryKind, JobMeta, JobRecord, JobState, epoch_ms, now_ms,
};
use crate::rdb::{DeadBrief, Dim, MAX_BATCH, member_id};
use crate::seal::{self, Column, Place};

/// Dead letters per class, kind, HTTP status and Okra type (most first), from the index.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Breakdown {
    /// By failure class.
    pub by_class: Vec<(String, u64)>,
    /// By job kind.
    pub by_kind: Vec<(String, u64)>,
    /// By HTTP status.
    pub by_status: Vec<(String, u64)>,
    /// By Okra error type.
    pub by_okra_type: Vec<(String, u64)>,
}

/// Which dead letters an operation applies to. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadFilter {
    /// Failure class (`server_error`, `flagged_user`, ...).
    pub class: Option<String>,
    /// Job kind.
    pub kind: Option<String>,
    /// Upstream HTTP status.
    pub http_status: Option<u16>,
    /// Upstream error type (Okra's `type`).
    pub error_type: Option<String>,
    /// Died at or after this time (ms).
    pub since: Option<u64>,
    /// Died at or before this time (ms).
    pub until: Option<u64>,
}

impl DeadFilter {
    /// The index dimensions the filter asks for. This is the one place a filter's text is
    /// normalised: values are trimmed, empty ones ignored, and an Okra type upper-cased (as
    /// the client stores it), so the CLI and the dashboard pass what the operator typed.
    fn dims(&self) -> Vec<Dim> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let mut d = Vec::new();
        if let Some(c) = text(&self.class) {
            d.push(Dim::class(&c));
        }
        if let Some(k) = text(&self.kind) {
            d.push(Dim::kind(&k));
        }
        if let Some(s) = self.http_status {
            d.push(Dim::status(s));
        }
        if let Some(t) = text(&self.error_type) {
            d.push(Dim::okra_type(&t.to_ascii_uppercase()));
        }
        d
    }

    fn range(&self) -> (u64, u64) {
        (self.since.unwrap_or(0), self.until.unwrap_or(u64::MAX / 2))
    }

    fn accepts(&self, brief: &DeadBrief, others: &[Dim]) -> bool {
        brief.died_at.is_some() && others.iter().all(|want| brief.dims.contains(want))
    }

    /// True when at most one of class, kind, status and type is set: the dead-letter index
    /// answers counts and pages for it directly, without scanning.
    pub fn is_indexed(&self) -> bool {
        self.dims().len() <= 1
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.dims().is_empty() && self.since.is_none() && self.until.is_none()
    }
}

/// One row of a dead-letter listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Job id.
    pub id: String,
    /// Job kind.
    pub kind: String,
    /// Failure class.
    pub class: String,
    /// Why it died (`terminal`, `attempts_exhausted`, `retry_window_exceeded`).
    pub reason: Option<String>,
    /// Upstream HTTP status.
    pub http_status: Option<u16>,
    /// Upstream error type (Okra's `type`).
    pub okra_type: Option<String>,
    /// Upstream error code.
    pub code: Option<String>,
    /// Upstream method.
    pub method: Option<String>,
    /// Error message.
    pub message: String,
    /// Attempts spent.
    pub attempts: u32,
    /// Attempt budget.
    pub max_attempts: u32,
    /// Time of death (ms).
    pub died_at: u64,
    /// Enqueue time (ms).
    pub created_at: u64,
    /// Times requeued before.
    pub requeues: u32,
    /// Payload JSON (exports only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

impl DeadLetter {
    /// A listing row from what the index and the columns hold; on a sealed queue the message
    /// and the payload are opened with `queue`'s keys (or read `sealed (key k1)` without them).
    /// `sealed`: the queue is known to be sealed, so a plaintext is not trusted even without
    /// keys.
    fn from_brief(b: DeadBrief, (fleet_max, sealed): (u32, bool), queue: &Queue) -> Self {
        let shown = |column, text: &str| {
            seal::shown_on(
                queue.sealer(),
                sealed,
                &Place::job(queue.name(), &b.id, column),
                text,
            )
            .into_owned()
        };
        let meta: Option<JobMeta> = serde_json::from_str(&b.meta).ok();
        let failure: Failure = serde_json::from_str(&b.error).unwrap_or_else(|_| Failure {
            class: b
                .dims
                .iter()
                .find(|d| d.letter() == 'c')
                .map(|d| d.value().to_string())
                .unwrap_or_else(|| "unknown".into()),
            message: "(failure record unreadable)".into(),
            ..Failure::default()
        });
        Self {
            kind: meta.as_ref().map(|m| m.kind.clone()).unwrap_or_default(),
            class: failure.class,
            reason: failure.reason,
            http_status: failure.http_status,
            okra_type: failure.error_type,
            code: failure.code,
            method: failure.method,
            message: shown(Column::ErrorMessage, &failure.message),
            attempts: b.attempts,
            max_attempts: meta.as_ref().map_or(fleet_max, |m| m.budget(fleet_max)),
            died_at: b.died_at.unwrap_or(0),
            created_at: meta.as_ref().map_or(0, |m| m.created_at),
            requeues: meta.as_ref().map_or(0, |m| m.requeues),
            payload: b.payload.as_deref().map(|p| shown(Column::Payload, p)),
            id: b.id,
        }
    }
}

/// When requeued letters run again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RequeueAt {
    /// At once.
    #[default]
    Now,
    /// After a delay.
    After(Duration),
    /// At a time.
    At(SystemTime),
}

impl RequeueAt {
    /// Checks the time against [`crate::job::MAX_DELAY`].
    pub fn check(self) -> Result<()> {
        let (delay, at) = match self {
            Self::Now => (None, None),
            Self::After(d) => (Some(d), None),
            Self::At(t) => (None, Some(t)),
        };
        crate::job::check_delay(delay, at).map_err(|e| QueueError::Config(format!("requeue: {e}")))
    }

    fn parts(self) -> (Duration, u64) {
        match self {
            Self::Now => (Duration::ZERO, 0),
            Self::After(d) => (d, 0),
            Self::At(t) => (Duration::ZERO, epoch_ms(t)),
        }
    }
}

/// What a bulk operation went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BulkReport {
    /// Letters that matched the filter.
    pub matched: u64,
    /// Letters changed (requeued or deleted).
    pub changed: u64,
}

const SCAN_CHUNK: u64 = 500;

impl Queue {
    /// The budget of jobs enqueued without one: what the workers published, else this config's.
    pub(crate) async fn fleet_max(&self) -> Result<u32> {
        Ok(self
            .rdb
            .fleet_budget()
            .await?
            .unwrap_or(self.cfg.retry.max_attempts))
    }

    /// A page of dead letters, newest first (`page` starts at 1).
    pub async fn dead_page(
        &self,
        filter: &DeadFilter,
        page: u64,
        limit: u64,
    ) -> Result<Vec<DeadLetter>> {
        let (driver, others) = self.driver(filter).await?;
        let (min, max) = filter.range();
        let skip = page.saturating_sub(1) * limit;
        let rdb = &self.rdb;
        let fleet = (self.fleet_max().await?, self.expects_seal().await?);
        if others.is_empty() {
            let ids = rdb.dead_ids_by(&driver, min, max, skip, limit).await?;
            let briefs = rdb.dead_briefs(&ids, false).await?;
            return Ok(briefs
                .into_iter()
                .filter(|b| b.died_at.is_some())
                .map(|b| DeadLetter::from_brief(b, fleet, self))
                .collect());
        }
        let (mut offset, mut skipped, mut out) = (0, 0, Vec::new());
        loop {
            let ids = rdb
                .dead_ids_by(&driver, min, max, offset, SCAN_CHUNK)
                .await?;
            if ids.is_empty() {
                return Ok(out);
            }
            offset += ids.len() as u64;
            for b in rdb.dead_briefs(&ids, false).await? {
                if !filter.accepts(&b, &others) {
                    continue;
                }
                if skipped < skip {
                    skipped += 1;
                    continue;
                }
                out.push(DeadLetter::from_brief(b, fleet, self));
                if out.len() as u64 >= limit {
                    return Ok(out);
                }
            }
        }
    }

    /// Dead letters that died in the time range, counted per class, kind, HTTP status and Okra
    /// type through the index (a few milliseconds with a million letters).
    pub async fn dead_breakdown(
        &self,
        since: Option<u64>,
        until: Option<u64>,
    ) -> Result<Breakdown> {
        let (min, max) = (since.unwrap_or(0), until.unwrap_or(u64::MAX / 2));
        let sorted = |mut v: Vec<(String, u64)>| {
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            v
        };
        Ok(Breakdown {
            by_class: sorted(self.rdb.dead_values('c', min, max).await?),
            by_kind: sorted(self.rdb.dead_values('k', min, max).await?),
            by_status: sorted(self.rdb.dead_values('s', min, max).await?),
            by_okra_type: sorted(self.rdb.dead_values('t', min, max).await?),
        })
    }

    /// Dead letters matching `filter` (an index count when at most one dimension is set).
    pub async fn dead_count(&self, filter: &DeadFilter) -> Result<u64> {
        let (driver, others) = self.driver(filter).await?;
        let (min, max) = filter.range();
        if others.is_empty() {
            return self.rdb.dead_count_by(&driver, min, max).await;
        }
        let mut scan = self.dead_scan(filter, false).await?;
        let mut n = 0;
        while let Some(letters) = scan.next_chunk().await? {
            n += letters.len() as u64;
        }
        Ok(n)
    }

    /// A dead letter's whole record; `NotFound` if the id is unknown or not dead.
    pub async fn dead_get(&self, id: &str) -> Result<JobRecord> {
        match self.job(id).await? {
            Some(job) if job.state == JobState::Dead => Ok(job),
            _ => Err(QueueError::NotFound(id.into())),
        }
    }

    /// Requeues dead letters by id with a fresh attempt budget; returns the ids requeued. Ids
    /// that are not dead are passed over; a letter whose record is missing or does not decode
    /// stays dead, untouched, and is logged (it can only be purged).
    /// Audited.
    pub async fn dead_requeue(&self, ids: &[String], at: RequeueAt) -> Result<Vec<String>> {
        let r = self.requeue_ids(ids, at).await;
        self.audited(
            "requeue",
            &ids_filter(ids),
            r,
            |done| json!({ "matched": ids.len(), "requeued": done.len() }),
        )
        .await
    }

    async fn requeue_ids(&self, ids: &[String], at: RequeueAt) -> Result<Vec<String>> {
        at.check()?;
        let (delay, at_ms) = at.parts();
        let entry = HistoryEntry {
            outcome: HistoryKind::Requeued,
            ..HistoryEntry::default()
        };
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_BATCH) {
            let r = self
                .rdb
                .requeue_dead(chunk, delay, at_ms, &entry, self.cfg.history_cap)
                .await?;
            if !r.skipped.is_empty() {
                tracing::warn!(count = r.skipped.len(), jobs = ?r.skipped.iter().take(5).collect::<Vec<_>>(), "dead letters left dead: their record is missing or does not decode");
            }
            out.extend(r.requeued);
        }
        Ok(out)
    }

    /// Whether a reader of this queue expects sealed values: it has the keys, or the queue is
    /// marked sealed (then a plaintext is not trusted, keys or not).
    pub(crate) async fn expects_seal(&self) -> Result<bool> {
        Ok(self.sealer().is_some() || self.rdb.is_sealed().await?)
    }

    /// The attempt histories of dead letters, in the order of `ids` (opened on a sealed queue).
    pub async fn dead_histories(&self, ids: &[String]) -> Result<Vec<Vec<HistoryEntry>>> {
        let raw = self.rdb.histories(ids).await?;
        let sealed = self.expects_seal().await?;
        Ok(ids
            .iter()
            .zip(raw)
            .map(|(id, h)| {
                let mut entries: Vec<HistoryEntry> = h
                    .and_then(|h| serde_json::from_str(&h).ok())
                    .unwrap_or_default();
                for e in &mut entries {
                    e.message = e.message.as_deref().map(|m| {
                        let place = Place::job(self.name(), id, Column::HistoryMessage);
                        seal::shown_on(self.sealer(), sealed, &place, m).into_owned()
                    });
                }
                entries
            })
            .collect())
    }

    /// Deletes dead letters by id; returns the ids deleted. Audited.
    pub async fn dead_delete(&self, ids: &[String]) -> Result<Vec<String>> {
        let r = self.delete_ids(ids).await;
        self.audited(
            "purge",
            &ids_filter(ids),
            r,
            |done| json!({ "matched": ids.len(), "deleted": done.len() }),
        )
        .await
    }

    async fn delete_ids(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_BATCH) {
            out.extend(self.rdb.delete_dead(chunk).await?);
        }
        Ok(out)
    }

    /// Requeues every letter matching `filter` (letters dying meanwhile are left alone);
    /// `progress` gets the running report after each chunk. Audited.
    pub async fn dead_requeue_matching(
        &self,
        filter: &DeadFilter,
        at: RequeueAt,
        progress: impl FnMut(BulkReport),
    ) -> Result<BulkReport> {
        let r = self.requeue_matching(filter, at, progress).await;
        self.audited(
            "requeue",
            &filter.to_string(),
            r,
            |b| json!({ "matched": b.matched, "requeued": b.changed }),
        )
        .await
    }

    async fn requeue_matching(
        &self,
        filter: &DeadFilter,
        at: RequeueAt,
        progress: impl FnMut(BulkReport),
    ) -> Result<BulkReport> {
        at.check()?;
        self.each_matching(filter, progress, Bulk::Requeue(at))
            .await
    }

    /// Walks every letter matching `filter` a chunk at a time (a snapshot: letters dying
    /// meanwhile are left alone), doing `act` to each chunk.
    async fn each_matching(
        &self,
        filter: &DeadFilter,
        mut progress: impl FnMut(BulkReport),
        act: Bulk,
    ) -> Result<BulkReport> {
        let mut scan = self.dead_scan(&snapshot(filter), false).await?;
        let mut report = BulkReport::default();
        while let Some(letters) = scan.next_chunk().await? {
            let ids: Vec<String> = letters.into_iter().map(|l| l.id).collect();
            report.matched += ids.len() as u64;
            report.changed += match act {
                Bulk::Requeue(at) => self.requeue_ids(&ids, at).await?.len(),
                Bulk::Purge => self.delete_ids(&ids).await?.len(),
            } as u64;
            progress(report);
        }
        Ok(report)
    }

    /// Deletes every letter matching `filter` (letters dying meanwhile are left alone).
    /// Audited.
    pub async fn dead_purge_matching(
        &self,
        filter: &DeadFilter,
        progress: impl FnMut(BulkReport),
    ) -> Result<BulkReport> {
        let r = self.purge_matching(filter, progress).await;
        self.audited(
            "purge",
            &filter.to_string(),
            r,
            |b| json!({ "matched": b.matched, "deleted": b.changed }),
        )
        .await
    }

    async fn purge_matching(
        &self,
        filter: &DeadFilter,
        progress: impl FnMut(BulkReport),
    ) -> Result<BulkReport> {
        self.each_matching(filter, progress, Bulk::Purge).await
    }

    /// A cursor over every matching letter, oldest first. It is an index member, so callers may
    /// requeue or delete each chunk before asking for the next.
    pub async fn dead_scan(&self, filter: &DeadFilter, with_payload: bool) -> Result<DeadScan<'_>> {
        let (driver, others) = self.driver(filter).await?;
        Ok(DeadScan {
            queue: self,
            filter: filter.clone(),
            driver,
            others,
            with_payload,
            cursor: None,
        })
    }

    /// Picks the index dimension with the fewest letters to drive a read.
    async fn driver(&self, filter: &DeadFilter) -> Result<(Dim, Vec<Dim>)> {
        let mut dims = filter.dims();
        if dims.len() <= 1 {
            return Ok((dims.pop().unwrap_or_else(Dim::all), Vec::new()));
        }
        let (min, max) = filter.range();
        let mut best = (u64::MAX, 0);
        for (i, d) in dims.iter().enumerate() {
            let n = self.rdb.dead_count_by(d, min, max).await?;
            if n < best.0 {
                best = (n, i);
            }
        }
        let driver = dims.remove(best.1);
        Ok((driver, dims))
    }
}

/// Cursor of [`Queue::dead_scan`].
#[derive(Debug)]
pub struct DeadScan<'a> {
    queue: &'a Queue,
    filter: DeadFilter,
    driver: Dim,
    others: Vec<Dim>,
    with_payload: bool,
    cursor: Option<String>,
}

impl DeadScan<'_> {
    /// The next chunk of matching letters (up to 500), `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<DeadLetter>>> {
        let (min, max) = self.filter.range();
        let rdb = &self.queue.rdb;
        loop {
            let members = rdb
                .dead_members_after(&self.driver, min, max, self.cursor.as_deref(), SCAN_CHUNK)
                .await?;
            let Some(last) = members.last() else {
                return Ok(None);
            };
            self.cursor = Some(last.clone());
            let ids: Vec<String> = members.iter().map(|m| member_id(m).to_string()).collect();
            let fleet = (
                self.queue.fleet_max().await?,
                self.queue.expects_seal().await?,
            );
            let letters: Vec<DeadLetter> = rdb
                .dead_briefs(&ids, self.with_payload)
                .await?
                .into_iter()
                .filter(|b| self.filter.accepts(b, &self.others))
                .map(|b| DeadLetter::from_brief(b, fleet, self.queue))
                .collect();
            if !letters.is_empty() {
                return Ok(Some(letters));
            }
        }
    }
}

impl std::fmt::Display for DeadFilter {
    /// How the audit trail shows a filter: `class=server_error kind=bvn_verify since=…`
    /// (`all` when it matches every letter).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = |ms: u64| {
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_millis(ms))
                .to_string()
        };
        let parts: Vec<String> = [
            self.class.as_ref().map(|v| format!("class={v}")),
            self.kind.as_ref().map(|v| format!("kind={v}")),
            self.http_status.map(|v| format!("status={v}")),
            self.error_type.as_ref().map(|v| format!("type={v}")),
            self.since.map(|v| format!("since={}", at(v))),
            self.until.map(|v| format!("until={}", at(v))),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            f.write_str("all")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// How the audit trail names letters picked by id: the first few ids and how many more.
fn ids_filter(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
    match ids.len() {
        0 => "no jobs".into(),
        1 => format!("job {}", shown[0]),
        n if n <= 3 => format!("jobs {}", shown.join(", ")),
        n => format!("jobs {} (+{} more)", shown.join(", "), n - 3),
    }
}

/// Pins the end of the time range to now, so a bulk operation does not chase new letters.
fn snapshot(filter: &DeadFilter) -> DeadFilter {
    DeadFilter {
        until: Some(filter.until.unwrap_or_else(now_ms)),
        ..filter.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_filters_check_the_other_dimensions() {
        let filter = DeadFilter {
            class: Some("server_error".into()),
            http_status: Some(502),
            ..DeadFilter::default()
        };
        let brief = |status: u16| DeadBrief {
            id: "x".into(),
            died_at: Some(1),
            meta: String::new(),
            error: String::new(),
            attempts: 1,
            dims: vec![Dim::class("server_error"), Dim::status(status)],
            payload: None,
        };
        let others = vec![Dim::status(502)];
        assert!(filter.accepts(&brief(502), &others));
        assert!(!filter.accepts(&brief(500), &others));
    }

    #[test]
    fn filters_are_normalised_once() {
        let f = DeadFilter {
            class: Some(" server_error ".into()),
            error_type: Some("flagged_user".into()),
            kind: Some("  ".into()),
            ..DeadFilter::default()
        };
        assert_eq!(
            f.dims(),
            vec![Dim::class("server_error"), Dim::okra_type("FLAGGED_USER")]
        );
        assert!(
            DeadFilter {
                kind: Some(" ".into()),
                ..DeadFilter::default()
            }
            .is_empty()
        );
    }
}

/// What a bulk operation does to each chunk of matching letters.
#[derive(Clone, Copy)]
enum Bulk {
    Requeue(RequeueAt),
    Purge,
}
