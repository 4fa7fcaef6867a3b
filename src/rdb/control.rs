//! The switches every worker obeys and operators flip: pause (with its reason), the queue's
//! throttle and rate-limit permits, the fleet's published attempt budget, and the drain
//! guard's streak.

use std::time::Duration;

use super::reply::{int, text};
use super::scripts::SCRIPTS;
use super::{Rdb, RedisConn};
use crate::error::Result;

/// The reason an operator's pause has (`okra-admin queue pause`, `Queue::pause`); every other
/// reason is the circuit breaker's or the drain guard's.
pub const OPERATOR_PAUSE: &str = "paused by an operator";

/// What the drain guard made of one `not_found` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFound {
    /// Counted; the streak is this long.
    Counted(u64),
    /// Counted, and the streak reached the guard: the queue is paused now.
    Tripped(u64),
    /// Not counted: the queue was already paused by the breaker or the guard (the reason), so
    /// the job goes back instead of becoming a dead letter.
    Held(String),
}

/// A sliding-window limit on claims, shared by every worker of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Claims allowed per window.
    pub limit: u32,
    /// Window length.
    pub window: Duration,
}

impl Rdb {
    /// Stops claims for `d` (never shortens a throttle in place); returns the throttle left.
    pub async fn throttle(&self, d: Duration) -> Result<Duration> {
        throttle_key(&self.conn, &self.keys.throttle(), d).await
    }

    /// Takes one extra rate-limit slot; `Some(wait)` when none is free.
    pub async fn permit(&self, rate: Option<RateLimit>) -> Result<Option<Duration>> {
        let (limit, window) = rate.map_or((0, 0), |r| (r.limit, r.window.as_millis() as u64));
        let wait: u64 = SCRIPTS
            .permit
            .key(self.keys.rate())
            .key(self.keys.throttle())
            .key(self.keys.seq())
            .arg(limit)
            .arg(window)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }

    /// Why the queue is paused (`None`: it is not).
    pub async fn pause_reason(&self) -> Result<Option<String>> {
        Ok(redis::cmd("GET")
            .arg(self.keys.paused())
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Sets or clears the pause flag; resuming wakes idle workers.
    pub async fn set_paused(&self, paused: bool) -> Result<()> {
        let mut conn = self.conn.clone();
        if paused {
            let _: () = redis::cmd("SET")
                .arg(self.keys.paused())
                .arg(OPERATOR_PAUSE)
                .query_async(&mut conn)
                .await?;
        } else {
            let _: () = redis::pipe()
                .del(self.keys.paused())
                .lpush(self.keys.wake(), "1")
                .ltrim(self.keys.wake(), 0, 0)
                .query_async(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// Publishes the fleet's default attempt budget (what workers apply to jobs without one).
    pub async fn publish_budget(&self, max_attempts: u32) -> Result<()> {
        let _: () = redis::cmd("SET")
            .arg(self.keys.budget())
            .arg(max_attempts)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// The fleet's default attempt budget as its workers published it.
    pub async fn fleet_budget(&self) -> Result<Option<u32>> {
        Ok(redis::cmd("GET")
            .arg(self.keys.budget())
            .query_async(&mut self.conn.clone())
            .await?)
    }

    /// Pauses the queue with `reason` unless it is paused already; true if this call paused it.
    pub async fn pause_because(&self, reason: &str) -> Result<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.paused())
            .arg(reason)
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    /// Lifts a rate-limit throttle and wakes idle workers; true if one was in place.
    pub async fn unthrottle(&self) -> Result<bool> {
        let (removed, (), ()): (u64, (), ()) = redis::pipe()
            .del(self.keys.throttle())
            .lpush(self.keys.wake(), "1")
            .ltrim(self.keys.wake(), 0, 0)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(removed > 0)
    }

    /// The drain guard's count of one `not_found` answer (`guard`: the streak that pauses,
    /// 0 = off; `reason`: the pause's reason). See [`NotFound`].
    pub async fn not_found(&self, guard: u32, reason: &str) -> Result<NotFound> {
        let reply: Vec<redis::Value> = SCRIPTS
            .not_found
            .key(self.keys.not_found())
            .key(self.keys.paused())
            .arg(guard)
            .arg(reason)
            .arg(OPERATOR_PAUSE)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match text(reply.first())?.as_str() {
            "held" => NotFound::Held(text(reply.get(1))?),
            "tripped" => NotFound::Tripped(int(reply.get(1))?),
            _ => NotFound::Counted(int(reply.get(1))?),
        })
    }

    /// A success ends the drain guard's streak.
    pub async fn found(&self) -> Result<()> {
        let _: () = redis::cmd("DEL")
            .arg(self.keys.not_found())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

/// Sets a throttle key (a queue's or an account's) for `d`, never shortening one in place;
/// returns the throttle left.
pub(crate) async fn throttle_key(conn: &RedisConn, key: &str, d: Duration) -> Result<Duration> {
    let ms: u64 = SCRIPTS
        .throttle
        .key(key)
        .arg(d.as_millis().max(1) as u64)
        .invoke_async(&mut conn.clone())
        .await?;
    Ok(Duration::from_millis(ms))
}
