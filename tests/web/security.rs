//! The dashboard's doors, on the real binary and a real Redis: a request naming a foreign
//! `Host` (DNS rebinding) gets nothing and a change sent from another site changes nothing;
//! logins are rate-limited per client and overall, failed ones summarised per window apart
//! from the operators' entries (a flood cannot evict them); sessions are random, expire, and
//! die at log-out; a token file others can read is refused; find keeps what is typed out of
//! URLs and logs. Every request goes to a loopback IP literal; `Host` is set by hand.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use okra_queue::ident::IndexKey;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue};

use super::common::web::{Web, csrf_of, private_file, raw};
use super::common::*;
use super::{get, get_as, post, post_as};

/// A queue that exists (the dashboard serves only registered queues), with one job.
async fn registered(server: &RedisServer, name: &str, index_key: Option<&str>) -> Queue {
    let mut cfg = test_config(name);
    cfg.index_key = index_key.map(|k| IndexKey::new(k).unwrap());
    let q = Queue::connect(&server.settings(), cfg).await.unwrap();
    q.enqueue(
        &OkraJob::new("bvn_verify", &[("bvn", "22212340000")]).unwrap(),
        EnqueueOptions::delay(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    q
}

fn port_of(url: &str) -> &str {
    url.rsplit(':').next().unwrap()
}

#[tokio::test]
async fn a_foreign_host_gets_nothing_and_a_cross_site_post_changes_nothing() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = registered(&server, "door", None).await;
    let web = Web::start(dir.path(), &server, "door", &[], &[]);
    let port = port_of(&web.url);
    let own = format!("127.0.0.1:{port}");
    let evil = format!("evil.example:{port}");

    // A rebinding page reaches the server under its own name: no page, no CSRF token.
    for path in [
        "/",
        "/login",
        "/q/door/find",
        "/q/door/jobs",
        "/static/app.js",
    ] {
        let r = raw(&web.url, "GET", path, &[("Host", &evil)], "");
        assert_eq!(r.status, 421, "{path}: {}", r.body);
        assert!(!r.body.contains("csrf"), "{path}: {}", r.body);
    }
    let r = raw(&web.url, "GET", "/", &[], "");
    assert_eq!(r.status, 421, "no Host at all");
    // Its own names are served.
    for host in [own.clone(), format!("localhost:{port}"), "LOCALHOST".into()] {
        assert_eq!(
            raw(&web.url, "GET", "/", &[("Host", &host)], "").status,
            200,
            "{host}"
        );
    }
    let csrf = csrf_of(&raw(&web.url, "GET", "/", &[("Host", &own)], "").body);
    let form = format!("csrf={csrf}");

    // A change sent from another site, even with the right token, changes nothing.
    let evil_origin = format!("http://evil.example:{port}");
    for headers in [
        vec![("Host", own.as_str()), ("Origin", evil_origin.as_str())],
        vec![("Host", own.as_str()), ("Origin", "null")],
        vec![("Host", own.as_str()), ("Sec-Fetch-Site", "cross-site")],
        vec![("Host", own.as_str()), ("Sec-Fetch-Site", "same-site")],
        vec![("Host", evil.as_str()), ("Origin", evil_origin.as_str())],
    ] {
        let r = raw(&web.url, "POST", "/q/door/pause", &headers, &form);
        assert!(matches!(r.status, 403 | 421), "{headers:?}: {}", r.status);
        assert!(
            !queue.stats().await.unwrap().paused,
            "{headers:?} paused it"
        );
    }
    // Another local app (same host, another port) is another origin.
    let r = raw(
        &web.url,
        "POST",
        "/q/door/pause",
        &[("Host", &own), ("Origin", "http://127.0.0.1:3000")],
        &form,
    );
    assert_eq!(r.status, 403);
    assert!(!queue.stats().await.unwrap().paused);

    // The same page's own form, as a browser sends it, works.
    let same = format!("http://{own}");
    let r = raw(
        &web.url,
        "POST",
        "/q/door/pause",
        &[
            ("Host", &own),
            ("Origin", &same),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        &form,
    );
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(queue.stats().await.unwrap().paused);
}

/// A client whose requests come from `ip` (a loopback address: one client per address).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// One wrong login: its status and `Retry-After`.
async fn wrong_login(c: &reqwest::Client, url: &str, csrf: &str) -> (u16, Option<u64>) {
    let r = c
        .post(format!("{url}/login"))
        .form(&[("csrf", csrf), ("token", "not-the-token-000000")])
        .send()
        .await
        .unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (r.status().as_u16(), retry)
}

/// Logs `alice` in with the form and pauses the queue: two entries of the operators' trail.
/// Returns the CSRF token and her session cookie.
async fn operator_acts(url: &str, queue: &str) -> (String, String) {
    let (_, login) = get(&format!("{url}/login")).await;
    let csrf = csrf_of(&login);
    let ok = post(
        &format!("{url}/login"),
        &[("csrf", &csrf), ("token", "tok-alice-0123456789")],
    )
    .await;
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    let session = cookie.split(';').next().unwrap().to_string();
    let r = post_as(
        &format!("{url}/q/{queue}/pause"),
        Some(&session),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 303);
    (csrf, session)
}

/// `n` wrong logins from each of `clients` loopback addresses at once: how many got 401 and
/// how many 429 (each with a `Retry-After` of at most `window_s`).
async fn flood(url: &str, csrf: &str, clients: &[String], n: usize, window_s: u64) -> (u64, u64) {
    let tasks: Vec<_> = clients
        .iter()
        .map(|ip| {
            let (url, csrf, ip) = (url.to_string(), csrf.to_string(), ip.clone());
            tokio::spawn(async move {
                let c = client_from(&ip);
                let mut got = Vec::new();
                for _ in 0..n {
                    got.push(wrong_login(&c, &url, &csrf).await);
                }
                got
            })
        })
        .collect();
    let (mut failed, mut refused) = (0, 0);
    for task in tasks {
        for (status, retry) in task.await.unwrap() {
            match status {
                401 => failed += 1,
                429 => {
                    let secs = retry.expect("a 429 says when to retry");
                    assert!((1..=window_s).contains(&secs), "Retry-After {secs}");
                    refused += 1;
                }
                other => panic!("a wrong login answered {other}"),
            }
        }
    }
    (failed, refused)
}

fn token_file(dir: &std::path::Path) -> String {
    let file = dir.join("tokens");
    private_file(&file, "alice tok-alice-0123456789\n");
    file.to_str().unwrap().to_string()
}

/// The operator's entries in the trail, newest first.
async fn operators_entries(queue: &Queue) -> Vec<(String, String, String)> {
    queue
        .audit_log(std::time::UNIX_EPOCH, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "alice")
        .map(|e| (e.action, e.result, e.queue))
        .collect()
}

#[tokio::test]
async fn a_flood_of_failed_logins_is_refused_and_leaves_the_operators_trail_alone() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = registered(&server, "fl", None).await;
    let tokens = token_file(dir.path());
    let web = Web::start(dir.path(), &server, "fl", &["--token-file", &tokens], &[]);
    let (csrf, _) = operator_acts(&web.url, "fl").await;
    let before = operators_entries(&queue).await;
    assert_eq!(before.len(), 2);

    // 3,000 wrong logins from six clients at once, with the defaults (10 a minute per
    // client, 100 a minute in all): nearly all refused.
    let clients: Vec<String> = (1..=6).map(|i| format!("127.0.2.{i}")).collect();
    let (failed, refused) = flood(&web.url, &csrf, &clients, 500, 60).await;
    assert_eq!(failed + refused, 3000);
    assert!(
        failed <= 100 && refused >= 2900,
        "{failed} failed, {refused} refused"
    );
    // Not one entry in the operators' stream: it still holds exactly the operator's two.
    assert_eq!(server.cli(&["XLEN", "okq:audit"]).trim(), "2");
    assert_eq!(operators_entries(&queue).await, before);
}

#[tokio::test]
async fn logins_are_limited_per_client_and_overall_and_summarised_per_window() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = registered(&server, "lg", None).await;
    let tokens = token_file(dir.path());
    let limits = [
        "--login-limit",
        "5",
        "--login-limit-total",
        "15",
        "--login-window",
        "3s",
    ];
    let mut args = vec!["--token-file", tokens.as_str()];
    args.extend(limits);
    let web = Web::start(dir.path(), &server, "lg", &args, &[]);
    let url = web.url.clone();
    let started = Instant::now();
    let (csrf, session) = operator_acts(&url, "lg").await;

    // One client: past five tries in a window it is refused (12 quick tries span at most
    // two windows, so at least two are refused).
    let (f1, r1) = flood(&url, &csrf, &["127.0.0.2".into()], 12, 3).await;
    assert!(
        r1 >= 2,
        "one client's tries are limited: {f1} failed, {r1} refused"
    );
    // Ten other clients, four tries each (under their own limit): refused past the overall
    // limit (40 tries in at most two windows of 15).
    let others: Vec<String> = (1..=10).map(|i| format!("127.0.1.{i}")).collect();
    let (f2, r2) = flood(&url, &csrf, &others, 4, 3).await;
    assert!(r2 >= 10, "the overall limit: {f2} failed, {r2} refused");
    let (f3, r3) = flood(&url, &csrf, &others[..6], 100, 3).await;
    let (failed, refused) = (f1 + f2 + f3, r1 + r2 + r3);

    // One summary per window counts every failed and refused try.
    let summed = || async {
        let mut sums = (0, 0, 0);
        for e in queue.audit_log(std::time::UNIX_EPOCH, 1000).await.unwrap() {
            if e.action == "login-failed" {
                assert_eq!(e.actor, "unauthenticated");
                assert!(e.result.contains("failed login"), "{}", e.result);
                sums.0 += e.counts["failed"].as_u64().unwrap();
                sums.1 += e.counts["refused"].as_u64().unwrap();
                sums.2 += 1;
            }
        }
        sums
    };
    eventually(Duration::from_secs(15), "the summaries", || async {
        let s = summed().await;
        (s.0, s.1) == (failed, refused)
    })
    .await;
    let windows = started.elapsed().as_secs() / 3 + 2;
    let summaries = summed().await.2;
    assert!(
        summaries <= windows,
        "{summaries} summaries in {windows} windows"
    );
    assert_eq!(server.cli(&["XLEN", "okq:audit"]).trim(), "2");
    assert_eq!(operators_entries(&queue).await.len(), 2);
    // The audit page shows the summaries and the counts since start.
    let (status, page) = get_as(&format!("{url}/audit"), Some(&session)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(r#"data-failed-logins="{failed}""#)),
        "{page}"
    );
    assert!(page.contains("login-failed"), "{page}");
}

/// Runs a command that must refuse to start; one that serves instead is stopped (by its PID)
/// after 10 s and fails the test.
fn exits_at_once(cmd: &mut std::process::Command) -> std::process::Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "it started instead of refusing: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn sessions_are_random_expire_and_die_at_log_out_and_the_token_file_is_private() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = registered(&server, "ss", None).await;
    let token = "tok-alice-0123456789";
    let file = dir.path().join("tokens");

    // A token file others can read is refused, with one line and no token.
    std::fs::write(&file, format!("alice {token}\n")).unwrap();
    let out = exits_at_once(
        std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args([
                "--redis-url",
                &server.url(),
                "--queue",
                "ss",
                "web",
                "--token-file",
            ])
            .arg(&file),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("can be read by others (mode 0644)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains(token), "{err}");
    // A public name needs a token.
    let out = exits_at_once(
        std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--redis-url", &server.url(), "--queue", "ss", "web"])
            .args(["--public-host", "okq.example.com"]),
    );
    assert_eq!(out.status.code(), Some(2));

    private_file(&file, &format!("alice {token}\n"));
    let web = Web::start(
        dir.path(),
        &server,
        "ss",
        &[
            "--token-file",
            file.to_str().unwrap(),
            "--session-ttl",
            "4s",
        ],
        &[],
    );
    let u = |p: &str| format!("{}{p}", web.url);
    let csrf = csrf_of(&get(&u("/login")).await.1);
    let login = || async {
        let r = post(&u("/login"), &[("csrf", &csrf), ("token", token)]).await;
        assert_eq!(r.status(), 303);
        r.headers()["set-cookie"].to_str().unwrap().to_string()
    };
    let (a, b) = (login().await, login().await);
    for c in [&a, &b] {
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Max-Age=4"),
            "{c}"
        );
        assert!(!c.contains("Secure"), "plain http on loopback: {c}");
    }
    let (a, b) = (
        a.split(';').next().unwrap().to_string(),
        b.split(';').next().unwrap().to_string(),
    );
    assert_ne!(a, b, "each login is a new random session");
    // Redis keeps a hash of each id, with the session's lifetime.
    let keys = server.cli(&["--scan", "--pattern", "okq:web:session:*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for k in &keys {
        assert!(
            !a.contains(&k["okq:web:session:".len()..]),
            "the key is no cookie"
        );
        let ttl: i64 = server.cli(&["TTL", k]).trim().parse().unwrap();
        assert!((1..=4).contains(&ttl), "{ttl}");
    }
    assert_eq!(get_as(&u("/"), Some(&a)).await.0, 200);

    // Log-out kills the cookie, here and in any copy of it.
    let out = post_as(&u("/logout"), Some(&a), &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(get_as(&u("/"), Some(&a)).await.0, 303, "a dead cookie");
    let r = post_as(&u("/q/ss/pause"), Some(&a), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 401);
    assert!(!queue.stats().await.unwrap().paused);
    assert_eq!(
        get_as(&u("/"), Some(&b)).await.0,
        200,
        "the other session lives"
    );
    // And a session ends with its lifetime.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(get_as(&u("/"), Some(&b)).await.0, 303, "an expired session");
    drop(web);

    // Behind a TLS proxy with a public name: that name is served, the cookie is Secure.
    let web = Web::start(
        dir.path(),
        &server,
        "ss",
        &[
            "--token-file",
            file.to_str().unwrap(),
            "--public-host",
            "okq.example.com",
        ],
        &[],
    );
    let r = raw(
        &web.url,
        "GET",
        "/login",
        &[("Host", "okq.example.com")],
        "",
    );
    assert_eq!(r.status, 200);
    let csrf = csrf_of(&r.body);
    let r = raw(&web.url, "GET", "/login", &[("Host", "evil.example")], "");
    assert_eq!(r.status, 421);
    let r = raw(
        &web.url,
        "POST",
        "/login",
        &[
            ("Host", "okq.example.com"),
            ("Origin", "https://okq.example.com"),
        ],
        &format!("csrf={csrf}&token={token}"),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let c = r.header("set-cookie").unwrap();
    assert!(c.contains("; Secure") && c.contains("HttpOnly"), "{c}");
}

#[tokio::test]
async fn find_keeps_the_identifier_out_of_urls_answers_and_logs() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let key = "find-index-key-0123456789";
    let queue = registered(&server, "fi", Some(key)).await;
    let bvn = "22212340000";
    let id = queue
        .find_by_identity(okra_queue::ident::IdType::Bvn, bvn, 10)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let web = Web::start(
        dir.path(),
        &server,
        "fi",
        &["--read-only"],
        &[("OKQ_QUEUE__INDEX_KEY", key)],
    );
    let u = |p: &str| format!("{}{p}", web.url);

    // The form POSTs; a value in a URL is not looked up.
    let (status, form) = get(&u(&format!("/q/fi/find?by=bvn&value={bvn}"))).await;
    assert_eq!(status, 200);
    assert!(
        form.contains(r#"method="post" action="/q/fi/find""#),
        "{form}"
    );
    assert!(!form.contains(&id), "looked up from a URL:\n{form}");
    let csrf = csrf_of(&form);
    // Without the CSRF token: refused. With it: found on the answer itself, no redirect,
    // even on a read-only dashboard (finding changes nothing).
    let r = post(&u("/q/fi/find"), &[("by", "bvn"), ("value", bvn)]).await;
    assert_eq!(r.status(), 403);
    let r = post(
        &u("/q/fi/find"),
        &[("csrf", &csrf), ("by", "bvn"), ("value", bvn)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("location").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains(&id), "{page}");
    assert!(!page.contains(bvn), "the number is not shown back");
    drop(web);
    let log = std::fs::read_to_string(dir.path().join("web.log")).unwrap();
    assert!(!log.contains(bvn), "{log}");
}
