//! The queue handle: what producers, operators and the engine hold to reach one queue. The
//! handle and its producer API are in [`handle`] (connect, enqueue, read a job back); each
//! other file adds one view of the same [`Queue`]:
//!
//! - [`control`]: pause and resume, throttles, the rate-limit and budget slots of a call;
//! - [`stats`]: counts per state, throughput, latency and the worker processes;
//! - [`browse`]: jobs by state, cancel, run now, find by key or person, the queue registry;
//! - [`dlq`]: dead letters, listed, requeued and purged by filter;
//! - [`events`]: the event stream and [`Queue::wait`];
//! - [`audit`]: the trail of operator changes;
//! - [`rekey`]: key rotation of everything sealed at rest.
//!
//! The views import the handle, never each other's internals; the handle imports none of
//! them (a test checks it: `tests/layout.rs`). Erasure by person extends the handle from
//! [`crate::okra::erase`], above it, because it needs the kind table.

pub mod audit;
pub mod browse;
pub mod control;
pub mod dlq;
pub mod events;
mod handle;
mod raw;
pub mod rekey;
pub mod stats;
mod waiters;

pub use handle::{DeadLimits, Queue, QueueConfig};
pub use raw::RawJob;
