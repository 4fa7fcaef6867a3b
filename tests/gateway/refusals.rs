//! What the gateway refuses, each with a problem+json answer that its OpenAPI document lists,
//! nothing written and the gateway still serving; and Redis down: 503 with `Retry-After`
//! for every request, and no acknowledged job lost.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::web::raw;
use super::harness::api_key;
use super::{Stack, answer, bearer, documented, openapi};

const ROUTE: &str = "/v1/queues/{queue}/jobs";

fn job() -> Value {
    json!({"job": {"kind": "bvn_verify", "bvn": "22212341234"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_problems_and_write_nothing() {
    let s = Stack::start(&[]).await;
    let doc = openapi(&s.gw).await;
    let http = reqwest::Client::new();
    let jobs = s.gw.jobs("identity");
    let token = api_key(&s.server, "identity", "app", &[]);
    let reader = api_key(&s.server, "identity", "reader", &["--scope", "read"]);
    let other = api_key(&s.server, "other", "elsewhere", &[]);
    let ghost = api_key(&s.server, "ghost", "ghostly", &[]);
    let slow = api_key(&s.server, "identity", "slow", &["--rate", "2"]);
    let other_app = api_key(&s.server, "identity", "app2", &[]);
    let before = s.server.cli(&["HLEN", "okq:{identity}:job"]);
    let send = |rb: reqwest::RequestBuilder| async move { answer(rb.send().await.unwrap()).await };
    let check = |a: &super::Answer, status: u16, kind: &str| {
        documented(&doc, "post", ROUTE, a);
        assert_eq!(a.status.as_u16(), status, "{}", a.body);
        assert_eq!(a.body["type"], format!("/problems/{kind}"), "{}", a.body);
    };

    // 401: no key, an unknown key.
    let a = send(http.post(&jobs).json(&job())).await;
    check(&a, 401, "unauthorized");
    let a = send(
        http.post(&jobs)
            .header("authorization", "Bearer okq_nope")
            .json(&job()),
    )
    .await;
    check(&a, 401, "unauthorized");
    // 403: another queue's key, a key without the scope.
    let a = send(
        http.post(&jobs)
            .header("authorization", bearer(&other))
            .json(&job()),
    )
    .await;
    check(&a, 403, "forbidden");
    // The scheme's name in any case (RFC 9110): the key is read, and refused for its queue.
    let a = send(
        http.post(&jobs)
            .header("authorization", format!("bEaReR {other}"))
            .json(&job()),
    )
    .await;
    check(&a, 403, "forbidden");
    let a = send(
        http.post(&jobs)
            .header("authorization", format!("Basic {token}"))
            .json(&job()),
    )
    .await;
    check(&a, 401, "unauthorized");
    let a = send(
        http.post(&jobs)
            .header("authorization", bearer(&reader))
            .json(&job()),
    )
    .await;
    check(&a, 403, "forbidden");
    // The key is checked before the body: a key without the scope learns nothing from it,
    // not even that a chunked body (no length to refuse it by) outgrew gateway.max_body.
    let route = "/v1/queues/identity/jobs";
    assert_eq!(chunked(&s.gw.url, route, &bearer(&reader), 5 << 20), 403);
    assert_eq!(chunked(&s.gw.url, route, &bearer(&token), 5 << 20), 413);
    let a = send(
        http.get(format!("{jobs}/{}?wait=bogus", "0".repeat(26)))
            .header("authorization", bearer(&other)),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // 404: a queue not in the registry (its key exists); nothing is made for it.
    let a = send(
        http.post(s.gw.jobs("ghost"))
            .header("authorization", bearer(&ghost))
            .json(&job()),
    )
    .await;
    check(&a, 404, "unknown-queue");
    assert_eq!(s.server.cli(&["EXISTS", "okq:{ghost}:job"]).trim(), "0");
    assert_eq!(
        s.server.cli(&["SISMEMBER", "okq:queues", "ghost"]).trim(),
        "0"
    );
    let auth = bearer(&token);
    let post = || http.post(&jobs).header("authorization", &auth);
    // 413: a 10 MB body.
    let r = declared_body(&s.gw.url, &token, 10 << 20);
    assert_eq!(r.0, 413, "{}", r.1);
    assert!(r.1.contains("/problems/body-too-large"), "{}", r.1);
    // 415: not JSON's content type; 400: not JSON.
    let a = send(
        post()
            .header("content-type", "text/plain")
            .body(job().to_string()),
    )
    .await;
    check(&a, 415, "unsupported-media-type");
    let a = send(
        post()
            .header("content-type", "application/json")
            .body("{\"job\": "),
    )
    .await;
    check(&a, 400, "malformed-json");
    // 422: an unknown field (named), a bad job (the field and rule, never the value), bad options.
    let mut extra = job();
    extra["colour"] = json!("blue");
    let a = send(post().json(&extra)).await;
    check(&a, 422, "invalid-request");
    assert!(
        a.body["detail"].as_str().unwrap().contains("`colour`"),
        "{}",
        a.body
    );
    let a = send(post().json(&json!({"job": {"kind": "bvn_verify", "bvn": "2221234123X"}}))).await;
    check(&a, 422, "invalid-job");
    assert_eq!(a.body["field"], "job");
    assert!(
        a.body["detail"].as_str().unwrap().contains("bvn"),
        "{}",
        a.body
    );
    assert!(!a.body.to_string().contains("2221234123X"), "{}", a.body);
    for (bad, field) in [
        (json!({"delay": "soon"}), "delay"),
        (json!({"max_attempts": 0}), "max_attempts"),
        (json!({"metadata": {"note": "x".repeat(2000)}}), "metadata"),
        (json!({"metadata": [1]}), "metadata"),
    ] {
        let mut body = job();
        body.as_object_mut()
            .unwrap()
            .extend(bad.as_object().unwrap().clone());
        let a = send(post().json(&body)).await;
        check(&a, 422, "invalid-request");
        assert_eq!(a.body["field"], field, "{}", a.body);
    }
    let a = send(post().json(&json!({"jobs": []}))).await;
    check(&a, 422, "invalid-request");
    let many: Vec<Value> = (0..1001).map(|_| job()).collect();
    let a = send(
        http.post(format!("{jobs}/batch"))
            .header("authorization", &auth)
            .json(&json!({"jobs": many})),
    )
    .await;
    documented(&doc, "post", "/v1/queues/{queue}/jobs/batch", &a);
    assert_eq!(
        (a.status.as_u16(), a.body["field"].as_str()),
        (422, Some("jobs")),
        "{}",
        a.body
    );
    // `wait` over the maximum (gateway.max_wait = 30s in the test config).
    let show = "/v1/queues/{queue}/jobs/{id}";
    let a = send(
        http.get(format!("{jobs}/01ARZ3NDEKTSV4RRFFQ69G5FAV?wait=1h"))
            .header("authorization", &auth),
    )
    .await;
    documented(&doc, "get", show, &a);
    assert_eq!(
        (a.status.as_u16(), a.body["field"].as_str()),
        (422, Some("wait")),
        "{}",
        a.body
    );
    // 431: a huge header, answered by the gateway (raw request: nothing resolved).
    let host = s.gw.url.trim_start_matches("http://").to_string();
    let huge = "a".repeat(20_000);
    let r = raw(
        &s.gw.url,
        "GET",
        "/healthz",
        &[("Host", &host), ("X-Big", &huge)],
        "",
    );
    assert_eq!(r.status, 431, "{}", r.body);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("application/problem+json")
    );
    // 421: a Host that names another server (DNS rebinding).
    let r = raw(
        &s.gw.url,
        "GET",
        "/healthz",
        &[("Host", "evil.example")],
        "",
    );
    assert_eq!(r.status, 421, "{}", r.body);
    // The front door answers on every route, and every route's entry says so.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if path.starts_with("/v1/") {
                for status in ["401", "413", "421", "429", "431"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path}: {status}"
                    );
                }
            }
        }
    }
    // 429 with Retry-After: a key allowed 2 requests a second.
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..4 {
        let a = send(
            http.get(format!("{jobs}/01ARZ3NDEKTSV4RRFFQ69G5FAV"))
                .header("authorization", bearer(&slow)),
        )
        .await;
        documented(&doc, "get", show, &a);
        statuses.push(a.status.as_u16());
        retry = retry.or(a.retry_after);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry.is_some_and(|r| r.parse::<u64>().unwrap() >= 1));
    // Nothing was written by any of it.
    assert_eq!(s.server.cli(&["HLEN", "okq:{identity}:job"]), before);
    // A revoked key is refused within a second, on this gateway that had just used it.
    let a = send(post().json(&job())).await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    super::common::cli::admin(&s.server, "identity", &["api-key", "revoke", "app"]).ok();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let a = send(post().json(&job())).await;
    check(&a, 401, "unauthorized");
    let audit = s.server.cli(&["XRANGE", "okq:audit", "-", "+"]);
    assert!(audit.contains("api-key-revoke"), "{audit}");
    // An Idempotency-Key header twice, or on a batch (which would ignore it): refused.
    let a = send(
        http.post(&jobs)
            .header("authorization", bearer(&other_app))
            .header("idempotency-key", "a")
            .header("idempotency-key", "b")
            .json(&job()),
    )
    .await;
    check(&a, 422, "invalid-request");
    let a = send(
        http.post(format!("{jobs}/batch"))
            .header("authorization", bearer(&other_app))
            .header("idempotency-key", "a")
            .json(&json!({"jobs": [job()]})),
    )
    .await;
    documented(&doc, "post", "/v1/queues/{queue}/jobs/batch", &a);
    assert_eq!(
        (a.status.as_u16(), &a.body["type"]),
        (422, &json!("/problems/invalid-request")),
        "{}",
        a.body
    );
    // A path segment that is not UTF-8, a query parameter given twice: problems, as listed.
    let show = "/v1/queues/{queue}/jobs/{id}";
    for (url, status, kind) in [
        (format!("{jobs}/%FF%FE"), 404, "no-route"),
        (
            format!("{}/v1/queues/%FF/jobs/x", s.gw.url),
            404,
            "no-route",
        ),
        (
            format!("{jobs}/{}?wait=1s&wait=2s", "0".repeat(26)),
            422,
            "invalid-request",
        ),
    ] {
        let a = send(http.get(&url).header("authorization", bearer(&reader))).await;
        documented(&doc, "get", show, &a);
        assert_eq!(a.status.as_u16(), status, "{url}: {}", a.body);
        assert_eq!(a.body["type"], format!("/problems/{kind}"), "{url}");
    }
    // Still serving.
    let a = send(http.get(format!("{}/healthz", s.gw.url))).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_answers_503_and_loses_no_acknowledged_job() {
    let mut s = Stack::start(&["--appendonly", "yes", "--appendfsync", "always"]).await;
    let http = reqwest::Client::new();
    let jobs = s.gw.jobs("identity");
    let token = api_key(&s.server, "identity", "app", &[]);
    let delayed = json!({"job": {"kind": "bvn_verify", "bvn": "22212341234"}, "delay": "1h"});
    let mut acknowledged = Vec::new();
    for _ in 0..20 {
        let a = answer(
            http.post(&jobs)
                .header("authorization", bearer(&token))
                .json(&delayed)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        acknowledged.push(a.body["id"].as_str().unwrap().to_string());
    }
    s.server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (what, rb) in [
        (
            "enqueue",
            http.post(&jobs)
                .header("authorization", bearer(&token))
                .json(&delayed),
        ),
        (
            "read",
            http.get(format!("{jobs}/{}", acknowledged[0]))
                .header("authorization", bearer(&token)),
        ),
        (
            "unknown key",
            http.post(&jobs)
                .header("authorization", "Bearer okq_unchecked")
                .json(&delayed),
        ),
    ] {
        let a = answer(rb.timeout(Duration::from_secs(30)).send().await.unwrap()).await;
        assert_eq!(
            a.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {}",
            a.body
        );
        assert_eq!(a.body["type"], "/problems/unavailable", "{what}");
        assert!(a.retry_after.is_some(), "{what}: Retry-After");
        assert!(a.content_type.starts_with("application/problem+json"));
    }
    let ready = http
        .get(format!("{}/readyz", s.gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    s.server.start_again();
    // Every job answered 201 is there after the restart, and the gateway serves again.
    for id in &acknowledged {
        assert_eq!(
            s.server.cli(&["HEXISTS", "okq:{identity}:job", id]).trim(),
            "1",
            "{id} lost"
        );
    }
    super::common::eventually(Duration::from_secs(15), "the gateway serves again", || {
        let rb = http
            .get(format!("{jobs}/{}", acknowledged[0]))
            .header("authorization", bearer(&token));
        async move { rb.send().await.is_ok_and(|r| r.status() == StatusCode::OK) }
    })
    .await;
}

/// The status of a POST whose `total`-byte body is sent in chunks (no `Content-Length`),
/// read whether or not the gateway stopped reading it part-way.
fn chunked(url: &str, path: &str, auth: &str, total: usize) -> u16 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let chunk = [b' '; 64 * 1024];
    let mut sent = 0;
    let mut ok = s.write_all(head.as_bytes()).is_ok();
    while ok && sent < total {
        ok = s
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .is_ok()
            && s.write_all(&chunk).is_ok()
            && s.write_all(b"\r\n").is_ok();
        sent += chunk.len();
    }
    let _ = s.write_all(b"0\r\n\r\n");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"))
}

/// Status and body of a POST that declares a `len`-byte body and sends none of it (the
/// gateway answers from the headers, before reading any).
fn declared_body(url: &str, token: &str, len: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/queues/identity/jobs HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Written but not confirmed at `redis.durability` (a replica asked for, none there): the
/// single enqueue answers 503 `not-durable` with the job's id, the batch names each written
/// job with its id and that error, and the jobs are in Redis: a client without idempotency
/// keys can look them up instead of enqueueing (and paying for) them twice. A batch with
/// nothing valid to write is still answered item by item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_not_confirmed_durable_names_the_jobs_it_wrote() {
    let s = Stack::start(&[]).await;
    let dir = s.dir.path().join("replica");
    std::fs::create_dir(&dir).unwrap();
    let config = super::harness::config(
        &dir,
        "identity",
        "[redis]\ndurability = \"replica\"\ndurability_timeout = \"200ms\"\n",
    );
    let gw = super::harness::Gateway::start(&dir, &s.server.url(), &config, &[]);
    let http = reqwest::Client::new();
    let jobs = gw.jobs("identity");
    let token = api_key(&s.server, "identity", "app", &[]);
    let delayed = json!({"job": {"kind": "bvn_verify", "bvn": "22212341234"}, "delay": "1h"});
    let written = |id: &str| s.server.cli(&["HEXISTS", "okq:{identity}:job", id]).trim() == "1";

    let post = |url: String, body: Value| {
        http.post(url)
            .header("authorization", bearer(&token))
            .json(&body)
            .send()
    };
    let a = answer(post(jobs.clone(), delayed.clone()).await.unwrap()).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(a.body["type"], "/problems/not-durable", "{}", a.body);
    assert!(a.retry_after.is_some());
    let id = a.body["id"].as_str().expect("the written job's id");
    assert!(written(id), "{id} is in Redis");
    documented(&openapi(&gw).await, "post", ROUTE, &a);

    let bad = json!({"job": {"kind": "bvn_verify", "bvn": "1"}});
    let batch = json!({"jobs": [delayed, delayed, bad]});
    let a = answer(post(format!("{jobs}/batch"), batch).await.unwrap()).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let results = a.body["results"].as_array().unwrap();
    for r in &results[..2] {
        assert_eq!(r["error"]["type"], "/problems/not-durable", "{r}");
        let id = r["id"].as_str().expect("each written job's id");
        assert!(written(id), "{id} is in Redis");
    }
    assert_eq!(results[2]["error"]["type"], "/problems/invalid-job");
    assert!(
        results[2].get("id").is_none_or(Value::is_null),
        "{}",
        results[2]
    );

    // Nothing valid: nothing to confirm, each item refused on its own.
    let a = answer(
        post(format!("{jobs}/batch"), json!({"jobs": [bad]}))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body["results"][0]["error"]["type"],
        "/problems/invalid-job"
    );
}

/// A queue deleted (`okra-admin queue delete`) while the gateway runs is refused within about
/// a second (404 `unknown-queue`), and nothing is written for it from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_deleted_while_the_gateway_runs_is_refused() {
    use super::common::cli::admin;
    let s = Stack::start(&[]).await;
    admin(
        &s.server,
        "gone",
        &[
            "enqueue",
            "bvn_verify",
            "--bvn",
            "22212341234",
            "--delay",
            "1h",
        ],
    )
    .ok();
    let token = api_key(&s.server, "gone", "app", &[]);
    let http = reqwest::Client::new();
    let post = || {
        http.post(s.gw.jobs("gone"))
            .header("authorization", bearer(&token))
            .json(&json!({"job": {"kind": "bvn_verify", "bvn": "22212341234"}, "delay": "1h"}))
            .send()
    };
    assert_eq!(
        answer(post().await.unwrap()).await.status,
        StatusCode::CREATED
    );
    admin(&s.server, "gone", &["queue", "delete", "--force"]).ok();
    let started = std::time::Instant::now();
    let a = loop {
        let a = answer(post().await.unwrap()).await;
        if a.status != StatusCode::CREATED || started.elapsed() > Duration::from_secs(5) {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{}", a.body);
    assert_eq!(a.body["type"], "/problems/unknown-queue");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Once refused, it stays refused and nothing more is written (what was written in that
    // second stays, for okra-admin to show); registered again, it is served again.
    let jobs = || s.server.cli(&["HLEN", "okq:{gone}:job"]).trim().to_string();
    let before = jobs();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        answer(post().await.unwrap()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(jobs(), before);
    assert_eq!(
        s.server.cli(&["SISMEMBER", "okq:queues", "gone"]).trim(),
        "0"
    );
    s.server.cli(&["SADD", "okq:queues", "gone"]);
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(
        answer(post().await.unwrap()).await.status,
        StatusCode::CREATED
    );
}
