//! okra-queue: a durable Redis job queue for Okra identity-verification calls, on apalis 1.0.
//!
//! - [`Queue`]: producers enqueue jobs (single, bulk, delayed, idempotent) and read them back.
//! - [`Runtime`] and [`RedisBackend`]: our apalis backend; workers claim jobs under leases, and
//!   every attempt's outcome goes through the [`policy`] into Redis atomically.
//! - [`queue::dlq`]: dead letters with their history; list, requeue and purge by filter.
//! - [`okra`]: the Okra jobs, HTTP client and failure classification.
//!
//! The modules, bottom to top (each imports only from those listed before it; a test checks
//! that no two top-level modules import each other, in `tests/layout.rs`):
//!
//! - the shared vocabulary: [`keys`] (the Redis key layout), [`ident`] (the keyed-hash
//!   identity index), [`job`] (jobs, states, failures, history, leases), [`error`];
//! - [`rdb`]: the storage layer, all Redis access and the Lua scripts;
//! - [`policy`]: the retry lifecycle (classify, decide, record);
//! - [`queue`]: the queue handle, one folder: the producer API, and one file per view of it
//!   ([`queue::control`] pause, throttles and permits; [`queue::stats`]; [`queue::dlq`] dead
//!   letters; [`queue::events`] the event stream and `wait`; [`queue::browse`] jobs by state,
//!   cancel, run now, find, the queue registry; [`queue::audit`],
//!   [`queue::rekey`]);
//! - [`backend`]: the apalis backend and its background loops, one per file;
//! - [`okra`]: Okra jobs, HTTP client, classification, masking and their settings;
//! - [`webhooks`]: signed webhooks for outcomes (endpoints, the SSRF guard, delivery jobs);
//! - [`config`]: the binaries' settings, composed from the types above;
//! - [`telemetry`]: the binaries' logs, and traces of a job's life (OpenTelemetry).

pub mod api_keys;
pub mod backend;
pub mod config;
pub mod error;
pub mod gateway;
pub mod http_guard;
pub mod ident;
pub mod job;
pub mod keys;
pub mod okra;
pub mod policy;
pub mod queue;
pub mod rdb;
pub mod seal;
pub mod telemetry;
pub mod webhooks;

pub use backend::{JobContext, RedisBackend, Runtime, ShutdownReport, WorkerOptions};
pub use error::{PartialEnqueue, QueueError, Result};
pub use job::{
    EnqueueOptions, Enqueued, Failure, HistoryEntry, HistoryKind, Job, JobId, JobMeta, JobRecord,
    JobState,
};
pub use policy::{JobError, Outcome, RetryPolicy};
pub use queue::audit::AuditEntry;
pub use queue::browse::{JobFilter, JobPage};
pub use queue::dlq::{Breakdown, BulkReport, DeadFilter, DeadLetter, RequeueAt};
pub use queue::events::{Event, EventKind};
pub use queue::stats::Stats;
pub use queue::{DeadLimits, Queue, QueueConfig, RawJob};
pub use rdb::{RateLimit, RedisSettings, WorkerInfo};
