//! The webhook routes (scope `admin`): add with an admin key, list (never a secret), rotate,
//! remove (then 404); 403 for a key without `admin`; 422 naming the SSRF guard's rule; one
//! delivery to a real receiver on 127.0.0.1, signed with the secret the gateway returned and
//! verified here from the Standard Webhooks specification (`webhooks/receiver.rs`).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::procs::{Sandbox, WorkerSpec, start_worker};
use super::common::*;
use super::harness::{self, Gateway, api_key};
use super::receiver::{Receiver, verifies};
use super::{Answer, answer, bearer, documented, openapi};

const ALLOW: &str = "[\"127.0.0.1\"]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_added_listed_rotated_and_removed_with_an_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = RedisServer::start();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let spec = WorkerSpec {
        env: vec![
            ("OKQ_WEBHOOKS__RETRY_SCHEDULE", "[\"100ms\"]".to_string()),
            ("OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS", ALLOW.to_string()),
        ],
        ..WorkerSpec::default()
    };
    let _worker = start_worker(dir.path(), 0, &server.url(), &sandbox.url, &spec);
    eventually(Duration::from_secs(10), "the worker registers", || async {
        server.cli(&["SISMEMBER", "okq:queues", "identity"]).trim() == "1"
    })
    .await;
    let config = harness::config(dir.path(), "identity", "");
    let gw = Gateway::start(
        dir.path(),
        &server.url(),
        &config,
        &[("OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS", ALLOW)],
    );
    let doc = openapi(&gw).await;
    let admin = api_key(&server, "identity", "hooks-admin", &["--scope", "admin"]);
    let app = api_key(&server, "identity", "shop", &["--scope", "enqueue"]);
    let http = reqwest::Client::new();
    let hooks = format!("{}/v1/queues/identity/webhooks", gw.url);
    let (list_route, one_route) = (
        "/v1/queues/{queue}/webhooks",
        "/v1/queues/{queue}/webhooks/{id}",
    );
    let rotate_route = "/v1/queues/{queue}/webhooks/{id}/rotate-secret";
    let send = |rb: reqwest::RequestBuilder, token: &str| {
        let rb = rb.header("authorization", bearer(token));
        async move { answer(rb.send().await.unwrap()).await }
    };
    let list = || send(http.get(&hooks), &admin);

    // Add: 201 with the id and the secret, shown once.
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url(), "events": ["job.completed"], "full": false});
    let added = send(http.post(&hooks).json(&body), &admin).await;
    documented(&doc, "post", list_route, &added);
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let id = added.body["id"].as_str().unwrap().to_string();
    let first = added.body["secret"].as_str().unwrap().to_string();
    assert!(
        id.starts_with("ep_") && first.starts_with("whsec_"),
        "{}",
        added.body
    );

    // List: the endpoint, never a secret.
    let listed = list().await;
    documented(&doc, "get", list_route, &listed);
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body[0]["id"], id.as_str());
    assert_eq!(listed.body[0]["url"], receiver.url().as_str());
    assert_eq!(listed.body[0]["events"], json!(["job.completed"]));
    assert_eq!(listed.body[0]["full"], false);
    assert!(
        !listed.body.to_string().contains("whsec_"),
        "{}",
        listed.body
    );

    // Rotate: a new secret, both signing for a day.
    let rotated = send(http.post(format!("{hooks}/{id}/rotate-secret")), &admin).await;
    documented(&doc, "post", rotate_route, &rotated);
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    assert_eq!(rotated.body["id"], id.as_str());
    let secret = rotated.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret != first);
    let listed = list().await;
    assert!(
        listed.body[0]["previous_secret_until"].is_u64(),
        "{}",
        listed.body
    );
    assert!(
        !listed.body.to_string().contains("whsec_"),
        "{}",
        listed.body
    );

    // One delivery, signed with the secret the gateway returned.
    let job = json!({"job": {"kind": "bvn_verify", "bvn": "22212341234"}});
    let queued = send(http.post(gw.jobs("identity")).json(&job), &app).await;
    assert_eq!(queued.status, StatusCode::CREATED, "{}", queued.body);
    let job_id = queued.body["id"].as_str().unwrap().to_string();
    eventually(Duration::from_secs(20), "the delivery", || async {
        !receiver.got().is_empty()
    })
    .await;
    let got = receiver.got().remove(0);
    assert!(got.body.contains(&job_id), "{}", got.body);
    assert!(verifies(&secret, &got), "signed with the rotated secret");
    assert!(
        verifies(&first, &got),
        "and with the old one during the overlap"
    );

    // A key without `admin`: 403, for every route.
    let refused = [
        ("get", list_route, send(http.get(&hooks), &app).await),
        (
            "post",
            list_route,
            send(http.post(&hooks).json(&body), &app).await,
        ),
        (
            "delete",
            one_route,
            send(http.delete(format!("{hooks}/{id}")), &app).await,
        ),
        (
            "post",
            rotate_route,
            send(http.post(format!("{hooks}/{id}/rotate-secret")), &app).await,
        ),
    ];
    for (method, route, a) in &refused {
        documented(&doc, method, route, a);
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{method} {route}: {}",
            a.body
        );
        assert!(
            a.body["detail"].as_str().unwrap().contains("`admin`"),
            "{}",
            a.body
        );
    }

    // The SSRF guard's refusals: 422 naming the rule (IP literals only).
    let refused = |url: &str| send(http.post(&hooks).json(&json!({"url": url})), &admin);
    let plain: Answer = refused("http://127.0.0.2/").await;
    documented(&doc, "post", list_route, &plain);
    assert_eq!(
        plain.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        plain.body
    );
    assert_eq!(plain.body["type"], "/problems/invalid-request");
    assert_eq!(plain.body["field"], "url");
    assert!(
        plain.body["detail"]
            .as_str()
            .unwrap()
            .contains("http is not allowed"),
        "{}",
        plain.body
    );
    let loopback = refused("https://127.0.0.2/").await;
    assert_eq!(loopback.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        loopback.body["detail"]
            .as_str()
            .unwrap()
            .contains("a loopback address"),
        "{}",
        loopback.body
    );
    let events = send(
        http.post(&hooks)
            .json(&json!({"url": receiver.url(), "events": ["job.nope"]})),
        &admin,
    )
    .await;
    assert_eq!(events.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(events.body["field"], "events");
    assert_eq!(
        list().await.body.as_array().unwrap().len(),
        1,
        "nothing refused was added"
    );

    // Remove: 204, then 404.
    let gone = send(http.delete(format!("{hooks}/{id}")), &admin).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.body);
    let op: &Value = &doc["paths"][one_route]["delete"]["responses"]["204"];
    assert!(op.is_object(), "204 is documented");
    let again = send(http.delete(format!("{hooks}/{id}")), &admin).await;
    documented(&doc, "delete", one_route, &again);
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.body);
    assert_eq!(again.body["type"], "/problems/webhook-not-found");
    let missing = send(http.post(format!("{hooks}/{id}/rotate-secret")), &admin).await;
    documented(&doc, "post", rotate_route, &missing);
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(list().await.body, json!([]));

    // The audit trail: each change, by the key, never a secret.
    let audit = server.cli(&["XRANGE", "okq:audit", "-", "+"]);
    for want in [
        "webhook-add",
        "webhook-rotate",
        "webhook-remove",
        "api-key:hooks-admin",
    ] {
        assert!(audit.contains(want), "{want} in {audit}");
    }
    assert!(!audit.contains("whsec_"), "{audit}");
}
