//! An upstream account's shared rate limit and throttle (its own hash tag; see
//! [`AccountKeys`]). Workers take slots before claiming and give back the slots of jobs that
//! never called upstream, so slots are spent only on calls actually made. What the account
//! pays for (the reuse store, the pay locks, the spend ledger, the daily budget) is in
//! `charges.rs`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::warn;

use super::RedisConn;
use super::reply::{int, text};
use super::scripts::SCRIPTS;
use crate::error::Result;
use crate::keys::AccountKeys;

/// Which account a queue's calls count against, and the limit this process is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLimit {
    /// Account name (`okra.account`): every queue with the same name shares one limit.
    pub name: String,
    /// Calls per window (0 = no limit; a 429 still throttles the whole account).
    pub limit: u32,
    /// Window length.
    pub window: Duration,
}

/// Slots taken from an account.
#[derive(Debug, Clone, Default)]
pub struct Taken {
    /// How many were granted.
    pub granted: usize,
    /// Their ids (empty when the account has no limit), to give back unused ones.
    pub slots: Vec<String>,
    /// When none was granted: how long until one frees up (or the throttle ends).
    pub wait: Duration,
    /// The account is held by its daily budget (the reason): nothing was granted.
    pub held: Option<String>,
}

/// How much of an account's limit is in use.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AccountUsage {
    /// Account name.
    pub name: String,
    /// Calls inside the current window.
    pub calls_in_window: u64,
    /// The shared limit per window (0 = none).
    pub limit: u64,
    /// Window length (ms).
    pub window_ms: u64,
    /// The account is throttled for this many more ms (after a 429).
    pub throttled_ms: u64,
    /// Why the account's queues are held (its daily budget is spent), if they are.
    pub held: Option<String>,
}

/// Handle to one account's limiter.
#[derive(Debug)]
pub struct Account {
    pub(super) conn: RedisConn,
    pub(super) keys: AccountKeys,
    limit: AccountLimit,
    warned: AtomicBool,
    /// Redis time for what the account's records stamp (the sealed marker).
    pub(super) clock: super::enqueue::RedisClock,
}

impl Account {
    /// The limiter of `limit.name`.
    pub fn new(conn: RedisConn, limit: AccountLimit) -> Self {
        Self {
            keys: AccountKeys::new(&limit.name),
            conn,
            limit,
            warned: AtomicBool::new(false),
            clock: Default::default(),
        }
    }

    /// The account name.
    pub fn name(&self) -> &str {
        self.keys.name()
    }

    /// `acct:NAME`: the scope sealed values of the account's own keys are bound to.
    pub fn scope(&self) -> &str {
        self.keys.scope()
    }

    /// Takes up to `want` slots.
    pub async fn take(&self, want: usize) -> Result<Taken> {
        let k = &self.keys;
        let reply: Vec<redis::Value> = SCRIPTS
            .account_take
            .key(k.rate())
            .key(k.throttle())
            .key(k.limit())
            .key(k.seq())
            .key(k.hold())
            .arg(want.max(1))
            .arg(self.limit.limit)
            .arg(self.limit.window.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let stored = int(reply.first())?;
        if stored != u64::from(self.limit.limit) && !self.warned.swap(true, Ordering::Relaxed) {
            warn!(
                account = self.name(),
                stored,
                configured = self.limit.limit,
                "this worker's requests_per_minute differs from the account's limit in Redis; the stored limit applies (set it for every worker with `okra-admin queue rate-limit N`)"
            );
        }
        Ok(Taken {
            wait: Duration::from_millis(int(reply.get(1))?),
            granted: int(reply.get(2))? as usize,
            held: Some(text(reply.get(3))?).filter(|r| !r.is_empty()),
            slots: reply
                .get(4..)
                .unwrap_or_default()
                .iter()
                .map(|v| text(Some(v)))
                .collect::<Result<_>>()?,
        })
    }

    /// Gives back slots that were not used for a call.
    pub async fn give_back(&self, slots: &[String]) -> Result<()> {
        if slots.is_empty() {
            return Ok(());
        }
        let _: () = redis::cmd("ZREM")
            .arg(self.keys.rate())
            .arg(slots)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Stops every worker on this account from calling upstream for `d` (never shortens a
    /// throttle in place); returns the throttle left.
    pub async fn throttle(&self, d: Duration) -> Result<Duration> {
        super::control::throttle_key(&self.conn, &self.keys.throttle(), d).await
    }

    /// Lifts a throttle; true if one was in place.
    pub async fn unthrottle(&self) -> Result<bool> {
        let removed: u64 = redis::cmd("DEL")
            .arg(self.keys.throttle())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(removed > 0)
    }

    /// Sets the shared limit per window (0 = none) for every worker.
    pub async fn set_limit(&self, limit: u32) -> Result<()> {
        let _: () = redis::cmd("SET")
            .arg(self.keys.limit())
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// Calls in the current window, the limit and the throttle.
    pub async fn usage(&self) -> Result<AccountUsage> {
        let now = crate::job::now_ms();
        let window = self.limit.window.as_millis() as u64;
        let (calls, limit, pttl, held): (u64, Option<u64>, i64, Option<String>) = redis::pipe()
            .zcount(self.keys.rate(), now.saturating_sub(window), "+inf")
            .get(self.keys.limit())
            .pttl(self.keys.throttle())
            .get(self.keys.hold())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(AccountUsage {
            name: self.name().to_string(),
            calls_in_window: calls,
            limit: limit.unwrap_or(u64::from(self.limit.limit)),
            window_ms: window,
            throttled_ms: pttl.max(0) as u64,
            held,
        })
    }
}
