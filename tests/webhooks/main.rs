//! Webhooks end to end: a real `redis-server`, real `okra-worker` and `okra-sandbox` processes,
//! `okra-admin` for the endpoints, and a real HTTP receiver in this process on 127.0.0.1 that
//! verifies every signature from the Standard Webhooks specification (HMAC-SHA256 over
//! `id.timestamp.body`, written here from the spec, not with the library's signer).
//! `delivery.rs`: every completed and dead job, thin and full, retries, a receiver down, a
//! rotated secret, 410 Gone, the dead letters; `guard.rs`: the SSRF refusals; `erase.rs`:
//! erasing a person erases their pending deliveries.

#[path = "../common/mod.rs"]
mod common;

mod dashboard;
mod delivery;
mod erase;
mod forward;
mod guard;
mod receiver;
mod sealed;

pub use receiver::{Got, Receiver, verifies};

use std::time::{Duration, Instant};

use common::procs::{Proc, Sandbox, WorkerSpec, start_worker};
use common::*;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue, QueueConfig};
use serde_json::Value;

pub const INDEX_KEY: &str = "webhooks-tests-index-key-0123";

/// A Redis server, the sandbox and a temporary folder.
pub struct Stack {
    pub server: RedisServer,
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub workers: Vec<Proc>,
}

impl Stack {
    pub fn start() -> Self {
        let server = RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(dir.path(), &[]);
        Self {
            server,
            sandbox,
            dir,
            workers: Vec::new(),
        }
    }

    /// Starts an `okra-worker` on `queue` with this webhook schedule and allow list.
    pub fn worker(&mut self, queue: &str, schedule: &str, allow: &str) {
        self.worker_with(queue, schedule, allow, Vec::new());
    }

    /// [`Stack::worker`] with more environment.
    pub fn worker_with(
        &mut self,
        queue: &str,
        schedule: &str,
        allow: &str,
        more: Vec<(&str, String)>,
    ) {
        let mut env = vec![
            ("OKQ_WEBHOOKS__RETRY_SCHEDULE", schedule.to_string()),
            ("OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS", allow.to_string()),
            ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.to_string()),
        ];
        env.extend(more);
        let spec = WorkerSpec {
            queue,
            env,
            ..WorkerSpec::default()
        };
        let n = self.workers.len();
        let w = start_worker(
            self.dir.path(),
            n,
            &self.server.url(),
            &self.sandbox.url,
            &spec,
        );
        self.workers.push(w);
    }

    pub fn logs(&self) -> String {
        self.workers.iter().map(|w| w.log_text()).collect()
    }

    /// `okra-admin` with the receiver allowed.
    pub fn admin(&self, queue: &str, args: &[&str]) -> cli::Run {
        cli::admin_with_env(
            &self.server,
            queue,
            args,
            &[
                ("OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS", "[\"127.0.0.1\"]"),
                ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY),
            ],
        )
    }

    /// Adds an endpoint; its (id, secret).
    pub fn add(&self, queue: &str, url: &str, extra: &[&str]) -> (String, String) {
        let mut args = vec!["--json", "webhook", "add", url];
        args.extend_from_slice(extra);
        let v = self.admin(queue, &args).ok().json();
        (
            v["id"].as_str().unwrap().to_string(),
            v["secret"].as_str().unwrap().to_string(),
        )
    }

    pub async fn producer(&self, queue: &str) -> Queue {
        let mut cfg = QueueConfig::new(queue);
        cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
        let q = Queue::connect(&self.server.settings(), cfg).await.unwrap();
        q.register().await.unwrap();
        q
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.kill();
        }
    }
}

pub fn bvn(b: String) -> (OkraJob, EnqueueOptions) {
    (
        OkraJob::new("bvn_verify", &[("bvn", &b)]).unwrap(),
        EnqueueOptions::default(),
    )
}

/// Enqueues `n` BVN jobs whose last four digits are `suffix` (the sandbox's trigger).
pub async fn enqueue(q: &Queue, n: usize, tag: usize, suffix: &str) -> Vec<String> {
    q.enqueue_bulk((0..n).map(|i| bvn(format!("2{tag:01}{i:05}{suffix}"))))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// Waits until `check` holds for what the receiver got.
pub async fn until(r: &Receiver, limit: Duration, what: &str, check: impl Fn(&[Got]) -> bool) {
    let deadline = Instant::now() + limit;
    loop {
        let got = r.got();
        if check(&got) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}; got {} requests",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
