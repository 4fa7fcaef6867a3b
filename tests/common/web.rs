//! `okra-admin web`, the real binary, on a free port; stopped by PID when dropped.

use std::path::Path;
use std::process::Command;

use reqwest::StatusCode;

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
        let url = proc.served_url("okra-admin web");
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

/// A request with the session cookie when given one.
fn with(rb: reqwest::RequestBuilder, cookie: Option<&str>) -> reqwest::RequestBuilder {
    match cookie {
        Some(c) => rb.header("cookie", c),
        None => rb,
    }
}

/// GET with the session cookie when given one: the status and the page.
pub async fn get_as(url: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let r = with(client().get(url), cookie).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// GET: the status and the page.
pub async fn get(url: &str) -> (StatusCode, String) {
    get_as(url, None).await
}

/// POST a form with the session cookie when given one.
pub async fn post_as(url: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    with(client().post(url), cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

/// POST a form.
pub async fn post(url: &str, form: &[(&str, &str)]) -> reqwest::Response {
    post_as(url, None, form).await
}

/// The value of the first `name="csrf"` hidden field on a page.
pub fn csrf_of(page: &str) -> String {
    let at = page
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token");
    let rest = &page[at + r#"name="csrf" value=""#.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Writes a file only its owner can read (a token file the dashboard accepts).
pub fn private_file(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// What a raw request got: status, the head's lines, the body.
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawAnswer {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// One HTTP/1.1 request written by hand to the dashboard at `url` (`http://127.0.0.1:PORT`,
/// an IP literal: nothing is resolved), with exactly the `headers` given (`Host` included),
/// so a test can send what a browser on another site would.
pub fn raw(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> RawAnswer {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    req.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {out:?}"));
    RawAnswer {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}
