//! Test harness: real `redis-server` processes on free ports (stopped by PID on drop), and an
//! in-process worker fleet on apalis's `Monitor`.
#![allow(dead_code)]

pub mod cli;
pub mod cpu;
pub mod docs;
pub mod procs;
pub mod proxy;
pub mod seed;
pub mod tls;
pub mod web;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Monitor, WorkerBuilder};
use okra_queue::{
    JobContext, JobRecord, JobState, Queue, QueueConfig, RedisSettings, Runtime, ShutdownReport,
    WorkerOptions,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

/// A throwaway `redis-server` on a free loopback port.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra `redis-server` arguments (e.g. `--appendonly yes`).
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut server = Self {
            port: free_port(),
            child: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut args = vec![
            "--port".to_string(),
            self.port.to_string(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            "".into(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            self.dir.path().display().to_string(),
            "--loglevel".into(),
            "warning".into(),
        ];
        args.extend(self.extra.iter().cloned());
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        wait_for_ping(self.port, Duration::from_secs(10));
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn settings(&self) -> RedisSettings {
        RedisSettings {
            response_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            ..RedisSettings::new(self.url())
        }
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (data is gone unless persistence was asked for).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Starts a killed server again on the same port and directory (an AOF is reloaded).
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// Sends `sig` (`STOP`, `CONT`, ...) to the server process.
    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            procs::signal(c.id(), sig);
        }
    }

    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Redis Sentinel on a free loopback port, watching `master` at `primary_port` (quorum 2,
/// down after 1 s).
pub struct SentinelServer {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl SentinelServer {
    pub fn start(master: &str, primary_port: u16) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {master} 127.0.0.1 {primary_port} 2\n\
                 sentinel down-after-milliseconds {master} 1000\n\
                 sentinel failover-timeout {master} 5000\n\
                 sentinel parallel-syncs {master} 1\n",
                dir.path().display()
            ),
        )
        .expect("sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        wait_for_ping(port, Duration::from_secs(10));
        Self {
            port,
            child,
            _dir: dir,
        }
    }

    /// The primary this sentinel names now.
    pub fn primary(&self, master: &str) -> String {
        redis_cli(self.port, &["SENTINEL", "get-master-addr-by-name", master])
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(":")
    }
}

impl Drop for SentinelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A primary with two replicas and three sentinels watching it as `master` (quorum 2), every
/// replica in sync and every sentinel aware of the whole group.
pub struct SentinelGroup {
    pub primary: RedisServer,
    pub replicas: Vec<RedisServer>,
    pub sentinels: Vec<SentinelServer>,
    pub master: String,
}

impl SentinelGroup {
    pub async fn start(master: &str) -> Self {
        let primary = RedisServer::start();
        let port = primary.port.to_string();
        let replicas: Vec<RedisServer> = (0..2)
            .map(|_| RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]))
            .collect();
        for r in &replicas {
            eventually(Duration::from_secs(10), "a replica in sync", || async {
                r.cli(&["INFO", "replication"])
                    .contains("master_link_status:up")
            })
            .await;
        }
        let sentinels: Vec<SentinelServer> = (0..3)
            .map(|_| SentinelServer::start(master, primary.port))
            .collect();
        eventually(
            Duration::from_secs(30),
            "the sentinels see the group",
            || async {
                sentinels.iter().all(|s| {
                    let m = redis_cli(s.port, &["SENTINEL", "master", master]);
                    let lines: Vec<&str> = m.lines().collect();
                    let field = |name: &str| {
                        lines
                            .iter()
                            .position(|l| *l == name)
                            .and_then(|i| lines.get(i + 1))
                            .map(|v| v.trim().to_string())
                            .unwrap_or_default()
                    };
                    field("num-slaves") == "2" && field("num-other-sentinels") == "2"
                })
            },
        )
        .await;
        Self {
            primary,
            replicas,
            sentinels,
            master: master.to_string(),
        }
    }

    /// `127.0.0.1:PORT` of each sentinel.
    pub fn addrs(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect()
    }

    /// The same, as `OKQ_REDIS__SENTINELS` takes it.
    pub fn env_list(&self) -> String {
        let quoted: Vec<String> = self.addrs().iter().map(|a| format!("\"{a}\"")).collect();
        format!("[{}]", quoted.join(","))
    }

    /// SIGKILLs the primary and waits until the sentinels name another; returns how long the
    /// promotion took.
    pub async fn kill_primary(&mut self) -> Duration {
        let old = self.sentinels[0].primary(&self.master);
        let killed = Instant::now();
        self.primary.kill();
        eventually(Duration::from_secs(30), "a replica promoted", || async {
            let now = self.sentinels[0].primary(&self.master);
            !now.is_empty() && now != old
        })
        .await;
        killed.elapsed()
    }
}

/// A 3-master Redis Cluster on loopback.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    pub fn start() -> Self {
        Self::start_shaped(0, 5000)
    }

    /// Three masters with `replicas` replicas each (every replica in sync when this returns),
    /// failing over after `node_timeout_ms`.
    pub fn start_shaped(replicas: usize, node_timeout_ms: u64) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<u16> = (0..3 * (1 + replicas))
            .map(|_| free_cluster_port())
            .collect();
        let timeout = node_timeout_ms.to_string();
        let mut children = Vec::new();
        for p in &ports {
            let node_dir: PathBuf = dir.path().join(p.to_string());
            std::fs::create_dir_all(&node_dir).unwrap();
            children.push(
                Command::new("redis-server")
                    .args([
                        "--port",
                        &p.to_string(),
                        "--bind",
                        "127.0.0.1",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        &timeout,
                        // A replica syncs at once (not after the diskless delay): one that
                        // never synced cannot be promoted.
                        "--repl-diskless-sync-delay",
                        "0",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                        "--dir",
                        &node_dir.display().to_string(),
                        "--loglevel",
                        "warning",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("redis-server"),
            );
        }
        let cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        for p in &cluster.ports {
            wait_for_ping(*p, Duration::from_secs(10));
        }
        form_cluster_with(&cluster.ports, &[], replicas);
        let deadline = Instant::now() + Duration::from_secs(30);
        for p in &cluster.ports {
            loop {
                let info = redis_cli(*p, &["INFO", "replication"]);
                if info.contains("role:master") || info.contains("master_link_status:up") {
                    break;
                }
                assert!(Instant::now() < deadline, "replica {p} never synced");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    /// SIGKILLs the node on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some(i) = self.ports.iter().position(|p| *p == port) {
            let _ = self.children[i].kill();
            let _ = self.children[i].wait();
        }
    }

    /// The port of the master serving `key`'s slot, as the node on `ask` sees it.
    pub fn master_of(&self, ask: u16, key: &str) -> Option<u16> {
        let slot: u16 = redis_cli(ask, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .ok()?;
        redis_cli(ask, &["CLUSTER", "NODES"]).lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 9 || !f[2].contains("master") || f[2].contains("fail") {
                return None;
            }
            let port: u16 = f[1].split(['@', ':']).nth(1)?.parse().ok()?;
            f[8..]
                .iter()
                .filter_map(|r| {
                    let (a, b) = r.split_once('-').unwrap_or((r, r));
                    Some((a.parse::<u16>().ok()?, b.parse::<u16>().ok()?))
                })
                .any(|(a, b)| a <= slot && slot <= b)
                .then_some(port)
        })
    }

    pub fn settings(&self) -> RedisSettings {
        RedisSettings {
            url: self
                .ports
                .iter()
                .map(|p| format!("redis://127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(","),
            cluster: true,
            response_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            ..RedisSettings::default()
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn redis_cli(port: u16, args: &[&str]) -> String {
    redis_cli_with(&[], port, args)
}

/// `redis-cli` with connection options first (`--tls --cacert ...`).
pub fn redis_cli_with(options: &[String], port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(options)
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Makes the running nodes on `ports` one cluster of masters and waits until it is ready;
/// `options` are redis-cli's connection options (TLS).
pub fn form_cluster(ports: &[u16], options: &[String]) {
    form_cluster_with(ports, options, 0)
}

/// Forms a cluster of `ports` with `replicas` replicas per master.
pub fn form_cluster_with(ports: &[u16], options: &[String], replicas: usize) {
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let replicas = replicas.to_string();
    let out = Command::new("redis-cli")
        .args(options)
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", &replicas, "--cluster-yes"])
        .output()
        .expect("redis-cli");
    assert!(
        out.status.success(),
        "cluster create failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ports
        .iter()
        .all(|p| redis_cli_with(options, *p, &["cluster", "info"]).contains("cluster_state:ok"))
    {
        assert!(Instant::now() < deadline, "cluster did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_ping(port: u16, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            if s.write_all(b"PING\r\n").is_ok() {
                let mut buf = [0u8; 16];
                if let Ok(n) = s.read(&mut buf)
                    && buf[..n].starts_with(b"+PONG")
                {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "redis-server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .unwrap()
        .port()
}

/// A port that is free together with its cluster bus port (+10000).
pub fn free_cluster_port() -> u16 {
    loop {
        let p = 15000 + fastrand::u16(0..10000);
        let a = TcpListener::bind(("127.0.0.1", p));
        let b = TcpListener::bind(("127.0.0.1", p + 10000));
        if a.is_ok() && b.is_ok() {
            return p;
        }
    }
}

/// Queue settings scaled down for tests: short backoff, short lease.
pub fn test_config(name: &str) -> QueueConfig {
    let mut cfg = QueueConfig::new(name);
    cfg.retry.base_delay = Duration::from_millis(20);
    cfg.retry.max_delay = Duration::from_millis(100);
    cfg.retry.max_attempts = 5;
    cfg
}

pub fn test_options() -> WorkerOptions {
    WorkerOptions {
        concurrency: 20,
        batch: 20,
        lease: Duration::from_millis(1500),
        poll_interval: Duration::from_millis(200),
        reap_interval: Duration::from_millis(200),
        trim_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(2),
        ack_linger: Duration::from_millis(2),
    }
}

/// Workers running in this process.
pub struct Fleet {
    pub runtime: Runtime,
    stop: Option<oneshot::Sender<()>>,
    monitor: tokio::task::JoinHandle<()>,
}

impl Fleet {
    /// Stops like SIGTERM does: no new claims, running jobs get the grace period, then the
    /// runtime gives back what is left.
    pub async fn stop(mut self) -> ShutdownReport {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.monitor).await;
        self.runtime.shutdown().await
    }
}

/// Starts `loops` worker loops running `handler` under one `Monitor`.
pub async fn start_fleet<J, F, Fut, R>(
    queue: &Queue,
    opts: WorkerOptions,
    loops: usize,
    handler: F,
) -> Fleet
where
    J: DeserializeOwned + Send + Sync + 'static,
    F: Fn(J, JobContext) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<R, BoxDynError>> + Send + 'static,
    R: Serialize + Send + Sync + 'static,
{
    let grace = opts.shutdown_grace;
    let runtime = queue.runtime(opts).await.expect("runtime");
    let backend = runtime.backend::<J>();
    let (tx, rx) = oneshot::channel::<()>();
    let monitor = Monitor::new()
        .register_n(loops, move |i, r| {
            let h = handler.clone();
            WorkerBuilder::new(format!("test-{i}-{r}"))
                .backend(backend.clone())
                .build(move |job: J, ctx: JobContext| h(job, ctx))
        })
        .should_restart(|_, _| true)
        .shutdown_timeout(grace);
    let handle = tokio::spawn(async move {
        let _ = monitor
            .run_with_signal(async move {
                let _ = rx.await;
                Ok(())
            })
            .await;
    });
    Fleet {
        runtime,
        stop: Some(tx),
        monitor: handle,
    }
}

/// Polls `check` until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The longest a test waits for one job to finish (an upper bound only: [`Queue::wait`]
/// returns as soon as the job ends).
pub const JOB_LIMIT: Duration = Duration::from_secs(30);

/// Waits for job `id` to finish and asserts it ended in `state`; when it did not, the message
/// says how it ended and what `log` gives (a worker's log, say).
pub async fn ends_in(
    queue: &Queue,
    id: &str,
    state: JobState,
    log: impl FnOnce() -> String,
) -> JobRecord {
    let r = queue
        .wait(id, JOB_LIMIT)
        .await
        .unwrap_or_else(|e| panic!("waiting for job {id}: {e}"));
    assert_eq!(
        r.state,
        state,
        "job {id} is {:?}, not {state:?}: {:?}\n{}",
        r.state,
        r.last_error,
        log()
    );
    r
}
