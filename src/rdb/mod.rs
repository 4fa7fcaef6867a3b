//! All Redis access of the queue: the storage layer, at the bottom. It owns what it stores (the
//! key layout is [`crate::keys`]; the scripts are `lua/*.lua`, one per operation, each with a
//! header naming its KEYS and ARGV) and imports nothing above the shared vocabulary
//! ([`crate::job`], [`crate::error`]).
//!
//! One handle, [`Rdb`], split by who calls it (as asynq splits `rdb.go` from `inspect.go`):
//!
//! | file | caller | what |
//! |---|---|---|
//! | `enqueue.rs` | producers | new jobs, ready or scheduled (plaintext refused on a sealed queue) |
//! | `worker.rs` | a worker's hot path and loops | claim, record outcomes, extend and list leases, forward due jobs, wait for work, trim |
//! | `control.rs` | workers and operators | pause, throttle, rate-limit permits, the fleet's attempt budget, the drain guard |
//! | `presence.rs` | heartbeat, stats, the sampler | worker registrations, liveness, the sampler role |
//! | `dead.rs` | dead-letter operations | the dead-letter index (its format, written once), requeue, delete, briefs |
//! | `inspect.rs` | stats, `job show`, `wait` | sizes and counters, per-minute throughput, latency, one job's record, states |
//! | `browse.rs` | `jobs list`, cancel, run now, find | listings in run order and one-job actions |
//! | `events.rs` | `events`, `wait`, `tail` | the event stream and its reads |
//! | `rekey.rs` | `okra-admin keys status`, `keys rekey` | walking sealed values, compare-and-set re-sealing, resumable progress |
//! | `registry.rs` | `queues`, `queue delete`, connecting with keys | queue names, deleting a queue, the seal marker, the key check values |
//! | `audit.rs` | operator changes, `okra-admin audit` | the audit trail (one stream for every queue; unauthenticated traffic's summaries in a second) |
//! | `sessions.rs` | the dashboard | login sessions, with their lifetime as TTL |
//! | `api_keys.rs` | `okra-gateway`, `okra-admin api-key` | API keys (a hash of each token), result reads per key, request fingerprints of idempotency keys |
//! | `account.rs` | claims of an Okra account's queues | the account's shared limit and throttle |
//! | `erase.rs` | `okra-admin erase`, the dashboard | a person's jobs in every state, and what their account keeps |
//! | `charges.rs` | the Okra worker, `okra-admin spend` | what the account pays for: the spend ledger, the daily budget |
//! | `pay_locks.rs` | the Okra worker | the reuse store and the pay locks, a batch of jobs per round trip |
//! | `lookups.rs` | the Okra worker, `okra-admin check lookups` | the free lookup routes that have answered with a profile |
//! | `webhooks.rs` | `okra-admin webhook`, the workers' forwarder | webhook endpoints, the outbox of outcomes to deliver |
//! | `settings.rs`, `conn.rs`, `sentinel.rs`, `reply.rs`, `scripts.rs` | everything here | how to reach Redis, connections (single server, Sentinel's primary, cluster), reply parsing, the loaded scripts |
//!
//! Each method is one script call or one pipeline, except the few that walk (a skip scan of
//! the dead-letter index, a queue's idempotency claims), whose docs say so.

mod account;
mod api_keys;
mod audit;
mod browse;
mod charges;
mod conn;
mod control;
mod dead;
mod durable;
mod enqueue;
mod erase;
mod events;
mod inspect;
mod lookups;
mod pay_locks;
mod presence;
mod registry;
mod rekey;
mod reply;
mod scripts;
mod sentinel;
mod sessions;
mod settings;
mod webhooks;
mod worker;

pub use account::{Account, AccountLimit, AccountUsage, Taken};
pub use api_keys::{API_KEY_READS_KEPT, ApiKeyRecord};
pub use audit::{AUDIT_KEPT, AUDIT_UNAUTHENTICATED, AuditRow};
pub use browse::{CancelReply, JobBrief, Listing};
pub use charges::{SpendCount, SpendRow, Spent, utc_day};
pub use conn::RedisConn;
pub use control::{NotFound, OPERATOR_PAUSE, RateLimit};
pub use dead::{DeadBrief, Dim, Requeued, index_members, member_id};
pub use durable::Durable;
pub use enqueue::NewJob;
pub use erase::{ErasedJobs, TOMBSTONE};
pub use events::{Event, EventKind};
pub use inspect::{Minute, RawStats, Whereabouts};
pub use pay_locks::{Begin, BeginAsk, End, EndAsk};
pub use presence::{WORKER_TTL, WorkerInfo};
pub use registry::queue_names;
pub use rekey::{Reseal, Step};
pub use sentinel::SentinelConn;
pub use sessions::SESSION_PREFIX;
pub use settings::{Durability, RedisSettings};
pub use webhooks::{HookWrite, HookWritten};
pub use worker::{Applied, ClaimReply, ClaimedJob, ExpiredLease, OutcomeEntry, Transition, Wake};

use crate::error::{QueueError, Result};
use crate::keys::Keys;

/// Most ids or jobs one script call handles; keeps every script's work bounded.
pub const MAX_BATCH: usize = 1000;

/// Minutes of per-minute throughput kept for the dashboard.
pub const MINUTES_KEPT: u64 = 120;

/// Events a queue keeps by default.
pub const EVENTS_MAX: u64 = 100_000;

/// Handle to one queue's data in Redis.
#[derive(Debug, Clone)]
pub struct Rdb {
    conn: RedisConn,
    keys: Keys,
    /// Events kept in the queue's stream (0 = none written).
    events_max: u64,
    /// Redis time for the records written without a script.
    clock: enqueue::RedisClock,
    /// Confirms acknowledged writes at `redis.durability` (`None`: Redis's answer is enough).
    durable: Option<std::sync::Arc<Durable>>,
    /// This handle's process seals what it writes (`[seal] keys_file`): a sealed queue's
    /// scripts refuse outcomes from one that does not.
    sealing: bool,
}

/// Version and settings of the Redis server that matter to the queue.
#[derive(Debug, Clone, Default)]
pub struct ServerInfo {
    /// `redis_version`.
    pub version: String,
    /// `maxmemory_policy` (empty when the server does not say).
    pub maxmemory_policy: String,
}

impl Rdb {
    /// Wraps a connection for queue `keys`, keeping [`EVENTS_MAX`] events.
    pub fn new(conn: RedisConn, keys: Keys) -> Self {
        Self {
            conn,
            keys,
            events_max: EVENTS_MAX,
            clock: enqueue::RedisClock::default(),
            durable: None,
            sealing: false,
        }
    }

    /// Marks the handle as one whose process seals what it writes.
    pub fn sealing(mut self, sealing: bool) -> Self {
        self.sealing = sealing;
        self
    }

    /// Confirms acknowledged writes with `durable` (see [`Durable`]).
    pub fn with_durable(mut self, durable: Option<std::sync::Arc<Durable>>) -> Self {
        self.durable = durable;
        self
    }

    /// The confirming side, shared by handles on the same connection.
    pub fn durable(&self) -> Option<std::sync::Arc<Durable>> {
        self.durable.clone()
    }

    /// Waits until what this process wrote so far holds at `redis.durability` (at once when it
    /// is `none`).
    pub async fn confirm(&self) -> Result<()> {
        match &self.durable {
            Some(d) => d.confirm().await,
            None => Ok(()),
        }
    }

    /// Keeps about `max` events in the queue's stream (0 = write none).
    pub fn with_events_max(mut self, max: u64) -> Self {
        self.events_max = max;
        self
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The connection (for ad-hoc commands in tests and tools).
    pub fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// The server's version and eviction policy (from `INFO`, which managed services allow
    /// where `CONFIG GET` is often disabled). On a cluster, the node that answers.
    pub async fn server_info(&self) -> Result<ServerInfo> {
        // Plain `INFO`: several sections in one call need Redis 7. A cluster answers per node.
        let reply: redis::Value = redis::cmd("INFO")
            .query_async(&mut self.conn.clone())
            .await?;
        let text = match &reply {
            redis::Value::Map(nodes) => nodes
                .first()
                .map(|(_, v)| reply::text(Some(v)))
                .transpose()?,
            other => Some(reply::text(Some(other))?),
        }
        .unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Ok(ServerInfo {
            version: field("redis_version"),
            maxmemory_policy: field("maxmemory_policy"),
        })
    }

    /// Checks the server answers.
    pub async fn ping(&self) -> Result<()> {
        let pong: String = redis::cmd("PING")
            .query_async(&mut self.conn.clone())
            .await?;
        if pong != "PONG" {
            return Err(QueueError::Protocol(format!("PING answered {pong}")));
        }
        Ok(())
    }
}
