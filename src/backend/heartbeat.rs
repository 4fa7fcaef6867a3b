//! The heartbeat: every 5 s, publishes what this process is (host, pid, loops, jobs in flight)
//! and drops registrations of processes gone for ten times [`WORKER_TTL`]. Liveness itself is
//! the lease keeper's stamp.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::info;

use super::process::{WorkerProcess, every};
use crate::error::Result;
use crate::job::host_name;
use crate::rdb::{WORKER_TTL, WorkerInfo};

const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

pub(crate) async fn run(inner: Arc<WorkerProcess>) {
    every(
        inner,
        "heartbeat",
        None,
        HEARTBEAT_EVERY,
        |inner| async move { beat(&inner).await },
    )
    .await;
}

async fn beat(inner: &WorkerProcess) -> Result<()> {
    let info = WorkerInfo {
        id: inner.node.clone(),
        host: host_name(),
        pid: std::process::id(),
        started_at: inner.started_at,
        concurrency: inner.opts.concurrency,
        loops: inner.loops.load(Ordering::Relaxed),
        in_flight: inner.leases.len(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..WorkerInfo::default()
    };
    let pruned = inner.queue.rdb.heartbeat(&info, 10 * WORKER_TTL).await?;
    if pruned > 0 {
        info!(
            pruned,
            "removed registrations of workers gone for 5 minutes"
        );
    }
    Ok(())
}
