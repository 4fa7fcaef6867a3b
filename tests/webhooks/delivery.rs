//! Deliveries: every completed and dead job, verified with its secret, thin and full; retries
//! after 500s with one `webhook-id`; nothing lost while the receiver is down; a rotated secret;
//! 410 Gone; a 4xx as a `webhook_failed` dead letter that `okra-admin dlq` requeues.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use super::*;

const ALLOW: &str = "[\"127.0.0.1\"]";

/// The receiver-down test's schedule: about 11 s of retries.
const SCHEDULE: &str = "[\"500ms\", \"1s\", \"2s\", \"2s\", \"2s\", \"2s\", \"2s\"]";

fn ids_of(got: &[Got], status: u16) -> BTreeSet<String> {
    got.iter()
        .filter(|g| g.status == status)
        .map(|g| g.json()["data"]["job_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn every_completed_and_dead_job_gets_a_verified_webhook_thin_unless_full() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let thin = Receiver::start().await;
    let full = Receiver::start().await;
    let (_, thin_secret) = stack.add("identity", &thin.url(), &[]);
    let (_, full_secret) = stack.add("identity", &full.url(), &["--full"]);
    stack.worker("identity", "[\"200ms\"]", ALLOW);
    let done = enqueue(&q, 20, 1, "1234").await;
    let dead = enqueue(&q, 5, 2, "0404").await;
    let all: BTreeSet<String> = done.iter().chain(&dead).cloned().collect();
    for r in [&thin, &full] {
        until(r, Duration::from_secs(30), "a webhook per job", |g| {
            ids_of(g, 200).len() == all.len()
        })
        .await;
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for (r, secret, is_full) in [(&thin, &thin_secret, false), (&full, &full_secret, true)] {
        let got = r.got();
        assert_eq!(got.len(), all.len(), "one request per job: {got:#?}");
        assert_eq!(ids_of(&got, 200), all);
        for g in &got {
            assert!(verifies(secret, g), "signature verifies: {g:?}");
            assert!(!verifies(
                &thin_secret_other(secret, &thin_secret, &full_secret),
                g
            ));
            assert!(g.timestamp.abs_diff(now) < 300, "timestamp is now: {g:?}");
            assert!(g.id.starts_with("evt_"), "{g:?}");
            let v = g.json();
            let data = &v["data"];
            let id = data["job_id"].as_str().unwrap();
            assert_eq!(data["queue"], "identity");
            assert_eq!(data["kind"], "bvn_verify");
            assert_eq!(data["provider"], "okra");
            assert!(data.get("metadata").is_some_and(|m| m.is_null()), "{v}");
            assert!(v["timestamp"].as_str().unwrap().ends_with('Z'), "{v}");
            if done.iter().any(|d| d == id) {
                assert_eq!(v["type"], "job.completed");
                assert!(data.get("failure").is_none());
                if is_full {
                    assert!(
                        data["result"].is_object(),
                        "full events carry the result: {v}"
                    );
                } else {
                    assert!(
                        data.get("result").is_none(),
                        "thin events carry no result: {v}"
                    );
                    // Nothing of the person leaves in a thin event.
                    assert!(!g.body.contains("\"bvn\""), "{}", g.body);
                }
            } else {
                assert_eq!(v["type"], "job.dead");
                assert_eq!(data["failure"]["class"], "not_found", "{v}");
                assert_eq!(data["failure"].get("message").is_some(), is_full, "{v}");
            }
        }
    }
    // The deliveries are jobs of the companion queue, all completed.
    let deliveries = q.sibling("identity.webhooks").unwrap();
    let want = 2 * all.len() as u64;
    eventually(
        Duration::from_secs(10),
        "every delivery completed",
        || async {
            let s = deliveries.stats().await.unwrap();
            s.succeeded == want && s.dead == 0
        },
    )
    .await;
    assert!(
        !stack.logs().contains(&thin_secret),
        "secrets are never logged"
    );
}

/// The other endpoint's secret (a signature must not verify under it).
fn thin_secret_other(secret: &str, a: &str, b: &str) -> String {
    if secret == a { b.into() } else { a.into() }
}

#[tokio::test]
async fn a_delivery_is_retried_after_three_500s_under_one_webhook_id() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let r = Receiver::start().await;
    r.answer(&[500, 500, 500], 200);
    let (_, secret) = stack.add("identity", &r.url(), &[]);
    stack.worker(
        "identity",
        "[\"100ms\", \"200ms\", \"300ms\", \"400ms\"]",
        ALLOW,
    );
    let ids = enqueue(&q, 1, 1, "1234").await;
    until(&r, Duration::from_secs(20), "the fourth try", |g| {
        g.len() >= 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = r.got();
    assert_eq!(
        got.iter().map(|g| g.status).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    assert!(
        got.iter()
            .all(|g| g.id == got[0].id && verifies(&secret, g))
    );
    assert!(
        got.iter()
            .all(|g| g.json()["data"]["job_id"] == ids[0].as_str())
    );
    // The waits follow the schedule (100, 200, 300 ms, at most 10 % jitter, plus claiming).
    let waits: Vec<u128> = got
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect();
    assert!(waits[0] >= 90 && waits[2] >= 270, "{waits:?}");
    let deliveries = q.sibling("identity.webhooks").unwrap();
    eventually(
        Duration::from_secs(10),
        "3 retries and a success",
        || async {
            let s = deliveries.stats().await.unwrap();
            (s.retried, s.succeeded, s.dead) == (3, 1, 0)
        },
    )
    .await;
}

#[tokio::test]
async fn nothing_is_lost_while_the_receiver_is_down() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let mut r = Receiver::start().await;
    let (_, secret) = stack.add("identity", &r.url(), &[]);
    r.down();
    stack.worker("identity", SCHEDULE, ALLOW);
    let ids: BTreeSet<String> = enqueue(&q, 30, 1, "1234").await.into_iter().collect();
    eventually(Duration::from_secs(20), "the jobs completed", || async {
        q.stats().await.unwrap().succeeded == 30
    })
    .await;
    // Down through several retries of every delivery (the minute, scaled down).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(r.got().is_empty());
    let s = q
        .sibling("identity.webhooks")
        .unwrap()
        .stats()
        .await
        .unwrap();
    assert!(
        s.retried >= 30,
        "every delivery failed and was retried: {s:?}"
    );
    // The worker dies (SIGKILL) with the deliveries pending; another takes over.
    stack.workers[0].kill();
    stack.worker("identity", SCHEDULE, ALLOW);
    r.up().await;
    until(&r, Duration::from_secs(20), "every event delivered", |g| {
        ids_of(g, 200).len() == ids.len()
    })
    .await;
    let got = r.got();
    assert_eq!(ids_of(&got, 200), ids);
    assert!(got.iter().all(|g| verifies(&secret, g)));
    assert_eq!(
        got.iter().filter(|g| g.status == 200).count(),
        30,
        "each once"
    );
    // The last outcomes are recorded a moment after their answers.
    let deliveries = q.sibling("identity.webhooks").unwrap();
    eventually(
        Duration::from_secs(10),
        "every delivery completed",
        || async {
            let s = deliveries.stats().await.unwrap();
            s.succeeded == 30 && s.dead == 0
        },
    )
    .await;
}

#[tokio::test]
async fn a_rotated_secret_and_the_old_one_both_verify() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let r = Receiver::start().await;
    let (id, old) = stack.add("identity", &r.url(), &[]);
    stack.worker("identity", "[\"200ms\"]", ALLOW);
    enqueue(&q, 1, 1, "1234").await;
    until(&r, Duration::from_secs(20), "the first event", |g| {
        g.len() == 1
    })
    .await;
    let v = stack
        .admin("identity", &["--json", "webhook", "rotate-secret", &id])
        .ok()
        .json();
    let new = v["secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    enqueue(&q, 1, 2, "1234").await;
    until(&r, Duration::from_secs(20), "the second event", |g| {
        g.len() == 2
    })
    .await;
    let got = r.got();
    assert!(verifies(&old, &got[0]) && !verifies(&new, &got[0]));
    assert_eq!(got[1].signature.split(' ').count(), 2, "{:?}", got[1]);
    assert!(verifies(&old, &got[1]) && verifies(&new, &got[1]));
    // The trail names the endpoint, never a secret.
    let audit = stack.admin("identity", &["--json", "audit"]).ok().out;
    assert!(
        audit.contains("webhook-rotate") && audit.contains("webhook-add"),
        "{audit}"
    );
    assert!(!audit.contains(&new) && !audit.contains(&old));
}

#[tokio::test]
async fn gone_disables_and_another_4xx_is_a_dead_letter_that_requeues() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let gone = Receiver::start().await;
    gone.answer(&[], 410);
    let picky = Receiver::start().await;
    picky.answer(&[400], 200);
    let (gone_id, _) = stack.add("identity", &gone.url(), &[]);
    let (_, secret) = stack.add("identity", &picky.url(), &[]);
    stack.worker("identity", "[\"100ms\", \"100ms\"]", ALLOW);
    let first = enqueue(&q, 1, 1, "1234").await;
    let deliveries = q.sibling("identity.webhooks").unwrap();
    eventually(Duration::from_secs(20), "two dead deliveries", || async {
        deliveries.stats().await.unwrap().dead == 2
    })
    .await;
    assert_eq!(gone.got().len(), 1, "410 is not retried");
    assert_eq!(picky.got().len(), 1, "400 is not retried");
    let list = stack
        .admin("identity", &["--json", "webhook", "list"])
        .ok()
        .json();
    let by_id: HashMap<&str, &Value> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_str().unwrap(), e))
        .collect();
    assert!(
        by_id[gone_id.as_str()]["disabled"]
            .as_str()
            .unwrap()
            .contains("410"),
        "{list}"
    );
    let dlq = stack
        .admin("identity.webhooks", &["--json", "dlq", "list"])
        .ok()
        .out;
    assert_eq!(dlq.matches("webhook_failed").count(), 2, "{dlq}");
    // Requeued like any other dead letter: the picky receiver now takes it; the disabled
    // endpoint's delivery dies again without a request.
    stack
        .admin(
            "identity.webhooks",
            &["dlq", "requeue", "--all", "--class", "webhook_failed"],
        )
        .ok();
    until(
        &picky,
        Duration::from_secs(20),
        "the requeued delivery",
        |g| g.iter().any(|g| g.status == 200),
    )
    .await;
    let got = picky.got();
    assert_eq!(got[0].id, got[1].id);
    assert!(verifies(&secret, &got[1]));
    assert_eq!(got[1].json()["data"]["job_id"], first[0].as_str());
    // Later jobs reach only the enabled endpoint.
    enqueue(&q, 1, 2, "1234").await;
    until(&picky, Duration::from_secs(20), "the next event", |g| {
        g.len() == 3
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the disabled delivery dead again",
        || async { deliveries.stats().await.unwrap().dead == 1 },
    )
    .await;
    assert_eq!(gone.got().len(), 1, "a disabled endpoint gets nothing");
}
