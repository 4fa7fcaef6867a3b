//! Running the real `okra-admin` and collecting what it printed.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::RedisServer;

/// Exit code, stdout and stderr of one `okra-admin` run.
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\nstderr: {}", self.out, self.err))
    }
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "stdout: {}\nstderr: {}", self.out, self.err);
        self
    }
}

/// Runs `cmd` with `input` on its standard input and collects what it printed.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An `okra-admin` command on `queue` of `server`, with no settings file.
pub fn command(server: &RedisServer, queue: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_okra-admin"));
    cmd.args(["--redis-url", &server.url(), "--queue", queue])
        .args(args)
        .env_remove("OKQ_CONFIG");
    cmd
}

pub fn admin_with_stdin(server: &RedisServer, queue: &str, args: &[&str], stdin: &str) -> Run {
    run_with_input(&mut command(server, queue, args), stdin)
}

pub fn admin(server: &RedisServer, queue: &str, args: &[&str]) -> Run {
    admin_with_stdin(server, queue, args, "")
}

/// `okra-admin` with extra environment variables.
pub fn admin_with_env(
    server: &RedisServer,
    queue: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Run {
    run_with_input(command(server, queue, args).envs(env.iter().copied()), "")
}
