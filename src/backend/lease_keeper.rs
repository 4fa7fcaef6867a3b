//! The lease keeper: every third of the lease, extends every claim this process holds and
//! stamps the process alive, in the same script call (the stamp rides on the last chunk, so a
//! reaper that sees a stamp newer than a lease's deadline knows the holder does not hold it).
//! A claim Redis says is gone is marked lost, so its run learns it before any further upstream
//! call and its outcome is reported late. After a failure it retries within 500 ms, so held
//! leases are re-extended as soon as Redis answers again.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use super::liveness::Loop;
use super::process::{WorkerProcess, every};
use crate::error::Result;
use crate::rdb::MAX_BATCH;

pub(crate) async fn run(inner: Arc<WorkerProcess>) {
    let interval = (inner.opts.lease / 3).max(Duration::from_millis(100));
    every(
        inner,
        "extending leases",
        Some(Loop::LeaseKeeper),
        interval,
        keep,
    )
    .await;
}

pub(crate) async fn keep(inner: Arc<WorkerProcess>) -> Result<()> {
    let held = inner.leases.all();
    // With nothing held, one empty call still stamps the process alive.
    let chunks: Vec<&[crate::job::Lease]> = if held.is_empty() {
        vec![&[]]
    } else {
        held.chunks(MAX_BATCH).collect()
    };
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.iter().enumerate() {
        let stamp = (i == last).then_some(inner.node.as_str());
        let (_, lost) = inner
            .queue
            .rdb
            .extend(inner.opts.lease, stamp, chunk)
            .await?;
        report_lost(&inner, &lost);
    }
    Ok(())
}

fn report_lost(inner: &WorkerProcess, lost: &[crate::job::Lease]) {
    // A claim can also end between the snapshot and the script (its outcome was applied);
    // only those still held were really lost.
    let running = inner.leases.lose(lost);
    if running > 0 {
        metrics::counter!("okq_lost_leases_total", "queue" => inner.queue.name().to_string())
            .increment(running as u64);
        warn!(
            count = running,
            leases = ?lost.iter().take(5).map(|l| l.to_string()).collect::<Vec<_>>(),
            "lost the leases of running jobs (taken back after expiring); their runs are told and their outcomes will be rejected"
        );
    }
}
