//! A queue's event stream (`events`): what the scripts write as jobs move, and its reads.
//! Events name the job and its kind, never its payload: no personal data leaves the record.

use std::time::Duration;

use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncCommands, Value};
use serde::{Deserialize, Serialize};

use super::Rdb;
use crate::error::Result;

/// What happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Added to the queue (ready or scheduled).
    Enqueued,
    /// An attempt failed and another is scheduled.
    Retry,
    /// Finished with a result.
    Completed,
    /// Moved to dead letters.
    Dead,
    /// Cancelled before it started.
    Cancelled,
    /// Sent back to work from dead letters.
    Requeued,
}

impl EventKind {
    /// Parses the name stored in the stream.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "enqueued" => Self::Enqueued,
            "retry" => Self::Retry,
            "completed" => Self::Completed,
            "dead" => Self::Dead,
            "cancelled" => Self::Cancelled,
            "requeued" => Self::Requeued,
            _ => return None,
        })
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Retry => "retry",
            Self::Completed => "completed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
            Self::Requeued => "requeued",
        }
    }

    /// Whether the job is finished after it (nothing more will happen unless an operator acts).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Dead | Self::Cancelled)
    }
}

/// One event. No payload and no identifier: only ids, kinds and classes.
///
/// Stored batched: one stream entry per script call for the jobs that went through the same
/// event (`jobs` = ids joined by spaces; `kinds`, `classes`, `attempts` = one value for all or
/// one per job on its own line); read back as one `Event` per job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Stream position; pass it to [`Queue::events`] to resume after this event.
    pub position: String,
    /// When it happened (Redis time, ms since the epoch).
    pub at: u64,
    /// What happened.
    pub event: EventKind,
    /// The job id.
    pub job: String,
    /// The job kind.
    pub kind: String,
    /// Failure class (retry, dead).
    pub class: Option<String>,
    /// Attempts spent (0 for enqueue, cancel and requeue).
    pub attempt: u32,
}

impl Rdb {
    /// Up to about `count` events after position `after` (`0-0`: from the oldest kept),
    /// waiting up to `block` for the first one when there is none yet (zero: do not wait). Use
    /// a connection of its own for waits: a blocked read holds up everything behind it.
    pub async fn events_after(
        &self,
        after: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Event>> {
        // Inside an entry of several jobs: the rest of that entry first (and what follows).
        if let Some((entry, seen)) = after.split_once('#') {
            let seen: usize = seen.parse().unwrap_or(usize::MAX);
            let reply: StreamRangeReply = self
                .conn
                .clone()
                .xrange_count(self.keys.events(), entry, "+", count.max(1))
                .await?;
            let out: Vec<Event> = reply
                .ids
                .into_iter()
                .flat_map(events_of)
                .filter(|e| !within(&e.position, entry, seen))
                .collect();
            if !out.is_empty() {
                return Ok(out);
            }
            return Box::pin(self.events_after(entry, count, block)).await;
        }
        let mut opts = StreamReadOptions::default().count(count);
        if !block.is_zero() {
            opts = opts.block(block.as_millis().max(1) as usize);
        }
        let reply: Option<StreamReadReply> = self
            .conn
            .clone()
            .xread_options(&[self.keys.events()], &[after], &opts)
            .await?;
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .flat_map(events_of)
            .collect())
    }

    /// The newest `count` events, oldest first.
    pub async fn events_last(&self, count: usize) -> Result<Vec<Event>> {
        let reply: StreamRangeReply = self
            .conn
            .clone()
            .xrevrange_count(self.keys.events(), "+", "-", count)
            .await?;
        let mut out: Vec<Event> = reply.ids.into_iter().rev().flat_map(events_of).collect();
        let extra = out.len().saturating_sub(count);
        out.drain(..extra);
        Ok(out)
    }

    /// Position of the newest event (`0-0` when there is none).
    pub async fn events_head(&self) -> Result<String> {
        let reply: StreamRangeReply = self
            .conn
            .clone()
            .xrevrange_count(self.keys.events(), "+", "-", 1)
            .await?;
        Ok(reply
            .ids
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_string(), |e| e.id))
    }
}

/// Whether `position` is one of the first `seen + 1` events of entry `entry`.
fn within(position: &str, entry: &str, seen: usize) -> bool {
    match position.split_once('#') {
        Some((e, i)) => e == entry && i.parse::<usize>().is_ok_and(|i| i <= seen),
        // The last event of an entry carries the entry's id alone.
        None => position == entry && seen == usize::MAX,
    }
}

/// The events of one stream entry: one per job it names (a script writes one entry per call
/// for all the jobs that went through the same event). Every event but an entry's last has
/// the position `<entry id>#<index>`; the last has the entry's id, so reading on after it is a
/// plain stream read. Entries of other shapes (written by something else) are skipped; an
/// entry of the older one-job shape still reads.
fn events_of(entry: StreamId) -> Vec<Event> {
    let field = |name: &str| match entry.map.get(name) {
        Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    };
    let (Some(event), Some(at)) = (
        field("event").and_then(|e| EventKind::parse(&e)),
        entry
            .id
            .split('-')
            .next()
            .and_then(|t| t.parse::<u64>().ok()),
    ) else {
        return Vec::new();
    };
    let Some(jobs) = field("jobs") else {
        // One job per entry (before events were written per call).
        return field("job")
            .map(|job| Event {
                event,
                job,
                kind: field("kind").unwrap_or_default(),
                class: field("class").filter(|c| !c.is_empty()),
                attempt: field("attempt").and_then(|a| a.parse().ok()).unwrap_or(0),
                at,
                position: entry.id.clone(),
            })
            .into_iter()
            .collect();
    };
    let ids: Vec<&str> = jobs.split(' ').filter(|j| !j.is_empty()).collect();
    let n = ids.len();
    let each = |name: &str| -> Vec<String> {
        let v = field(name).unwrap_or_default();
        let parts: Vec<&str> = v.split('\n').collect();
        if parts.len() == n {
            parts.into_iter().map(str::to_string).collect()
        } else {
            vec![v; n]
        }
    };
    let (kinds, classes, attempts) = (each("kinds"), each("classes"), each("attempts"));
    ids.into_iter()
        .enumerate()
        .map(|(i, job)| Event {
            event,
            job: job.to_string(),
            kind: kinds[i].clone(),
            class: Some(classes[i].clone()).filter(|c| !c.is_empty()),
            attempt: attempts[i].parse().unwrap_or(0),
            at,
            position: if i + 1 == n {
                entry.id.clone()
            } else {
                format!("{}#{i}", entry.id)
            },
        })
        .collect()
}

/// Kinds as an event field: one for all when they are the same, else one per job, one per line.
pub(super) fn event_field<'a>(mut values: impl Iterator<Item = &'a str> + Clone) -> String {
    let first = values.clone().next().unwrap_or("");
    if values.all(|v| v == first) {
        return first.replace('\n', " ");
    }
    let mut out = String::new();
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&v.replace('\n', " "));
    }
    out
}
