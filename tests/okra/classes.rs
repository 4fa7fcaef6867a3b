//! Every failure class end to end, and the sandbox's own protocol.

use super::*;

#[tokio::test]
async fn every_failure_class_end_to_end() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--slow", "3s", "--big-body", "3000000"]);
    let queue = producer(&server, "classes").await;
    let spec = WorkerSpec {
        queue: "classes",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);

    let mut ids = HashMap::new();
    for (name, job) in [
        ("ok", bvn("22234567890")),
        (
            "nin_ok",
            OkraJob::new("nin_verify", &[("nin", "12345678901")]).unwrap(),
        ),
        (
            "no_content",
            OkraJob::new("nuban_verify", &[("nuban", "0123450204"), ("bank", "b1")]).unwrap(),
        ),
        (
            "company",
            OkraJob::new(
                "rc_verify",
                &[("rc_number", "RC1234"), ("company_name", "Acme")],
            )
            .unwrap(),
        ),
        ("500_once", bvn("22200000501")),
        ("500", bvn("22200000500")),
        ("502", bvn("22200000502")),
        ("504", bvn("22200000504")),
        ("400", bvn("22200000400")),
        ("404", bvn("22200000404")),
        ("422", bvn("22200000422")),
        ("flagged", bvn("22200000601")),
        ("suspended", bvn("22200000602")),
        ("no_record", bvn("22200000603")),
        ("malformed", bvn("22200000700")),
        ("slow", bvn("22200000800")),
        ("stranger", bvn("22500000302")),
        ("wrong_types", bvn("22200000701")),
        ("oversized", bvn("22200000413")),
        (
            "customer_503",
            OkraJob::new("customer_verify", &[("customer", "cus_0503")]).unwrap(),
        ),
    ] {
        ids.insert(name, enqueue(&queue, job).await);
    }
    // Written by something else: the worker cannot decode it.
    let raw = queue
        .enqueue_raw_bulk(
            vec![RawJob::new(
                "bvn_verify",
                r#"{"kind":"bvn_verify","bvn_number":42}"#,
                EnqueueOptions::default(),
            )],
            |_| {},
        )
        .await
        .unwrap();
    ids.insert("invalid_payload", raw[0].id.clone());
    // Decodes, but breaks the rules enqueue would have applied: Okra must never see it.
    let raw = queue
        .enqueue_raw_bulk(
            vec![RawJob::new(
                "bvn_verify",
                r#"{"kind":"bvn_verify","bvn":"123"}"#,
                EnqueueOptions::default(),
            )],
            |_| {},
        )
        .await
        .unwrap();
    ids.insert("invalid_rules", raw[0].id.clone());

    let logs = || worker.log_text();
    let mut rec = HashMap::new();
    for (name, id) in &ids {
        rec.insert(*name, finished(&queue, id, &logs()).await);
    }

    // Successes carry the identity profile as the job's result.
    let ok = &rec["ok"];
    assert_eq!(ok.state, JobState::Completed);
    let result = ok.result.as_ref().unwrap();
    assert_eq!(result["profile"]["bvn"], "22234567890");
    assert_eq!(result["source"], "/products/kyc/bvn-verify");
    assert_eq!(
        rec["nin_ok"].result.as_ref().unwrap()["profile"]["nin"],
        "12345678901",
        "the newer `success: true` envelope"
    );
    let nc = rec["no_content"].result.as_ref().unwrap();
    assert_eq!(nc["http_status"], 204);
    assert!(nc["profile"].is_null());
    assert_eq!(
        rec["company"].result.as_ref().unwrap()["profile"]["rcNo"],
        "RC1234"
    );

    // A 500 once: retried, then completed, with the failed attempt in the history.
    let r = &rec["500_once"];
    assert_eq!(r.state, JobState::Completed);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.history[0].class.as_deref(), Some("server_error"));
    assert_eq!(r.history[0].http_status, Some(500));

    // Retryable classes die only when the budget (3) is spent.
    for (name, class_, status) in [
        ("500", "server_error", Some(500)),
        ("502", "server_error", Some(502)),
        ("504", "server_error", Some(504)),
    ] {
        let (class, reason, http, _, attempts) = death(&rec[name]);
        assert_eq!(class, class_, "{name}");
        assert_eq!(reason, "attempts_exhausted", "{name}");
        assert_eq!(http, status, "{name}");
        assert_eq!(attempts, 3, "{name}");
        // Every attempt is kept (a 502 or 504 may have been charged: the lookups in between
        // that found nothing yet are runs of their own that spend no attempt).
        let attempts: Vec<_> = rec[name]
            .history
            .iter()
            .filter(|h| h.class.as_deref() != Some("awaiting_answer"))
            .collect();
        assert_eq!(attempts.len(), 3, "{name}: every attempt is kept");
    }
    let f502 = rec["502"].last_error.clone().unwrap();
    assert!(
        f502.body.unwrap().contains("502 Bad Gateway"),
        "body excerpt"
    );
    // A 200 that cannot be read was charged all the same: its charge is uncertain, and the
    // next attempt finds the profile with the free lookup instead of paying again.
    for (name, class_, bvn) in [
        ("malformed", "malformed_body", "22200000700"),
        ("wrong_types", "malformed_body", "22200000701"),
        ("oversized", "oversized_body", "22200000413"),
    ] {
        let r = &rec[name];
        assert_eq!(r.state, JobState::Completed, "{name}: {r:#?}");
        assert_eq!(r.history[0].class.as_deref(), Some(class_), "{name}");
        assert_eq!(r.history[0].http_status, Some(200), "{name}");
        assert_eq!(r.result.as_ref().unwrap()["lookup"], "free", "{name}");
        assert_eq!(
            sandbox.calls("bvn-verify", bvn).await,
            1,
            "{name}: paid once"
        );
    }
    // A client timeout is a transport failure whose outcome at Okra is unknown: the next
    // attempt finds the profile with the free getByBvn instead of paying again.
    let slow = &rec["slow"];
    assert_eq!(slow.state, JobState::Completed);
    assert_eq!(slow.history[0].class.as_deref(), Some("server_error"));
    assert!(
        slow.history[0]
            .message
            .as_deref()
            .unwrap()
            .contains("request to Okra failed")
    );
    assert_eq!(slow.result.as_ref().unwrap()["lookup"], "free");
    assert_eq!(sandbox.calls("bvn-verify", "22200000800").await, 1);

    // Terminal classes die on the first attempt.
    for (name, class, status, okra_type) in [
        ("400", "bad_request", 400, None),
        ("404", "not_found", 404, None),
        ("stranger", "mismatched_profile", 200, None),
        ("422", "unprocessable", 422, None),
        ("flagged", "flagged_user", 200, Some("FLAGGED_USER")),
        ("suspended", "suspended", 200, Some("SUSPENDED")),
        ("no_record", "no_record_id", 200, Some("NO_RECORD_ID")),
    ] {
        let (c, reason, http, t, attempts) = death(&rec[name]);
        assert_eq!(c, class, "{name}");
        assert_eq!(reason, "terminal", "{name}");
        assert_eq!(http, Some(status), "{name}");
        assert_eq!(t.as_deref(), okra_type, "{name}");
        assert_eq!(attempts, 1, "{name}");
    }
    let flagged = rec["flagged"].last_error.clone().unwrap();
    assert_eq!(flagged.code.as_deref(), Some("1000"));
    assert_eq!(flagged.method.as_deref(), Some("BVN_VERIFY"));
    assert!(flagged.body.unwrap().contains("FLAGGED_USER"));

    // A 503 on a non-BVN job: retried after the short delay, then it succeeds.
    let r = &rec["customer_503"];
    assert_eq!(r.state, JobState::Completed);
    assert_eq!(r.history[0].class.as_deref(), Some("okra_timeout"));
    assert!(r.history[0].retry_in_ms.unwrap() >= 100);

    let (class, reason, _, _, attempts) = death(&rec["invalid_payload"]);
    assert_eq!(
        (class.as_str(), reason.as_str()),
        ("invalid_payload", "terminal")
    );
    assert_eq!(attempts, 1);
    let (class, _, _, _, _) = death(&rec["invalid_rules"]);
    assert_eq!(class, "invalid_payload");
    let message = rec["invalid_rules"].last_error.clone().unwrap().message;
    assert!(message.contains("11 digits"), "{message}");
    assert_eq!(
        sandbox.calls("bvn-verify", "123").await,
        0,
        "never sent to Okra"
    );
    // A profile about somebody else is never the result.
    assert!(rec["stranger"].result.is_none());

    // Nothing personal or secret in the worker's log.
    let text = worker.log_text();
    assert!(
        !text.contains("sk_test_never_logged_42"),
        "secret key logged"
    );
    assert!(!text.contains("22200000500"), "a BVN was logged unmasked");
    assert!(text.contains("*******0500"), "masked BVNs identify jobs");
}

/// The sandbox itself speaks Okra: auth, body flags, its own rate limit, path prefixes.
#[tokio::test]
async fn the_sandbox_speaks_okra() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(
        dir.path(),
        &["--rpm", "5", "--window", "2s", "--retry-after", "7"],
    );
    let http = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value, key: Option<&str>| {
        let mut r = http.post(format!("{}{path}", sandbox.url)).json(&body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        async move {
            let resp = r.send().await.unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
            (status, body, retry_after)
        }
    };
    let bvn = serde_json::json!({ "bvn": "22234567890" });

    let (status, body, _) = post("/products/kyc/bvn-verify", bvn.clone(), None).await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "error");

    // The legacy envelope, under Okra's /v2/sandbox prefix too, and the testing flag.
    let (status, body, _) = post(
        "/v2/sandbox/products/kyc/bvn-verify",
        serde_json::json!({ "bvn": "22234567890", "testing": true }),
        Some("k"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["identity"]["bvn"], "22234567890");
    assert_eq!(body["data"]["identity"]["env"], "sandbox-testing");

    // `success` forces the answer whatever the trigger says.
    let (status, _, _) = post(
        "/products/kyc/bvn-verify",
        serde_json::json!({ "bvn": "22200000500", "success": true }),
        Some("k"),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body, _) = post(
        "/products/kyc/bvn-verify",
        serde_json::json!({ "bvn": "22234567890", "success": false }),
        Some("k"),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("error")));

    // The newer envelope for nin-verify; required fields are checked.
    let (status, body, _) = post(
        "/products/kyc/nin-verify",
        serde_json::json!({ "nin": "12345678901" }),
        Some("k"),
    )
    .await;
    assert_eq!((status, body["success"].as_bool()), (200, Some(true)));
    let (status, _, _) = post(
        "/products/kyc/nuban-verify",
        serde_json::json!({ "nuban": "0123456789" }),
        Some("k"),
    )
    .await;
    assert_eq!(status, 400, "bank is required");

    // Five calls so far passed auth: the sixth in the window is Okra's 429.
    let (status, body, retry_after) =
        post("/products/kyc/bvn-verify", bvn.clone(), Some("k")).await;
    assert_eq!(status, 429);
    assert_eq!(body["type"], "RATE_LIMIT");
    assert_eq!(retry_after.as_deref(), Some("7"));
    let stats = sandbox.stats().await;
    assert_eq!(stats["rate_limited"], 1);
    assert_eq!(stats["unauthorized"], 1);
    assert_eq!(stats["max_in_window"], 5);

    // Unknown routes are Okra's 404; bodies that are not JSON objects are 400.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _, _) = post("/products/kyc/email-verify", bvn.clone(), Some("k")).await;
    assert_eq!(status, 404);
    let resp = http
        .post(format!("{}/products/kyc/bvn-verify", sandbox.url))
        .bearer_auth("k")
        .body("bvn=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}
