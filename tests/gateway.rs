//! `okra-gateway` end to end: the real binary with real `redis-server`, `okra-worker` and
//! `okra-sandbox` processes, over loopback IP literals. Enqueue, idempotent replay, a changed
//! body under a used key, batch, wait, cancel, metadata echoed, reads recorded per key and
//! keys in the audit trail (here); refusals (401/403/404/413/415/422/429/431, revoked keys)
//! and Redis down (`gateway/refusals.rs`); the OpenAPI document under a standard validator
//! and the example clients in Python, Node and curl (`gateway/clients.rs`); the webhook
//! routes, with a delivery verified by the receiver of `webhooks/receiver.rs`
//! (`gateway/webhooks.rs`).

#[path = "gateway/clients.rs"]
mod clients;
mod common;
#[path = "gateway/harness.rs"]
mod harness;
#[path = "webhooks/receiver.rs"]
mod receiver;
#[path = "gateway/refusals.rs"]
mod refusals;
#[path = "gateway/webhooks.rs"]
mod webhooks;

use std::time::Duration;

use common::procs::{Sandbox, WorkerSpec, start_worker};
use common::*;
use harness::{Gateway, api_key};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An answer: status, content type, `Retry-After`, body as JSON.
pub struct Answer {
    pub status: StatusCode,
    pub content_type: String,
    pub retry_after: Option<String>,
    pub body: Value,
}

pub async fn answer(r: reqwest::Response) -> Answer {
    let h = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_string());
    let (status, content_type, retry_after) = (
        r.status(),
        h("content-type").unwrap_or_default(),
        h("retry-after"),
    );
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        retry_after,
        body,
    }
}

/// Checks an answer against the OpenAPI document: the route and method list its status, with
/// its content type (problem+json for errors).
pub fn documented(doc: &Value, method: &str, route: &str, a: &Answer) {
    let op = &doc["paths"][route][method];
    assert!(op.is_object(), "{method} {route} is not in the document");
    let resp = &op["responses"][a.status.as_u16().to_string()];
    assert!(
        resp.is_object(),
        "{method} {route} answered {} which the document does not list: {}",
        a.status,
        a.body
    );
    let media = a.content_type.split(';').next().unwrap().trim().to_string();
    assert!(
        resp["content"][&media].is_object(),
        "{method} {route} {}: content type {media} is not the documented one",
        a.status
    );
    if a.status.as_u16() >= 400 {
        assert_eq!(media, "application/problem+json", "{}", a.body);
        let t = a.body["type"].as_str().unwrap_or_default();
        assert!(t.starts_with("/problems/"), "{}", a.body);
        assert_eq!(a.body["status"], a.status.as_u16(), "{}", a.body);
    }
}

pub async fn openapi(gw: &Gateway) -> Value {
    reqwest::get(format!("{}/openapi.json", gw.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Redis, the sandbox, one worker on `identity`, and the gateway.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub server: RedisServer,
    pub sandbox: Sandbox,
    pub worker: common::procs::Proc,
    pub gw: Gateway,
}

impl Stack {
    pub async fn start(redis_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = RedisServer::start_with(redis_args);
        let sandbox = Sandbox::start(dir.path(), &[]);
        let worker = start_worker(
            dir.path(),
            0,
            &server.url(),
            &sandbox.url,
            &WorkerSpec::default(),
        );
        // The worker registers the queue.
        let url = server.url();
        eventually(Duration::from_secs(10), "the worker registers", || {
            let url = url.clone();
            async move { redis_cli_url(&url, &["SISMEMBER", "okq:queues", "identity"]) == "1" }
        })
        .await;
        let config = harness::config(dir.path(), "identity", "");
        let gw = Gateway::start(dir.path(), &server.url(), &config, &[]);
        Self {
            dir,
            server,
            sandbox,
            worker,
            gw,
        }
    }
}

fn redis_cli_url(url: &str, args: &[&str]) -> String {
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    redis_cli(port, args).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_replay_batch_wait_and_cancel() {
    let s = Stack::start(&[]).await;
    let doc = openapi(&s.gw).await;
    let token = api_key(&s.server, "identity", "shop", &[]);
    let http = reqwest::Client::new();
    let jobs = s.gw.jobs("identity");
    let post = |body: Value, key: Option<&str>| {
        let mut rb = http
            .post(&jobs)
            .header("authorization", bearer(&token))
            .json(&body);
        if let Some(k) = key {
            rb = rb.header("idempotency-key", k);
        }
        rb.send()
    };
    let route = "/v1/queues/{queue}/jobs";
    let body =
        json!({"job": {"kind": "bvn_verify", "bvn": "22212341234"}, "metadata": {"order": "A-1"}});

    // New, then a repeat with the same key and body, then the key with another body.
    let first = answer(post(body.clone(), Some("order-A-1")).await.unwrap()).await;
    documented(&doc, "post", route, &first);
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["duplicate"], false);
    assert_eq!(first.body["queue"], "identity");
    assert_eq!(first.body["state"], "ready");
    let id = first.body["id"].as_str().unwrap().to_string();
    // The caller's trace context is stored with the job; one that does not parse is ignored.
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = http
        .post(&jobs)
        .header("authorization", bearer(&token))
        .header("traceparent", tp)
        .json(&json!({"job": {"kind": "bvn_verify", "bvn": "22212345678"}}))
        .send()
        .await
        .unwrap();
    let traced = answer(traced).await;
    assert_eq!(traced.status, StatusCode::CREATED, "{}", traced.body);
    let lib = okra_queue::Queue::connect(
        &s.server.settings(),
        okra_queue::QueueConfig::new("identity"),
    )
    .await
    .unwrap();
    let record = lib
        .job(traced.body["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.meta.trace.map(|t| t.traceparent).as_deref(),
        Some(tp)
    );
    let garbled = http
        .post(&jobs)
        .header("authorization", bearer(&token))
        .header("traceparent", "not-a-trace")
        .json(&json!({"job": {"kind": "bvn_verify", "bvn": "22212345679"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), StatusCode::CREATED);
    let again = answer(post(body.clone(), Some("order-A-1")).await.unwrap()).await;
    documented(&doc, "post", route, &again);
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert_eq!(
        (again.body["id"].as_str(), &again.body["duplicate"]),
        (Some(id.as_str()), &json!(true))
    );
    let other = json!({"job": {"kind": "bvn_verify", "bvn": "22212349999"}});
    let changed = answer(post(other, Some("order-A-1")).await.unwrap()).await;
    documented(&doc, "post", route, &changed);
    assert_eq!(changed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(changed.body["type"], "/problems/idempotency-conflict");
    assert!(!changed.body.to_string().contains("22212349999"));

    // Wait for the result: completed, with the metadata echoed and the read recorded per key.
    let show = "/v1/queues/{queue}/jobs/{id}";
    let r = http
        .get(format!("{jobs}/{id}?wait=15s"))
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    let done = answer(r).await;
    documented(&doc, "get", show, &done);
    assert_eq!(done.body["state"], "completed", "{}", done.body);
    assert_eq!(done.body["metadata"], json!({"order": "A-1"}));
    assert!(done.body["result"].is_object(), "{}", done.body);
    assert_eq!(done.body["kind"], "bvn_verify");
    let reads = s.server.cli(&["XRANGE", "okq:apikey-reads", "-", "+"]);
    assert!(reads.contains("shop") && reads.contains(&id), "{reads}");
    assert!(!reads.contains("22212341234"), "{reads}");
    let audit = s.server.cli(&["XRANGE", "okq:audit", "-", "+"]);
    assert!(
        audit.contains("api-key-create") && !audit.contains(&id),
        "{audit}"
    );
    // The token is not in Redis, only its hash.
    let keys = s.server.cli(&["HGETALL", "okq:apikeys"]);
    assert!(keys.contains("shop") && !keys.contains("okq_"), "{keys}");

    // A dead letter: its failure class.
    let dead = answer(
        post(
            json!({"job": {"kind": "bvn_verify", "bvn": "22212340601"}}),
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    let dead_id = dead.body["id"].as_str().unwrap().to_string();
    let r = http
        .get(format!("{jobs}/{dead_id}?wait=15s"))
        .header("authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    let died = answer(r).await;
    documented(&doc, "get", show, &died);
    assert_eq!(died.body["state"], "dead", "{}", died.body);
    assert_eq!(
        died.body["failure"]["class"], "flagged_user",
        "{}",
        died.body
    );
    assert!(died.body.get("result").is_none());

    // A batch: one result per job in order; the invalid one written nowhere.
    let before = s.server.cli(&["HLEN", "okq:{identity}:job"]);
    let r = http
        .post(format!("{jobs}/batch"))
        .header("authorization", bearer(&token))
        .json(&json!({"jobs": [
            {"job": {"kind": "bvn_verify", "bvn": "22212341111"}},
            {"job": {"kind": "bvn_verify", "bvn": "2221234111X"}},
            {"job": {"kind": "nin_verify", "nin": "12345678901"}, "delay": "1h", "idempotency_key": "b-3"},
            {"job": {"kind": "bvn_verify", "bvn": "22212341234"}, "metadata": {"order": "A-1"}, "idempotency_key": "order-A-1"},
        ]}))
        .send()
        .await
        .unwrap();
    let batch = answer(r).await;
    documented(&doc, "post", "/v1/queues/{queue}/jobs/batch", &batch);
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.body);
    let results = batch.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["state"], "ready");
    assert_eq!(
        results[1]["error"]["type"], "/problems/invalid-job",
        "{}",
        batch.body
    );
    assert!(!batch.body.to_string().contains("2221234111X"));
    assert_eq!(results[2]["state"], "scheduled");
    assert_eq!(
        (results[3]["id"].as_str(), &results[3]["duplicate"]),
        (Some(id.as_str()), &json!(true))
    );
    let after = s.server.cli(&["HLEN", "okq:{identity}:job"]);
    assert_eq!(
        after.trim().parse::<u64>().unwrap(),
        before.trim().parse::<u64>().unwrap() + 2,
        "exactly the two new valid jobs were written"
    );

    // Cancel the scheduled one; a second cancel is refused (409).
    let scheduled = results[2]["id"].as_str().unwrap();
    let del = |id: String| {
        http.delete(format!("{jobs}/{id}"))
            .header("authorization", bearer(&token))
            .send()
    };
    let cancelled = answer(del(scheduled.to_string()).await.unwrap()).await;
    documented(&doc, "delete", show, &cancelled);
    assert_eq!(cancelled.body["state"], "cancelled", "{}", cancelled.body);
    let again = answer(del(scheduled.to_string()).await.unwrap()).await;
    documented(&doc, "delete", show, &again);
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    let missing = answer(del("01ARZ3NDEKTSV4RRFFQ69G5FAV".into()).await.unwrap()).await;
    documented(&doc, "delete", show, &missing);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    // The gateway never logged the identifier or the metadata.
    let log = s.gw.proc.log_text();
    assert!(
        !log.contains("22212341234") && !log.contains("A-1"),
        "{log}"
    );
}

/// On a sealed queue the metadata is sealed at rest like the payload (Redis never holds it in
/// the clear), and the gateway, holding the keys, echoes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_is_sealed_at_rest_on_a_sealed_queue() {
    use base64::Engine as _;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start();
    let keys = dir.path().join("seal.keys");
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    std::fs::write(&keys, format!("k1 {key}\n")).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    let extra = format!("\n[seal]\nkeys_file = \"{}\"\n", keys.display());
    let config = harness::config(dir.path(), "sealedq", &extra);
    let index = "gateway-tests-index-key-01";
    let env = [("OKQ_QUEUE__INDEX_KEY", index)];
    // The queue is known (a producer registered it) before the gateway takes jobs for it.
    let mut cfg = okra_queue::QueueConfig::new("sealedq");
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(index).unwrap());
    cfg.seal = Some(std::sync::Arc::new(
        okra_queue::seal::Sealer::from_file(&keys).unwrap(),
    ));
    okra_queue::Queue::connect(&server.settings(), cfg)
        .await
        .unwrap()
        .register()
        .await
        .unwrap();
    let gw = Gateway::start(dir.path(), &server.url(), &config, &env);
    let token = api_key(&server, "sealedq", "sealer", &[]);
    let http = reqwest::Client::new();
    let a = answer(
        http.post(gw.jobs("sealedq"))
            .header("authorization", bearer(&token))
            .header("idempotency-key", "order-77")
            .json(&json!({"job": {"kind": "bvn_verify", "bvn": "22212341234"}, "metadata": {"order": "secret-order-77"}}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let id = a.body["id"].as_str().unwrap();
    let record = server.cli(&["HGET", "okq:{sealedq}:job", id]);
    assert!(record.contains("\"metadata\":\"sealed1:k1:"), "{record}");
    assert!(
        !record.contains("secret-order-77") && !record.contains("22212341234"),
        "{record}"
    );
    // The body's fingerprint is kept as a keyed hash (`#` and hex), as the key itself is.
    let fp = server.cli(&["KEYS", "okq:{sealedq}:reqfp:*"]);
    let held = server.cli(&["GET", fp.trim()]);
    assert!(
        fp.contains(":reqfp:#") && held.trim().starts_with('#'),
        "{fp} {held}"
    );
    let shown = answer(
        http.get(format!("{}/{id}", gw.jobs("sealedq")))
            .header("authorization", bearer(&token))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        shown.body["metadata"],
        json!({"order": "secret-order-77"}),
        "{}",
        shown.body
    );
    assert_eq!(shown.body["state"], "ready");
}
