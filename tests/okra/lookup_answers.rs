//! A lookup's "no identity" is an answer once it is definite: a route that has proven itself,
//! the provider's error envelope, and the answer deadline passed since the uncertain call. And
//! a 2xx that cannot be read was charged: it is looked up, never bought again.

use super::*;

/// The answer deadline the tests use (the default is 2 minutes).
const DEADLINE: &str = "3s";

fn spec<'a>(queue: &'a str, env: Vec<(&'a str, String)>) -> WorkerSpec<'a> {
    let mut env = env;
    env.push(("OKQ_OKRA__ANSWER_DEADLINE", DEADLINE.into()));
    WorkerSpec {
        queue,
        okra_timeout: "500ms",
        env,
        ..WorkerSpec::default()
    }
}

fn classes(r: &JobRecord) -> Vec<String> {
    r.history.iter().filter_map(|h| h.class.clone()).collect()
}

/// `okra-admin --json check lookups` against the sandbox, with its exit code.
fn check_lookups(
    server: &RedisServer,
    queue: &str,
    sandbox: &Sandbox,
    env: &[(&str, &str)],
) -> (i32, serde_json::Value) {
    let mut all = vec![
        ("OKRA_SECRET_KEY", "sk_test_check"),
        ("OKQ_OKRA__BASE_URL", sandbox.url.as_str()),
    ];
    all.extend_from_slice(env);
    let run = common::cli::admin_with_env(server, queue, &["--json", "check", "lookups"], &all);
    (run.code, run.json())
}

fn row<'a>(rows: &'a serde_json::Value, kind: &str) -> &'a serde_json::Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {rows}"))
}

#[tokio::test]
async fn once_a_route_has_proven_itself_its_404_is_an_answer_and_nothing_is_paid_twice() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    // Lookups answer an unknown identity with 404 and Okra's envelope; 0805's verify times out
    // for the client and Okra finishes (and charges) it 1 s after the request.
    let sandbox = Sandbox::start(
        dir.path(),
        &[
            "--lookup-miss",
            "404",
            "--slow",
            "3s",
            "--finish-after",
            "1s",
        ],
    );
    let queue = producer(&server, "proven").await;
    let (code, rows) = check_lookups(&server, "proven", &sandbox, &[]);
    assert_eq!(code, 0, "{rows}");
    assert_eq!(row(&rows, "bvn_verify")["verdict"], "unproven", "{rows}");
    let worker = start_worker(
        dir.path(),
        1,
        &server.url(),
        &sandbox.url,
        &spec("proven", vec![]),
    );
    let logs = || worker.log_text();
    // One profile proves the route: a 503 once that Okra finished in the background.
    let first = enqueue(&queue, bvn("22100000503")).await;
    let r = finished(&queue, &first, &logs()).await;
    assert_eq!(r.result.unwrap()["lookup"], "free");
    let (_, rows) = check_lookups(&server, "proven", &sandbox, &[]);
    assert_eq!(row(&rows, "bvn_verify")["verdict"], "ok", "{rows}");
    assert_eq!(row(&rows, "bvn_verify")["proven"], true, "{rows}");

    let unavailable: Vec<String> = (0..5).map(|i| format!("221{i:04}0505")).collect();
    let late: Vec<String> = (0..5).map(|i| format!("222{i:04}0805")).collect();
    let mut ids = Vec::new();
    for b in unavailable.iter().chain(&late) {
        ids.push((b.clone(), enqueue(&queue, bvn(b)).await));
    }
    for (b, id) in &ids {
        let r = ends_in(&queue, id, JobState::Completed, &logs).await;
        let result: OkraResult = r.result_as().unwrap().unwrap();
        if b.ends_with("0505") {
            // 503 with nothing done at Okra: the lookup's 404 after the deadline is an
            // answer, so the job pays once, and only once.
            assert_eq!(result.source, "/products/kyc/bvn-verify", "{b}");
            assert_eq!(
                sandbox.calls("bvn-verify", b).await,
                2,
                "{b}: 503, then paid"
            );
            assert!(
                classes(&r).contains(&"awaiting_answer".to_string()),
                "{b}: {:?}",
                classes(&r)
            );
        } else {
            // Timed out for the client, finished at Okra later: found by the lookup after
            // the deadline, never bought a second time.
            assert_eq!(result.lookup.as_deref(), Some("free"), "{b}");
            assert_eq!(sandbox.calls("bvn-verify", b).await, 1, "{b}: paid once");
        }
        // An early "no identity" never spent an attempt.
        assert!(r.attempts <= 3, "{b}: {r:#?}");
    }
    let rows = common::cli::admin(&server, "proven", &["--json", "spend", "--days", "1"])
        .ok()
        .json();
    assert_eq!(
        rows[0]["paid"], 5,
        "the five 0505 jobs paid once each: {rows}"
    );
}

#[tokio::test]
async fn a_route_that_never_answered_with_a_profile_never_makes_anyone_pay_twice() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--lookup-miss", "404"]);
    let queue = producer(&server, "wrongpath").await;
    // A lookup path that does not exist: the sandbox answers 404 with its error envelope.
    let wrong = ("OKQ_OKRA__LOOKUP__BVN_VERIFY", "/identity/nope".to_string());
    let worker = start_worker(
        dir.path(),
        1,
        &server.url(),
        &sandbox.url,
        &spec("wrongpath", vec![wrong.clone()]),
    );
    // 503 once with nothing done at Okra, and a verify that times out but finishes at Okra.
    let bvns: Vec<String> = (0..4).map(|i| format!("223{i:04}0505")).collect();
    let late: Vec<String> = (0..2).map(|i| format!("224{i:04}0805")).collect();
    let mut ids = Vec::new();
    for b in bvns.iter().chain(&late) {
        ids.push(enqueue(&queue, bvn(b)).await);
    }
    for (b, id) in bvns.iter().chain(&late).zip(&ids) {
        let r = finished(&queue, id, &worker.log_text()).await;
        let (class, reason, _, _, attempts) = death(&r);
        assert_eq!(
            (class.as_str(), reason.as_str(), attempts),
            ("unresolved_charge", "attempts_exhausted", 3),
            "{r:#?}"
        );
        let message = r.last_error.unwrap().message;
        assert!(
            message.contains("Route /identity/nope not found")
                && message.contains("never answered with a profile"),
            "{message}"
        );
        assert_eq!(
            sandbox.calls("bvn-verify", b).await,
            1,
            "{b}: never paid twice"
        );
    }
    let (code, rows) = check_lookups(
        &server,
        "wrongpath",
        &sandbox,
        &[("OKQ_OKRA__LOOKUP__BVN_VERIFY", "/identity/nope")],
    );
    assert_eq!(code, 0, "{rows}");
    let bvn_row = row(&rows, "bvn_verify");
    assert_eq!(bvn_row["verdict"], "unproven", "{rows}");
    assert!(
        bvn_row["answer"]
            .as_str()
            .unwrap()
            .contains("Route /identity/nope not found"),
        "{rows}"
    );
    // The documented way out, once the path is right and has proven itself: requeue; each
    // looks first, and the lookup's 404 is then an answer, so each pays once more.
    drop(worker);
    let right = start_worker(
        dir.path(),
        2,
        &server.url(),
        &sandbox.url,
        &spec("wrongpath", vec![]),
    );
    let proof = enqueue(&queue, bvn("22300000503")).await;
    assert_eq!(
        finished(&queue, &proof, &right.log_text())
            .await
            .result
            .unwrap()["lookup"],
        "free"
    );
    common::cli::admin(
        &server,
        "wrongpath",
        &["dlq", "requeue", "--all", "--class", "unresolved_charge"],
    )
    .ok();
    eventually(
        Duration::from_secs(20),
        "requeued jobs complete",
        || async { queue.stats().await.unwrap().completed == 7 },
    )
    .await;
    for b in &bvns {
        assert_eq!(
            sandbox.calls("bvn-verify", b).await,
            2,
            "{b}: 503, then paid"
        );
    }
    for b in &late {
        // Finished at Okra: the right lookup finds it, no second payment.
        assert_eq!(sandbox.calls("bvn-verify", b).await, 1, "{b}: paid once");
    }
    drop(right);
}

#[tokio::test]
async fn a_404_without_the_envelope_is_never_an_answer_even_on_a_proven_route() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--lookup-miss", "bare-404"]);
    let queue = producer(&server, "bare").await;
    let worker = start_worker(
        dir.path(),
        1,
        &server.url(),
        &sandbox.url,
        &spec("bare", vec![]),
    );
    let first = enqueue(&queue, bvn("22400000503")).await;
    assert_eq!(
        finished(&queue, &first, &worker.log_text())
            .await
            .result
            .unwrap()["lookup"],
        "free"
    );
    let b = "22400010505";
    let id = enqueue(&queue, bvn(b)).await;
    let r = finished(&queue, &id, &worker.log_text()).await;
    let (class, _, _, _, _) = death(&r);
    assert_eq!(class, "unresolved_charge");
    let message = r.last_error.unwrap().message;
    assert!(
        message.contains("without the provider's error envelope"),
        "{message}"
    );
    assert_eq!(sandbox.calls("bvn-verify", b).await, 1, "never paid twice");
    // A verify that times out and finishes at Okra 2 s later: whatever the bare 404s before
    // that, it is never bought again.
    let late = "22400020805";
    let id = enqueue(&queue, bvn(late)).await;
    finished(&queue, &id, &worker.log_text()).await;
    assert_eq!(
        sandbox.calls("bvn-verify", late).await,
        1,
        "never paid twice"
    );
    let (code, rows) = check_lookups(&server, "bare", &sandbox, &[]);
    assert_eq!(code, 1, "a bare 404 is a problem: {rows}");
    assert_eq!(row(&rows, "bvn_verify")["verdict"], "problem", "{rows}");
    assert_eq!(row(&rows, "rc_verify")["verdict"], "none", "{rows}");
}

#[tokio::test]
async fn an_unreadable_200_is_charged_once_looked_up_and_counted_uncertain() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &["--big-body", "2000000"]);
    let queue = producer(&server, "unreadable").await;
    let worker = start_worker(
        dir.path(),
        1,
        &server.url(),
        &sandbox.url,
        &spec(
            "unreadable",
            vec![
                ("OKQ_OKRA__DAILY_BUDGET", "3".into()),
                ("OKQ_RETRY__MAX_ATTEMPTS", "6".into()),
            ],
        ),
    );
    // Not JSON, and over okra.max_body: Okra charged for both 200s.
    let bvns = ["22500000700", "22500000413"];
    for b in bvns {
        let id = enqueue(&queue, bvn(b)).await;
        let r = ends_in(&queue, &id, JobState::Completed, || worker.log_text()).await;
        assert!(
            matches!(
                r.history[0].class.as_deref(),
                Some("malformed_body" | "oversized_body")
            ),
            "{r:#?}"
        );
        assert_eq!(r.result.unwrap()["lookup"], "free");
        assert_eq!(sandbox.calls("bvn-verify", b).await, 1, "{b}: paid once");
    }
    let rows = common::cli::admin(&server, "unreadable", &["--json", "spend", "--days", "1"])
        .ok()
        .json();
    assert_eq!(rows[0]["uncertain"], 2, "{rows}");
    assert_eq!(rows[0]["saved_lookup"], 2, "{rows}");
    // Both budget slots stay spent (okra.daily_budget = 3): one more paid call fits, and the
    // next one holds the account instead of paying.
    let third = enqueue(&queue, bvn("22500011234")).await;
    assert_eq!(
        finished(&queue, &third, &worker.log_text()).await.state,
        JobState::Completed
    );
    let fourth = enqueue(&queue, bvn("22500021234")).await;
    let (_, reason) = paused_within(&queue, Duration::from_secs(10)).await;
    assert!(reason.contains("okra.daily_budget"), "{reason}");
    assert_eq!(sandbox.calls("bvn-verify", "22500021234").await, 0);
    assert_eq!(
        queue.job(&fourth).await.unwrap().unwrap().state,
        JobState::Ready
    );
}
