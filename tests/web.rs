//! `okra-admin web` over HTTP: every route on the real binary against a real Redis with dead
//! letters made by a real fleet. Security (loopback only without a token, bearer and cookie,
//! CSRF, read-only, headers), filters, paging, masking, the bulk requeue through its
//! confirmation, jobs, find and controls; named tokens as the audit trail's actors, erasing a
//! person through its confirmation, the audit page. `web/security.rs`: the front door (Host,
//! Origin), login limits and the audit trail, sessions, the token file, find by POST;
//! `web/masking.rs`: profiles masked on the job page and in `job show`, revealed only with an
//! audit entry; `web/api_keys.rs`: the API keys page and revoking a key.

#[path = "web/api_keys.rs"]
mod api_keys;
mod common;
#[path = "web/masking.rs"]
mod masking;
#[path = "web/security.rs"]
mod security;

use std::time::Duration;

use common::seed::seed;
use common::web::{Web, client, csrf_of, get, get_as, post, post_as, private_file};
use common::*;
use okra_queue::ident::IndexKey;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, JobState, Queue};
use reqwest::StatusCode;

const INDEX_KEY: &str = "web-index-key-0123456789";

/// The id of the first dead letter a page links to.
fn first_letter(page: &str, queue: &str) -> String {
    let link = format!(r#"href="/q/{queue}/dead/01"#);
    let at = page.find(&link).expect("a link to a dead letter") + link.len() - 2;
    page[at..at + 26].to_string()
}

#[tokio::test]
async fn pages_filters_masking_bulk_requeue_jobs_find_and_controls() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = seed(&server, "web").await;
    let mut web = Web::start(
        dir.path(),
        &server,
        "web",
        &[],
        &[("OKQ_QUEUE__INDEX_KEY", INDEX_KEY)],
    );
    let u = |p: &str| format!("{}{p}", web.url);

    // Overview, with the security headers every answer carries.
    let r = client().get(u("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["server-timing"].to_str().unwrap().starts_with("app;dur="));
    let page = r.text().await.unwrap();
    assert!(page.contains(r#"id="queue-web""#), "{page}");
    assert!(page.contains(r#"data-refresh="/fragment/overview""#));
    assert!(!page.contains("<script>"), "no inline script");
    assert!(
        page.contains("last hour: <b>45</b> attempts, <b>45</b> failed"),
        "{page}"
    );
    let minutes = queue.throughput(60).await.unwrap();
    assert_eq!(minutes.len(), 60);
    assert_eq!(minutes.iter().map(|m| m.processed).sum::<u64>(), 45);
    let (s, frag) = get(&u("/fragment/overview")).await;
    assert_eq!(s, 200);
    assert!(
        frag.contains(r#"data-count="dead""#) && !frag.contains("<html"),
        "{frag}"
    );
    // The Okra account's spend, today and over 30 days, from the ledger the workers keep.
    let account = okra_queue::rdb::Account::new(
        queue.rdb().conn(),
        okra_queue::rdb::AccountLimit {
            name: "default".into(),
            limit: 0,
            window: Duration::from_secs(61),
        },
    );
    let now = okra_queue::job::now_ms();
    for (ms, what) in [
        (now, okra_queue::rdb::Spent::Paid),
        (now, okra_queue::rdb::Spent::Paid),
        (now, okra_queue::rdb::Spent::SavedReuse),
        (now - 3 * 86_400_000, okra_queue::rdb::Spent::Paid),
    ] {
        account
            .spend_add(ms, "bvn_verify", what, 1, 0.1)
            .await
            .unwrap();
    }
    let (_, frag) = get(&u("/fragment/overview")).await;
    assert!(frag.contains(r#"data-spend="today">2<"#), "{frag}");
    assert!(frag.contains(r#"data-spend="last 30 days">3<"#), "{frag}");
    assert!(
        frag.contains("1 (0 lookup, 1 reuse)") && frag.contains("0.40"),
        "{frag}"
    );

    // Dead letters: total, filters, paging, masking.
    let (s, list) = get(&u("/q/web/dead")).await;
    assert_eq!(s, 200);
    assert!(list.contains(r#"data-total="45""#), "{list}");
    for i in 0..30 {
        assert!(
            !list.contains(&format!("222{i:04}0601")),
            "a BVN shown unmasked"
        );
    }
    let (_, flagged) = get(&u("/q/web/dead?class=flagged_user")).await;
    assert!(flagged.contains(r#"data-total="30""#));
    assert_eq!(flagged.matches("/q/web/dead/01").count(), 30);
    let (_, two) = get(&u("/q/web/dead?class=not_found&kind=nin_verify")).await;
    assert_eq!(two.matches("/q/web/dead/01").count(), 10);
    assert!(
        !two.contains("data-total") && two.contains("count them"),
        "{two}"
    );
    let (_, counted) = get(&u("/q/web/dead?class=not_found&kind=nin_verify&count=1")).await;
    assert!(counted.contains(r#"data-total="10""#), "{counted}");
    let (_, past) = get(&u("/q/web/dead?page=2")).await;
    assert!(past.contains("Page 2 is past the end"), "{past}");
    let (s, _) = get(&u("/q/web/dead?status=abc")).await;
    assert_eq!(s, 400);
    let (_, summary) = get(&u("/q/web/dead/summary")).await;
    for (class, n) in [("flagged_user", 30), ("not_found", 10), ("server_error", 5)] {
        assert!(
            summary.contains(&format!(">{class}</a></td><td class=\"n\">{n}<")),
            "{class}: {summary}"
        );
    }
    let letter = first_letter(&flagged, "web");
    let (s, shown) = get(&u(&format!("/q/web/dead/{letter}"))).await;
    assert_eq!(s, 200);
    assert!(
        shown.contains("FLAGGED_USER") && shown.contains("*******0601"),
        "{shown}"
    );
    assert!(!shown.contains("2220"), "masked payload and body: {shown}");

    // A bulk requeue goes through its confirmation, which shows the exact count and filter.
    let (s, confirm) = get(&u("/q/web/dead/confirm?action=requeue&class=not_found")).await;
    assert_eq!(s, 200);
    assert!(
        confirm.contains(r#"data-count="10""#) && confirm.contains("class not_found"),
        "{confirm}"
    );
    let csrf = csrf_of(&confirm);
    let bulk = [
        ("csrf", csrf.as_str()),
        ("action", "requeue"),
        ("class", "not_found"),
    ];
    let forged = post(&u("/q/web/dead/bulk"), &bulk[1..]).await;
    assert_eq!(forged.status(), 403, "no CSRF token, no action");
    let wrong = post(
        &u("/q/web/dead/bulk"),
        &[
            ("csrf", "0000"),
            ("action", "requeue"),
            ("class", "not_found"),
        ],
    )
    .await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(queue.stats().await.unwrap().dead, 45);
    let done = post(&u("/q/web/dead/bulk"), &bulk).await;
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains(r#"data-changed="10""#));
    assert_eq!(queue.stats().await.unwrap().dead, 35);

    // One letter: purge.
    let r = post(
        &u(&format!("/q/web/dead/{letter}/purge")),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(queue.state(&letter).await.unwrap(), None);

    // Jobs: a scheduled job is listed, run now, then a new one cancelled; a running one refused.
    let mut cfg = test_config("web");
    cfg.index_key = Some(IndexKey::new(INDEX_KEY).unwrap());
    let producer = Queue::connect(&server.settings(), cfg).await.unwrap();
    let later = || EnqueueOptions::delay(Duration::from_secs(3600)).idempotency_key("order-9");
    let bvn = OkraJob::new("bvn_verify", &[("bvn", "22299990000")]).unwrap();
    let id = producer.enqueue(&bvn, later()).await.unwrap().id;
    let (_, jobs) = get(&u("/q/web/jobs?state=scheduled")).await;
    assert!(
        jobs.contains(&format!(r#"data-job="{id}""#)) && jobs.contains("Run now"),
        "{jobs}"
    );
    let r = post(&u(&format!("/q/web/job/{id}/run-now")), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(queue.state(&id).await.unwrap(), Some(JobState::Ready));
    let r = post(&u(&format!("/q/web/job/{id}/cancel")), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(queue.state(&id).await.unwrap(), Some(JobState::Cancelled));
    let r = post(&u(&format!("/q/web/job/{id}/cancel")), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 409, "cancelled already");
    let (s, shown) = get(&u(&format!("/q/web/job/{id}"))).await;
    assert_eq!(s, 200);
    assert!(
        shown.contains("cancelled") && !shown.contains("22299990000"),
        "{shown}"
    );
    let (_, listed) = get(&u("/q/web/jobs?state=cancelled")).await;
    assert!(listed.contains(&id));

    // Find by idempotency key and by BVN (POSTed); the BVN is never shown back.
    let again = producer.enqueue(&bvn, later()).await.unwrap().id;
    let find = |by: &'static str, value: &'static str| {
        let csrf = csrf.clone();
        let url = u("/q/web/find");
        async move {
            let r = post(&url, &[("csrf", &csrf), ("by", by), ("value", value)]).await;
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let found = find("key", "order-9").await;
    assert!(found.contains(&again), "{found}");
    let found = find("bvn", "22299990000").await;
    assert!(found.contains(&id) && found.contains(&again), "{found}");
    assert!(
        !found.contains("22299990000"),
        "the identifier is not echoed"
    );
    let none = find("bvn", "22211110000").await;
    assert!(none.contains("No job found"));

    // Controls.
    let r = post(&u("/q/web/pause"), &[("csrf", &csrf)]).await;
    assert_eq!(
        (r.status(), r.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/")
    );
    assert!(queue.stats().await.unwrap().paused);
    let (_, page) = get(&u("/")).await;
    assert!(page.contains(r#"data-state="paused""#) && page.contains("Resume"));
    post(&u("/q/web/resume"), &[("csrf", &csrf)]).await;
    assert!(!queue.stats().await.unwrap().paused);
    queue.throttle(Duration::from_secs(60)).await.unwrap();
    let (_, page) = get(&u("/")).await;
    assert!(page.contains(r#"data-state="throttled""#), "{page}");
    post(&u("/q/web/unthrottle"), &[("csrf", &csrf)]).await;
    assert_eq!(queue.stats().await.unwrap().throttled_ms, 0);

    // Unknown queues and static files.
    let (s, _) = get(&u("/q/nope/dead")).await;
    assert_eq!(s, 404);
    let r = client().get(u("/static/app.js")).send().await.unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    // SIGTERM stops it cleanly.
    let status = web.proc.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_token_a_session_cookie_and_read_only() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = seed(&server, "sec").await;

    // Off loopback, no token: refused (a usage error), and a short token too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .args([
            "--redis-url",
            &server.url(),
            "--queue",
            "sec",
            "web",
            "--addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("without --token-file"));
    let short = dir.path().join("short");
    private_file(&short, "abc\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .args([
            "--redis-url",
            &server.url(),
            "web",
            "--token-file",
            short.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let token = "s3cret-token-0123456789";
    let file = dir.path().join("token");
    private_file(&file, &format!("{token}\n"));
    let web = Web::start(
        dir.path(),
        &server,
        "sec",
        &["--token-file", file.to_str().unwrap()],
        &[],
    );
    let u = |p: &str| format!("{}{p}", web.url);
    let r = client().get(u("/")).send().await.unwrap();
    assert_eq!(
        (r.status(), r.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );
    assert_eq!(
        client()
            .get(u("/q/sec/dead"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
    assert_eq!(post(&u("/q/sec/pause"), &[]).await.status(), 401);
    assert_eq!(
        client()
            .get(u("/static/app.css"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = client()
        .get(u("/q/sec/dead"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        !r.text().await.unwrap().contains(token),
        "no secret in a page"
    );
    let r = client()
        .get(u("/"))
        .bearer_auth("not-the-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // The login form sets an HttpOnly, SameSite=Strict cookie that is not the token.
    let (_, login) = get(&u("/login")).await;
    let csrf = csrf_of(&login);
    let bad = post(&u("/login"), &[("csrf", &csrf), ("token", "wrong")]).await;
    assert_eq!(bad.status(), 401);
    let ok = post(&u("/login"), &[("csrf", &csrf), ("token", token)]).await;
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains(token), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_string();
    let session = Some(session.as_str());
    let (status, page) = get_as(&u("/"), session).await;
    assert_eq!(status, 200);
    assert!(page.contains(r#"action="/logout""#), "a log-out button");
    // A POST with the cookie but without the CSRF token is refused.
    let r = post_as(&u("/q/sec/pause"), session, &[("x", "1")]).await;
    assert_eq!(r.status(), 403);
    let r = post_as(&u("/q/sec/pause"), session, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert!(queue.stats().await.unwrap().paused);
    queue.resume().await.unwrap();
    let out = post_as(&u("/logout"), session, &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    drop(web);

    // Read-only: no action is offered, and every one is refused.
    let web = Web::start(dir.path(), &server, "sec", &["--read-only"], &[]);
    let u = |p: &str| format!("{}{p}", web.url);
    for path in ["/", "/q/sec/dead", "/q/sec/jobs?state=ready"] {
        let (s, page) = get(&u(path)).await;
        assert_eq!(s, 200);
        assert!(
            !page.contains(r#"method="post""#),
            "{path} offers an action:\n{page}"
        );
    }
    let (_, letters) = get(&u("/q/sec/dead")).await;
    let letter = first_letter(&letters, "sec");
    let (_, shown) = get(&u(&format!("/q/sec/dead/{letter}"))).await;
    assert!(!shown.contains(r#"method="post""#));
    let (s, _) = get(&u("/q/sec/dead/confirm?action=purge")).await;
    assert_eq!(s, 403);
    for path in [
        "/q/sec/pause",
        "/q/sec/dead/bulk",
        &format!("/q/sec/dead/{letter}/purge"),
    ] {
        let r = post(&u(path), &[("csrf", "anything"), ("action", "purge")]).await;
        assert_eq!(r.status(), 403, "{path}");
    }
    let s = queue.stats().await.unwrap();
    assert!(!s.paused && s.dead == 45, "{s:?}");
}

#[tokio::test]
async fn named_tokens_are_the_actors_of_an_audit_trail_and_erase_asks_first() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = seed(&server, "named").await;
    let mut cfg = okra_queue::QueueConfig::new("named");
    cfg.index_key = Some(IndexKey::new(INDEX_KEY).unwrap());
    let indexed = Queue::connect(&server.settings(), cfg).await.unwrap();
    let person = "22290001234";
    let id = indexed
        .enqueue(
            &OkraJob::new("bvn_verify", &[("bvn", person)]).unwrap(),
            EnqueueOptions::default(),
        )
        .await
        .unwrap()
        .id;

    // A token file of several names; malformed ones are refused with one line, no token.
    for (bad, says) in [
        (
            "alice tok-alice-0123456789\nalice tok-again-0123456789\n",
            "listed twice",
        ),
        ("alice short\n", "shorter than 16"),
        (
            "alice tok-alice-0123456789 extra\n",
            "expected `NAME TOKEN`",
        ),
    ] {
        let file = dir.path().join("bad-tokens");
        private_file(&file, bad);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--redis-url", &server.url(), "web", "--token-file"])
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
        assert!(!err.contains("tok-"), "{err}");
    }
    let file = dir.path().join("tokens");
    private_file(
        &file,
        "# who may operate\nalice tok-alice-0123456789\nbob tok-bob-0123456789xyz\n",
    );
    let web = Web::start(
        dir.path(),
        &server,
        "named",
        &["--token-file", file.to_str().unwrap()],
        &[("OKQ_QUEUE__INDEX_KEY", INDEX_KEY)],
    );
    let u = |p: &str| format!("{}{p}", web.url);

    // alice logs in with the form (a wrong token first) and pauses; bob resumes with a bearer.
    let (_, login) = get(&u("/login")).await;
    let csrf = csrf_of(&login);
    let bad = post(
        &u("/login"),
        &[("csrf", &csrf), ("token", "not-a-token-at-all")],
    )
    .await;
    assert_eq!(bad.status(), 401);
    let ok = post(
        &u("/login"),
        &[("csrf", &csrf), ("token", "tok-alice-0123456789")],
    )
    .await;
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    let session = cookie.split(';').next().unwrap().to_string();
    let r = post_as(&u("/q/named/pause"), Some(&session), &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    let bob = |rb: reqwest::RequestBuilder| rb.bearer_auth("tok-bob-0123456789xyz");
    let r = bob(client().post(u("/q/named/resume")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(!queue.stats().await.unwrap().paused);

    // Find by BVN offers the erase, which asks first (a dry run) and names no number.
    let r = post_as(
        &u("/q/named/find"),
        Some(&session),
        &[("csrf", &csrf), ("by", "bvn"), ("value", person)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let found = r.text().await.unwrap();
    assert!(!found.contains(person), "the number is never shown back");
    let hash = IndexKey::new(INDEX_KEY)
        .unwrap()
        .hash(okra_queue::ident::IdType::Bvn, person);
    let link = format!("/q/named/erase?by=bvn&amp;person={hash}");
    assert!(found.contains(&link), "an erase link:\n{found}");
    let (status, confirm) = get_as(&u(&link.replace("&amp;", "&")), Some(&session)).await;
    assert_eq!(status, 200);
    assert!(confirm.contains(r#"data-count="1""#), "{confirm}");
    assert!(!confirm.contains(person));
    assert!(
        indexed.job(&id).await.unwrap().is_some(),
        "asking changes nothing"
    );
    let r = bob(client().post(u("/q/named/erase")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("by", "bvn"),
            ("person", hash.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(r#"data-erased="1""#));
    assert!(indexed.job(&id).await.unwrap().is_none());
    let r = bob(client().post(u("/q/named/erase")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("by", "bvn"),
            ("person", "not-a-hash"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The audit trail: who did what, newest first, in the CLI and on its page. The failed
    // login is not among them: failed logins are summarised once per --login-window (1 min).
    let entries: Vec<(String, String, String)> = indexed
        .audit_log(std::time::UNIX_EPOCH, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.action, e.result))
        .collect();
    let e = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        entries,
        [
            e("bob", "erase", "ok"),
            e("bob", "resume", "ok"),
            e("alice", "pause", "ok"),
            e("alice", "login", "ok"),
        ]
    );
    let (status, page) = get_as(&u("/audit?since=1h"), Some(&session)).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("bvn #{hash}")), "{page}");
    assert!(!page.contains(person));
    assert_eq!(page.matches("<tr>").count(), 5, "a header and four entries");
}
