//! How a process runs its workers: a settings file's `[worker]` section deserializes into
//! [`WorkerOptions`] directly (the binary's own `metrics_addr` sits beside its fields, so
//! unknown keys are checked by the settings loader).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rdb::MAX_BATCH;

/// How a process runs its workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerOptions {
    /// Jobs one worker loop runs at once (`okra-worker` runs one loop per process, so there it
    /// is the process's concurrency).
    pub concurrency: usize,
    /// Most jobs claimed per round trip (≤ 1,000); a loop never claims more than it has room for.
    pub batch: usize,
    /// Lease (visibility timeout); extended every third of it while the job runs.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Longest an idle loop waits before looking again (a wake-up usually comes much sooner).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often expired leases are reaped.
    #[serde(with = "humantime_serde")]
    pub reap_interval: Duration,
    /// How often the dead set and completed jobs are trimmed.
    #[serde(with = "humantime_serde")]
    pub trim_interval: Duration,
    /// How long running jobs may finish at shutdown before they are given back.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long the acker waits for more outcomes before writing a small batch: at a few
    /// thousand slow jobs a second, one script call for many outcomes instead of one for each
    /// (Redis's cost per call dwarfs its cost per job). Zero writes at once.
    #[serde(with = "humantime_serde")]
    pub ack_linger: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 100,
            batch: 100,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            reap_interval: Duration::from_secs(1),
            trim_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            ack_linger: Duration::from_millis(2),
        }
    }
}

impl WorkerOptions {
    /// Checks the values make sense.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.concurrency == 0 {
            return Err("worker.concurrency must be at least 1".into());
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(format!("worker.batch must be between 1 and {MAX_BATCH}"));
        }
        if self.lease < Duration::from_millis(300) {
            return Err("worker.lease must be at least 300ms".into());
        }
        if self.poll_interval.is_zero()
            || self.reap_interval.is_zero()
            || self.trim_interval.is_zero()
        {
            return Err("worker intervals must be positive".into());
        }
        if self.ack_linger > Duration::from_millis(100) {
            return Err("worker.ack_linger must be at most 100ms".into());
        }
        Ok(())
    }
}
