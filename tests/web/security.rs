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
        &OkraJob::BvnVerify {
            bvn: "22212340000".into(),
        },
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
    for path in ["/", "/login", "/q/door/find", "/q/door/jobs", "/static/app.js"] {
        let r = raw(&web.url, "GET", path, &[("Host", &evil)], "");
        assert_eq!(r.status, 421, "{path}: {}", r.body);
        assert!(!r.body.contains("csrf"), "{path}: {}", r.body);
    }
    let r = raw(&web.url, "GET", "/", &[], "");
    assert_eq!(r.status, 421, "no Host at all");
    // Its own names are served.
    for host in [own.clone(), format!("localhost:{port}"), "LOCALHOST".into()] {
        assert_eq!(raw(&web.url, "GET", "/", &[("Host", &host)], "").status, 200, "{host}");
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
        assert!(!queue.stats().await.unwrap().paused, "{headers:?} paused it");
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
        &[("Host", &own), ("Origin", &same), ("Sec-Fetch-Site", "same-origin")],
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

#[tokio::test]
async fn failed_logins_are_limited_summarised_and_never_evict_an_operator() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = registered(&server, "lg", None).await;
    let file = dir.path().join("tokens");
    private_file(&file, "alice tok-alice-0123456789\n");
    let web = Web::start(
        dir.path(),
        &server,
        "lg",
        &[
            "--token-file",
            file.to_str().unwrap(),
            "--login-limit",
            "5",
            "--login-limit-total",
            "15",
            "--login-window",
            "3s",
        ],
        &[],
    );
    let url = web.url.clone();
    let started = Instant::now();

    // An operator logs in and pauses: two entries in the trail.
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
    let r = post_as(&format!("{url}/q/lg/pause"), Some(&session), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);

    let (mut failed, mut refused) = (0u64, 0u64);
    let mut tally = |(status, retry): (u16, Option<u64>)| {
        match status {
            401 => failed += 1,
            429 => {
                let secs = retry.expect("a 429 says when to retry");
                assert!((1..=3).contains(&secs), "Retry-After {secs}");
                refused += 1;
            }
            other => panic!("a wrong login answered {other}"),
        }
        status
    };
    // One client: past five tries in a window it is refused (12 tries span at most two).
    let one = client_from("127.0.0.2");
    let mut mine = 0;
    for _ in 0..12 {
        mine += u32::from(tally(wrong_login(&one, &url, &csrf).await) == 429);
    }
    assert!(mine >= 2, "one client's tries are limited");
    // Everyone together: ten other clients, four tries each (under their own limit), are
    // refused past the overall limit.
    let mut others = 0;
    for i in 1..=10 {
        let c = client_from(&format!("127.0.1.{i}"));
        for _ in 0..4 {
            others += u32::from(tally(wrong_login(&c, &url, &csrf).await) == 429);
        }
    }
    assert!(others >= 10, "the overall limit: {others} refused");

    // A flood: 3,000 more from six clients at once.
    let flood: Vec<_> = (0..6)
        .map(|i| {
            let (url, csrf) = (url.clone(), csrf.clone());
            tokio::spawn(async move {
                let c = client_from(&format!("127.0.2.{}", i + 1));
                let mut got = Vec::new();
                for _ in 0..500 {
                    got.push(wrong_login(&c, &url, &csrf).await);
                }
                got
            })
        })
        .collect();
    for task in flood {
        for answer in task.await.unwrap() {
            tally(answer);
        }
    }
    assert_eq!(failed + refused, 12 + 40 + 3000);
    assert!(refused > 2900, "{refused} refused");

    // Summaries, one per window, count every failed and refused try.
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
    assert!(summaries <= windows, "{summaries} summaries in {windows} windows");

    // The operators' stream holds the operator's two entries and nothing else.
    assert_eq!(server.cli(&["XLEN", "okq:audit"]).trim(), "2");
    let ops: Vec<(String, String)> = queue
        .audit_log(std::time::UNIX_EPOCH, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor == "alice")
        .map(|e| (e.action, e.result))
        .collect();
    let e = |a: &str| (a.to_string(), "ok".to_string());
    assert_eq!(ops, [e("pause"), e("login")]);
    // The audit page shows the counts since start.
    let (status, page) = get_as(&format!("{url}/audit"), Some(&session)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!(r#"data-failed-logins="{failed}""#)),
        "{page}"
    );
    assert!(page.contains("login-failed"), "{page}");
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
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .args(["--redis-url", &server.url(), "--queue", "ss", "web", "--token-file"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("can be read by others (mode 0644)"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains(token), "{err}");
    // A public name needs a token.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .args(["--redis-url", &server.url(), "--queue", "ss", "web"])
        .args(["--public-host", "okq.example.com"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    private_file(&file, &format!("alice {token}\n"));
    let web = Web::start(
        dir.path(),
        &server,
        "ss",
        &["--token-file", file.to_str().unwrap(), "--session-ttl", "4s"],
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
        assert!(!a.contains(&k["okq:web:session:".len()..]), "the key is no cookie");
        let ttl: i64 = server.cli(&["TTL", k]).trim().parse().unwrap();
        assert!((1..=4).contains(&ttl), "{ttl}");
    }
    assert_eq!(get_as(&u("/"), Some(&a)).await.0, 200);

    // Log-out kills the cookie, here and in any copy of it.
    let out = post_as(&u("/logout"), Some(&a), &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(get_as(&u("/"), Some(&a)).await.0, 303, "a dead cookie");
    let r = post_as(&u("/q/ss/pause"), Some(&a), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 401);
    assert!(!queue.stats().await.unwrap().paused);
    assert_eq!(get_as(&u("/"), Some(&b)).await.0, 200, "the other session lives");
    // And a session ends with its lifetime.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    assert_eq!(get_as(&u("/"), Some(&b)).await.0, 303, "an expired session");
    drop(web);

    // Behind a TLS proxy with a public name: that name is served, the cookie is Secure.
    let web = Web::start(
        dir.path(),
        &server,
        "ss",
        &["--token-file", file.to_str().unwrap(), "--public-host", "okq.example.com"],
        &[],
    );
    let r = raw(&web.url, "GET", "/login", &[("Host", "okq.example.com")], "");
    assert_eq!(r.status, 200);
    let csrf = csrf_of(&r.body);
    let r = raw(&web.url, "GET", "/login", &[("Host", "evil.example")], "");
    assert_eq!(r.status, 421);
    let r = raw(
        &web.url,
        "POST",
        "/login",
        &[("Host", "okq.example.com"), ("Origin", "https://okq.example.com")],
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
    let id = queue.find_by_identity(okra_queue::ident::IdType::Bvn, bvn, 10)
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
    assert!(form.contains(r#"method="post" action="/q/fi/find""#), "{form}");
    assert!(!form.contains(&id), "looked up from a URL:\n{form}");
    let csrf = csrf_of(&form);
    // Without the CSRF token: refused. With it: found on the answer itself, no redirect,
    // even on a read-only dashboard (finding changes nothing).
    let r = post(&u("/q/fi/find"), &[("by", "bvn"), ("value", bvn)]).await;
    assert_eq!(r.status(), 403);
    let r = post(&u("/q/fi/find"), &[("csrf", &csrf), ("by", "bvn"), ("value", bvn)]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("location").is_none());
    let page = r.text().await.unwrap();
    assert!(page.contains(&id), "{page}");
    assert!(!page.contains(bvn), "the number is not shown back");
    drop(web);
    let log = std::fs::read_to_string(dir.path().join("web.log")).unwrap();
    assert!(!log.contains(bvn), "{log}");
}
