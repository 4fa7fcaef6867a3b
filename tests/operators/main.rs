//! Operators and app developers: the real `okra-admin` binary and the library against a real
//! `redis-server`; dead letters come from a real worker fleet (in process) whose handler fails
//! the way Okra does. One file per feature: `enqueue.rs`, `dead_letters.rs`, `stats.rs`,
//! `jobs.rs` (jobs by state, cancel, run now, find, the queue registry), `events.rs` (the
//! event stream, `wait`, typed results), `usage.rs` (exit codes, help, what the CLI never
//! does).

#[path = "../common/mod.rs"]
mod common;

mod dead_letters;
mod enqueue;
mod events;
mod jobs;
mod security;
mod stats;
mod usage;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apalis::prelude::BoxDynError;
use common::cli::*;
use common::seed::{okra_like, seed};
use common::*;
use futures::StreamExt;
use okra_queue::ident::IndexKey;
use okra_queue::okra::{OkraJob, OkraResult};
use okra_queue::queue::events::Since;
use okra_queue::{EnqueueOptions, EventKind, JobContext, JobError, JobState, Queue, QueueConfig};
use serde_json::{Value, json};

const INDEX_KEY: &str = "test-index-key-0123456789";

fn bvn(b: &str) -> OkraJob {
    OkraJob::new("bvn_verify", &[("bvn", b)]).unwrap()
}

async fn producer(server: &RedisServer, name: &str) -> Queue {
    let mut cfg = test_config(name);
    cfg.index_key = Some(IndexKey::new(INDEX_KEY).unwrap());
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

async fn put(q: &Queue, job: OkraJob, o: EnqueueOptions) -> String {
    q.enqueue(&job, o).await.unwrap().id
}

fn ids(run: &Run) -> Vec<String> {
    run.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

/// Runs `okra-admin` on a pseudo-terminal (util-linux `script`), answering `input`.
fn admin_on_terminal(server: &RedisServer, queue: &str, args: &str, input: &str) -> Run {
    let cmd = format!(
        "{} --redis-url {} --queue {queue} {args}",
        env!("CARGO_BIN_EXE_okra-admin"),
        server.url()
    );
    // util-linux `script` gives the command a pseudo-terminal.
    run_with_input(
        Command::new("script").args(["-qec", &cmd, "/dev/null"]),
        input,
    )
}

/// Fails the first attempt of every job, then completes it; `*0601` BVNs die at once.
async fn flaky(job: OkraJob, ctx: JobContext) -> Result<OkraResult, BoxDynError> {
    let Some(bvn) = job.field("bvn") else {
        unreachable!()
    };
    if bvn.ends_with("0601") {
        return Err(JobError::terminal("flagged_user", "flagged").into());
    }
    if ctx.attempt == 1 {
        return Err(JobError::retryable("server_error", "boom").into());
    }
    Ok(OkraResult::found(
        "/products/kyc/bvn-verify",
        json!({ "bvn": bvn }),
    ))
}
