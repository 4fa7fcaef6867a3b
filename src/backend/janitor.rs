//! The janitor: enforces the dead set's cap and TTL, drops completed jobs past their retention
//! and Okra's answers from dead letters past theirs, in bounded passes. Every process runs it;
//! the scripts are atomic, so two at once is harmless.

use std::sync::Arc;

use tracing::{debug, warn};

use super::process::{WorkerProcess, every};
use crate::error::Result;
use crate::rdb::MAX_BATCH;

pub(crate) async fn run(inner: Arc<WorkerProcess>) {
    let interval = inner.opts.trim_interval;
    every(inner, "trimming", None, interval, |inner| async move {
        trim(&inner).await
    })
    .await;
}

pub(crate) async fn trim(inner: &WorkerProcess) -> Result<()> {
    let cfg = &inner.queue.cfg;
    loop {
        let (ttl, cap, completed) = inner
            .queue
            .rdb
            .trim(
                cfg.dead.max,
                cfg.dead.ttl,
                cfg.completed_retention,
                MAX_BATCH,
            )
            .await?;
        if ttl + cap > 0 {
            metrics::counter!("okq_dead_trimmed_total", "queue" => cfg.name.clone())
                .increment(ttl + cap);
            warn!(
                by_ttl = ttl,
                by_cap = cap,
                dead_max = cfg.dead.max,
                dead_ttl = %humantime::format_duration(cfg.dead.ttl),
                "trimmed dead letters"
            );
        }
        if completed > 0 {
            debug!(completed, "removed completed jobs past their retention");
        }
        if ttl.max(cap).max(completed) < MAX_BATCH as u64 {
            break;
        }
    }
    // Okra's answers leave dead letters after `dead.answer_retention`.
    loop {
        let (dropped, more) = inner
            .queue
            .rdb
            .forget_answers(cfg.dead.answer_retention, MAX_BATCH)
            .await?;
        if dropped > 0 {
            debug!(
                dropped,
                "dropped Okra's answers from dead letters past their retention"
            );
        }
        if !more {
            return Ok(());
        }
    }
}
