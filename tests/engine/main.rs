//! The queue engine against a real `redis-server` (and a real 3-master Redis Cluster), one
//! file per feature: `lifecycle.rs`, `dead_letters.rs`, `recovery.rs`, `shutdown.rs`,
//! `throughput.rs`, `cluster.rs`, `durability.rs` (durable acknowledgements), `failover.rs`
//! (a Sentinel failover). Shared here: the `Probe` job, whose `mode` says how its handler
//! behaves, and the setup.

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod dead_letters;
mod durability;
mod failover;
mod lifecycle;
mod recovery;
mod shutdown;
mod throughput;
mod trace_context;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use apalis::prelude::{AbortError, BoxDynError, RetryAfterError};
use common::*;
use okra_queue::HistoryKind;
use okra_queue::rdb::{Applied, ClaimReply, OutcomeEntry, Transition};
use okra_queue::{
    DeadFilter, EnqueueOptions, HistoryEntry, Job, JobContext, JobError, JobState, Queue,
    QueueConfig, RequeueAt,
};
use serde::{Deserialize, Serialize};

/// A test job whose `mode` says how its handler behaves.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Probe {
    mode: String,
    #[serde(default)]
    n: u64,
}

impl Job for Probe {
    fn kind(&self) -> &str {
        "probe"
    }
    fn validate(&self) -> Result<(), String> {
        if self.mode.is_empty() {
            return Err("mode is required".into());
        }
        Ok(())
    }
}

fn probe(mode: &str, n: u64) -> Probe {
    Probe {
        mode: mode.into(),
        n,
    }
}

/// The jobs whose `record_after` future (mode `after`) has finished.
static AFTER_DONE: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

async fn handler(job: Probe, ctx: JobContext) -> Result<serde_json::Value, BoxDynError> {
    match job.mode.as_str() {
        "ok" => Ok(serde_json::json!({ "double": job.n * 2, "attempt": ctx.attempt })),
        // fails with a retryable error for the first `n` attempts
        "flaky" if (ctx.attempt as u64) <= job.n => {
            Err(JobError::retryable("server_error", "upstream 502")
                .http_status(502)
                .into())
        }
        "flaky" => Ok(serde_json::json!({ "attempt": ctx.attempt })),
        "terminal" => Err(JobError::terminal("flagged_user", "customer is flagged")
            .http_status(200)
            .upstream(
                Some("FLAGGED_USER".into()),
                Some("403".into()),
                Some("verify".into()),
            )
            .body(r#"{"status":"error","type":"FLAGGED_USER"}"#)
            .into()),
        "abort" => Err(AbortError::new("bad input").into()),
        "always" => Err("always fails".into()),
        "retry_after" if ctx.attempt == 1 => {
            Err(RetryAfterError::new("http 429", Duration::from_millis(job.n)).into())
        }
        "retry_after" => Ok(serde_json::json!({ "attempt": ctx.attempt })),
        "sleep" => {
            tokio::time::sleep(Duration::from_millis(job.n)).await;
            Ok(serde_json::json!("slept"))
        }
        "until_requeued" if ctx.meta.requeues == 0 => {
            Err(JobError::terminal("not_yet", "fails until an operator requeues it").into())
        }
        "until_requeued" => {
            Ok(serde_json::json!({ "requeues": ctx.meta.requeues, "attempt": ctx.attempt }))
        }
        // Leaves a future that ends after `n` ms for the engine to finish before the outcome.
        "after" => {
            let id = ctx.id().to_string();
            ctx.record_after(async move {
                tokio::time::sleep(Duration::from_millis(job.n)).await;
                AFTER_DONE.lock().unwrap().push(id);
            });
            Ok(serde_json::json!("handed off"))
        }
        "panic" if ctx.attempt == 1 => panic!("boom"),
        "panic" => Ok(serde_json::json!("recovered")),
        other => Err(JobError::terminal("unknown_mode", other).into()),
    }
}

async fn setup(server: &RedisServer, name: &str) -> Queue {
    Queue::connect(&server.settings(), test_config(name))
        .await
        .unwrap()
}

async fn fleet(queue: &Queue) -> Fleet {
    start_fleet(queue, test_options(), 2, handler).await
}
