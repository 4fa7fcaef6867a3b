//! The product's real binaries as child processes: `okra-sandbox` on a free port and
//! `okra-worker` fleets. Every process is stopped by PID when its handle drops.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process whose output goes to a log file.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `limit`) for the process to exit.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        signal(self.pid(), "TERM");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process {} did not exit after SIGTERM; log:\n{}",
                self.pid(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The first line the process prints on stdout (spawned with `keep_stdout`).
    pub fn first_line(&mut self) -> String {
        let mut line = String::new();
        self._stdout
            .as_mut()
            .expect("spawned with keep_stdout")
            .read_line(&mut line)
            .expect("stdout");
        line
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The `http://` address a server (`what`) prints in its first line on stdout.
    pub fn served_url(&mut self, what: &str) -> String {
        let line = self.first_line();
        line.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "{what} did not say where it serves: {line:?}\n{}",
                    self.log_text()
                )
            })
            .to_string()
    }
}

/// Runs `cmd` to completion; it must succeed. Returns what it printed on stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends `sig` (`TERM`, `INT`, ...) to `pid`, as an operator's `kill` would.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn spawn(cmd: &mut Command, log: PathBuf, keep_stdout: bool) -> Proc {
    let file = std::fs::File::create(&log).expect("log file");
    if keep_stdout {
        cmd.stdout(Stdio::piped());
    } else {
        cmd.stdout(file.try_clone().expect("log file"));
    }
    let mut child = cmd
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().map(BufReader::new);
    Proc {
        child,
        log,
        _stdout: stdout,
    }
}

/// `okra-sandbox` on a free loopback port.
pub struct Sandbox {
    pub proc: Proc,
    pub url: String,
}

impl Sandbox {
    /// Starts the sandbox with extra flags (e.g. `--rpm 20`, `--latency 50ms`).
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_okra-sandbox"));
        cmd.args(["--addr", "127.0.0.1:0"]).args(args);
        let mut proc = spawn(&mut cmd, dir.join("sandbox.log"), true);
        let url = proc.served_url("okra-sandbox");
        Self { proc, url }
    }

    /// What the sandbox was asked (`GET /__sandbox/stats`).
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/__sandbox/stats", self.url))
            .await
            .expect("sandbox stats")
            .json()
            .await
            .expect("sandbox stats JSON")
    }

    /// Calls received for `endpoint` (e.g. `bvn-verify`) with `identifier`.
    pub async fn calls(&self, endpoint: &str, identifier: &str) -> u64 {
        self.stats().await["by_call"][format!("{endpoint} {identifier}")]
            .as_u64()
            .unwrap_or(0)
    }
}

/// Worker settings for tests: short delays, small budget. `{queue}` and `{rpm}` are filled in.
pub const WORKER_CONFIG: &str = r#"
[queue]
name = "{queue}"

[retry]
max_attempts = 3
base_delay = "50ms"
max_delay = "200ms"
retry_window = "10m"
rate_limit_delay = "{rate_limit_delay}"
okra_timeout_delay = "100ms"

[worker]
concurrency = {concurrency}
batch = 20
lease = "3s"
poll_interval = "200ms"
reap_interval = "200ms"
trim_interval = "1s"
shutdown_grace = "{grace}"

[okra]
timeout = "{okra_timeout}"
requests_per_minute = {rpm}
drain_guard = {drain_guard}
# The tests' answer deadline (the default is 2m): a lookup's "no identity" after an uncertain
# call counts a second after it.
answer_deadline = "1s"

[log]
level = "info"
"#;

/// Options for one `okra-worker` process.
pub struct WorkerSpec<'a> {
    pub queue: &'a str,
    pub rpm: u32,
    pub rate_limit_delay: &'a str,
    pub grace: &'a str,
    /// `--metrics-addr`, when set.
    pub metrics_addr: Option<String>,
    pub concurrency: usize,
    pub drain_guard: u32,
    /// `OKRA_SECRET_KEY`.
    pub secret: &'a str,
    /// `okra.timeout`.
    pub okra_timeout: &'a str,
    /// Extra environment variables.
    pub env: Vec<(&'a str, String)>,
    /// A program (and its arguments) the worker runs under: the bench's instruction counts
    /// run it under valgrind.
    pub under: Vec<String>,
}

impl Default for WorkerSpec<'_> {
    fn default() -> Self {
        Self {
            queue: "identity",
            rpm: 0,
            rate_limit_delay: "1s",
            grace: "3s",
            metrics_addr: None,
            concurrency: 20,
            drain_guard: 20,
            secret: "sk_test_never_logged_42",
            okra_timeout: "500ms",
            env: Vec::new(),
            under: Vec::new(),
        }
    }
}

/// Starts `okra-worker` number `n` against `redis_url` and the sandbox at `okra_url`.
pub fn start_worker(
    dir: &Path,
    n: usize,
    redis_url: &str,
    okra_url: &str,
    spec: &WorkerSpec,
) -> Proc {
    let config = dir.join(format!("worker-{n}.toml"));
    let text = WORKER_CONFIG
        .replace("{queue}", spec.queue)
        .replace("{rpm}", &spec.rpm.to_string())
        .replace("{rate_limit_delay}", spec.rate_limit_delay)
        .replace("{grace}", spec.grace)
        .replace("{concurrency}", &spec.concurrency.to_string())
        .replace("{drain_guard}", &spec.drain_guard.to_string())
        .replace("{okra_timeout}", spec.okra_timeout);
    std::fs::write(&config, text).expect("worker config");
    let worker = env!("CARGO_BIN_EXE_okra-worker");
    let mut cmd = match spec.under.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(worker);
            c
        }
        None => Command::new(worker),
    };
    cmd.arg("--config")
        .arg(&config)
        .args(["--redis-url", redis_url, "--log-format", "json"])
        .env("OKRA_SECRET_KEY", spec.secret)
        .env("OKQ_OKRA__BASE_URL", okra_url)
        .env_remove("RUST_LOG")
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    if let Some(addr) = &spec.metrics_addr {
        cmd.args(["--metrics-addr", addr]);
    }
    spawn(&mut cmd, dir.join(format!("worker-{n}.log")), false)
}
