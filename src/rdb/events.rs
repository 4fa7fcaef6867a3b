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
    /// Up to `count` events after position `after` (`0-0`: from the oldest kept), waiting up
    /// to `block` for the first one when there is none yet (zero: do not wait). Use a
    /// connection of its own for waits: a blocked read holds up everything behind it.
    pub async fn events_after(
        &self,
        after: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Event>> {
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
            .filter_map(event)
            .collect())
    }

    /// The newest `count` events, oldest first.
    pub async fn events_last(&self, count: usize) -> Result<Vec<Event>> {
        let reply: StreamRangeReply = self
            .conn
            .clone()
            .xrevrange_count(self.keys.events(), "+", "-", count)
            .await?;
        let mut out: Vec<Event> = reply.ids.into_iter().filter_map(event).collect();
        out.reverse();
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

/// An event from a stream entry; entries of other shapes (written by something else) are
/// skipped.
fn event(entry: StreamId) -> Option<Event> {
    let field = |name: &str| match entry.map.get(name) {
        Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Some(s.clone()),
        _ => None,
    };
    let event = EventKind::parse(&field("event")?)?;
    let at = entry.id.split('-').next()?.parse().ok()?;
    Some(Event {
        event,
        job: field("job")?,
        kind: field("kind").unwrap_or_default(),
        class: field("class").filter(|c| !c.is_empty()),
        attempt: field("attempt").and_then(|a| a.parse().ok()).unwrap_or(0),
        at,
        position: entry.id,
    })
}
