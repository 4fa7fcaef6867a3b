//! okra-queue: a durable Redis job queue for Okra identity-verification calls, on apalis 1.0.
//!
//! - [`Queue`]: producers enqueue jobs (single, bulk, delayed, idempotent) and read them back.
//! - [`Runtime`] and [`RedisBackend`]: our apalis backend; workers claim jobs under leases, and
//!   every attempt's outcome goes through the [`policy`] into Redis atomically.
//! - [`dlq`]: dead letters with their history; list, requeue and purge by filter.
//! - [`okra`]: the Okra jobs, HTTP client and failure classification.
//!
//! The modules, bottom to top (each imports only from those listed before it; a test checks
//! that no two top-level modules import each other, in `tests/layout.rs`):
//!
//! - the shared vocabulary: [`keys`] (the Redis key layout), [`ident`] (the keyed-hash
//!   identity index), [`job`] (jobs, states, failures, history, leases), [`error`];
//! - [`rdb`]: the storage layer, all Redis access and the Lua scripts;
//! - [`policy`]: the retry lifecycle (classify, decide, record);
//! - [`queue`]: the handle and the producer API, extended by [`control`] (pause, throttles,
//!   permits), [`stats`], [`dlq`] (dead letters), [`events`] (the event stream and `wait`)
//!   and [`browse`] (jobs by state, cancel, run now, find, the queue registry);
//! - [`backend`]: the apalis backend and its background loops, one per file;
//! - [`okra`]: Okra jobs, HTTP client, classification, masking and their settings;
//! - [`webhooks`]: signed webhooks for outcomes (endpoints, the SSRF guard, delivery jobs);
//! - [`config`]: the binaries' settings, composed from the types above;
//! - [`telemetry`]: the binaries' logs, and traces of a job's life (OpenTelemetry).

pub mod api_keys;
pub mod audit;
pub mod backend;
pub mod browse;
pub mod config;
pub mod control;
pub mod dlq;
pub mod erase;
pub mod error;
pub mod events;
pub mod gateway;
pub mod http_guard;
pub mod ident;
pub mod job;
pub mod keys;
pub mod okra;
pub mod policy;
pub mod queue;
pub mod rdb;
pub mod rekey;
pub mod seal;
pub mod stats;
pub mod telemetry;
mod waiters;
pub mod webhooks;

pub use audit::AuditEntry;
pub use backend::{JobContext, RedisBackend, Runtime, ShutdownReport, WorkerOptions};
pub use browse::{JobFilter, JobPage};
pub use dlq::{Breakdown, BulkReport, DeadFilter, DeadLetter, RequeueAt};
pub use error::{PartialEnqueue, QueueError, Result};
pub use events::{Event, EventKind};
pub use job::{
    EnqueueOptions, Enqueued, Failure, HistoryEntry, HistoryKind, Job, JobId, JobMeta, JobRecord,
    JobState,
};
pub use policy::{JobError, Outcome, RetryPolicy};
pub use queue::{DeadLimits, Queue, QueueConfig, RawJob};
pub use rdb::{RateLimit, RedisSettings, WorkerInfo};
pub use stats::Stats;
