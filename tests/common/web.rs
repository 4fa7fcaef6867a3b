//! `okra-admin web`, the real binary, on a free port; stopped by PID when dropped.

use std::path::Path;
use std::process::Command;

use super::RedisServer;
use super::procs::{Proc, spawn};

pub struct Web {
    pub proc: Proc,
    pub url: String,
}

impl Web {
    /// Starts `okra-admin web --addr 127.0.0.1:0` with extra flags and environment.
    pub fn start(
        dir: &Path,
        server: &RedisServer,
        queue: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_okra-admin"));
        cmd.args([
            "--redis-url",
            &server.url(),
            "--queue",
            queue,
            "web",
            "--addr",
            "127.0.0.1:0",
        ])
        .args(args)
        .env_remove("OKQ_CONFIG")
        .envs(env.iter().copied());
        let mut proc = spawn(&mut cmd, dir.join("web.log"), true);
        let line = proc.first_line();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "okra-admin web did not say where it serves: {line:?}\n{}",
                    proc.log_text()
                )
            })
            .to_string();
        Self { proc, url }
    }
}

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the first `name="csrf"` hidden field on a page.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &page[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}
