//! Webhooks end to end: a real `redis-server`, real `okra-worker` and `okra-sandbox` processes,
//! `okra-admin` for the endpoints, and a real HTTP receiver in this process on 127.0.0.1 that
//! verifies every signature from the Standard Webhooks specification (HMAC-SHA256 over
//! `id.timestamp.body`, written here from the spec, not with the library's signer).
//! `delivery.rs`: every completed and dead job, thin and full, retries, a receiver down, a
//! rotated secret, 410 Gone, the dead letters; `guard.rs`: the SSRF refusals; `erase.rs`:
//! erasing a person erases their pending deliveries.

#[path = "../common/mod.rs"]
mod common;

mod delivery;
mod erase;
mod guard;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::procs::{Proc, Sandbox, WorkerSpec, start_worker};
use common::*;
use hmac::{Hmac, Mac};
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue, QueueConfig};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const INDEX_KEY: &str = "webhooks-tests-index-key-0123";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub timestamp: u64,
    pub signature: String,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
    pub at: Instant,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

#[derive(Default)]
struct State {
    /// Answers for the next requests, then `default`.
    script: VecDeque<u16>,
    default: u16,
    got: Vec<Got>,
}

/// A minimal HTTP/1.1 receiver on 127.0.0.1 (every answer closes its connection, so taking it
/// down refuses the next request at once).
pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            default: 200,
            ..State::default()
        }));
        let task = Some(tokio::spawn(serve(listener, state.clone())));
        Self { port, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Answers `statuses` to the next requests, then `default`.
    pub fn answer(&self, statuses: &[u16], default: u16) {
        let mut s = self.state.lock().unwrap();
        s.script = statuses.iter().copied().collect();
        s.default = default;
    }

    /// Every request so far.
    pub fn got(&self) -> Vec<Got> {
        self.state.lock().unwrap().got.clone()
    }

    /// Stops listening (connections are refused).
    pub fn down(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.task = Some(tokio::spawn(serve(listener, self.state.clone())));
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

async fn serve(listener: tokio::net::TcpListener, state: Arc<Mutex<State>>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        conns.spawn(answer(sock, state.clone()));
        while conns.try_join_next().is_some() {}
    }
}

async fn answer(mut sock: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let Ok(n) = sock.read(&mut chunk).await else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (i + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let Ok(n) = sock.read(&mut chunk).await else { return };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    let status = {
        let mut s = state.lock().unwrap();
        let status = s.script.pop_front().unwrap_or(s.default);
        s.got.push(Got {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp").parse().unwrap_or(0),
            signature: header("webhook-signature"),
            body: String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string(),
            status,
            at: Instant::now(),
        });
        status
    };
    let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let _ = sock.write_all(reply.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Standard Webhooks verification, from the specification: the secret's bytes are the base64
/// after `whsec_`; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the header
/// holds space-separated `v1,<base64 HMAC-SHA256>` signatures, any of which may match.
pub fn verifies(secret: &str, got: &Got) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let content = format!("{}.{}.{}", got.id, got.timestamp, got.body);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(content.as_bytes());
    let expected = b64.encode(mac.finalize().into_bytes());
    got.signature
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()))
}

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
        let spec = WorkerSpec {
            queue,
            env: vec![
                ("OKQ_WEBHOOKS__RETRY_SCHEDULE", schedule.to_string()),
                ("OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS", allow.to_string()),
                ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.to_string()),
            ],
            ..WorkerSpec::default()
        };
        let n = self.workers.len();
        let w = start_worker(self.dir.path(), n, &self.server.url(), &self.sandbox.url, &spec);
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
        OkraJob::BvnVerify {
            bvn: b,
            matching: None,
        },
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
