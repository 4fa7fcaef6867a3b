//! Dead letters for tests: a real in-process fleet whose handler fails the way Okra does.

use std::time::Duration;

use apalis::prelude::BoxDynError;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, JobContext, JobError, Queue, QueueConfig};
use serde_json::Value;

use super::{RedisServer, eventually, start_fleet, test_options};

/// Fails like Okra: BVNs ending 0601 are flagged (terminal), NINs ending 0404 are unknown
/// (terminal 404), customers get a 500 (retryable; one attempt allowed).
pub async fn okra_like(job: OkraJob, _ctx: JobContext) -> Result<Value, BoxDynError> {
    let bvn = job.field("bvn").unwrap_or_default();
    Err(match job.spec().name {
        "bvn_verify" if bvn.ends_with("0601") => {
            JobError::terminal("flagged_user", format!("customer {bvn} is flagged"))
                .http_status(200)
                .upstream(Some("FLAGGED_USER".into()), Some("1000".into()), None)
                .body(&format!(
                    r#"{{"status":"error","type":"FLAGGED_USER","bvn":"{bvn}"}}"#
                ))
        }
        "nin_verify" => JobError::terminal("not_found", "no record").http_status(404),
        "customer_verify" => {
            JobError::retryable("server_error", "Something went wrong").http_status(500)
        }
        _ => return Ok(serde_json::json!({"ok": true})),
    }
    .into())
}

/// 30 flagged BVN verifies, 10 unknown NINs and 5 customers out of attempts, all dead.
pub async fn seed(server: &RedisServer, name: &str) -> Queue {
    let mut cfg = QueueConfig::new(name);
    cfg.retry.max_attempts = 1;
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let mut jobs = Vec::new();
    for i in 0..30 {
        jobs.push(OkraJob::new("bvn_verify", &[("bvn", &format!("222{i:04}0601"))]).unwrap());
    }
    for i in 0..10 {
        jobs.push(OkraJob::new("nin_verify", &[("nin", &format!("333{i:04}0404"))]).unwrap());
    }
    for i in 0..5 {
        jobs.push(OkraJob::new("customer_verify", &[("customer", &format!("cus_{i}"))]).unwrap());
    }
    // One at a time, so that "newest first" has an order to check.
    for j in jobs {
        queue.enqueue(&j, EnqueueOptions::default()).await.unwrap();
    }
    let fleet = start_fleet(&queue, test_options(), 1, okra_like).await;
    eventually(Duration::from_secs(20), "45 dead letters", || async {
        queue.stats().await.unwrap().dead == 45
    })
    .await;
    fleet.stop().await;
    queue
}
