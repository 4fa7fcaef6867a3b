//! The real `okra-gateway` on a free loopback port, with a real `okra-worker` and
//! `okra-sandbox` behind it; every process stopped by PID when its handle drops. Shared by
//! `tests/gateway.rs` and `benches/gateway.rs`.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::common::RedisServer;
use super::common::cli::admin;
use super::common::procs::{Proc, spawn};

pub struct Gateway {
    pub proc: Proc,
    pub url: String,
}

/// `[gateway]` and `[queue]` of a test gateway's settings file; `extra` is appended.
pub fn config(dir: &Path, queue: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("gateway.toml");
    let text = format!(
        "[queue]\nname = \"{queue}\"\n\n[gateway]\nmax_wait = \"30s\"\n\n[log]\nlevel = \"warn\"\n{extra}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

impl Gateway {
    /// Starts `okra-gateway --addr 127.0.0.1:0` against `redis_url` with `config`.
    pub fn start(dir: &Path, redis_url: &str, config: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_okra-gateway"));
        cmd.arg("--config")
            .arg(config)
            .args(["--addr", "127.0.0.1:0", "--redis-url", redis_url])
            .env_remove("OKQ_CONFIG")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied());
        let mut proc = spawn(&mut cmd, dir.join("gateway.log"), true);
        let url = proc.served_url("okra-gateway");
        Self { proc, url }
    }

    /// `/v1/queues/{queue}/jobs` and what follows.
    pub fn jobs(&self, queue: &str) -> String {
        format!("{}/v1/queues/{queue}/jobs", self.url)
    }
}

/// A new API key's token (`okra-admin api-key create NAME --queue Q ARGS...`).
pub fn api_key(server: &RedisServer, queue: &str, name: &str, args: &[&str]) -> String {
    let mut all = vec!["--json", "api-key", "create", name];
    all.extend_from_slice(args);
    let run = admin(server, queue, &all).ok();
    let v: Value = run.json();
    assert_eq!(v["name"], name);
    v["token"].as_str().unwrap().to_string()
}
