//! okra-queue: a durable Redis job queue for Okra identity-verification calls, on apalis 1.0.
//!
//! - [`Queue`]: producers enqueue jobs (single, bulk, delayed, idempotent) and read them back.
//! - [`Runtime`] and [`RedisBackend`]: our apalis backend; workers claim jobs under leases, and
//!   every attempt's outcome goes through the [`policy`] into Redis atomically.
//! - [`dlq`]: dead letters with their history; list, requeue and purge by filter.
//! - [`okra`]: the Okra jobs, HTTP client and failure classification.
//!
//! Module map: [`keys`] (Redis key layout), [`rdb`] (all Redis access and the Lua scripts),
//! [`policy`] (retry policy), [`backend`] (the apalis backend), [`queue`] (producers),
//! [`dlq`] (dead letters), [`stats`], [`config`] (settings file and environment),
//! [`okra`] (Okra jobs, client, classification, masking), [`ident`] (the identity index),
//! [`events`] (the event stream), [`telemetry`] (logs).

pub mod backend;
pub mod browse;
pub mod config;
pub mod dlq;
pub mod error;
pub mod events;
pub mod ident;
pub mod job;
pub mod keys;
pub mod okra;
pub mod policy;
pub mod queue;
pub mod rdb;
pub mod stats;
#[cfg(feature = "cli")]
pub mod telemetry;

pub use backend::{JobContext, RedisBackend, Runtime, ShutdownReport, WorkerOptions};
pub use browse::{JobFilter, JobPage};
pub use dlq::{Breakdown, BulkReport, DeadFilter, DeadLetter, RequeueAt};
pub use error::{QueueError, Result};
pub use events::{Event, EventKind};
pub use job::{
    EnqueueOptions, Enqueued, Failure, HistoryEntry, Job, JobId, JobMeta, JobRecord, JobState,
};
pub use policy::{JobError, Outcome, RetryPolicy};
pub use queue::{Queue, QueueConfig, RawJob, WorkerInfo};
pub use rdb::{RateLimit, RedisSettings};
pub use stats::Stats;
