//! `okra-admin erase --bvn`: a person's pending deliveries go with their jobs (a delivery job
//! is indexed under its job's person), and nothing more is sent about them.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn erasing_a_person_erases_their_pending_deliveries() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let r = Receiver::start().await;
    r.answer(&[], 500);
    stack.add("identity", &r.url(), &["--full"]);
    // The first retry waits long enough to erase before it.
    stack.worker("identity", "[\"3s\", \"3s\"]", "[\"127.0.0.1\"]");
    let (erased, kept) = ("22000011234".to_string(), "22000021234".to_string());
    q.enqueue_bulk([bvn(erased.clone()), bvn(kept.clone())])
        .await
        .unwrap();
    until(&r, Duration::from_secs(20), "both first tries", |g| {
        g.len() == 2
    })
    .await;
    let deliveries = q.sibling("identity.webhooks").unwrap();
    // Both retries recorded (the outcome follows the answer by a moment).
    eventually(
        Duration::from_secs(10),
        "both deliveries waiting to retry",
        || async { deliveries.stats().await.unwrap().scheduled == 2 },
    )
    .await;
    let out = stack
        .admin("identity", &["--json", "erase", "--bvn", &erased])
        .ok()
        .json();
    let queues = out["queues"].to_string();
    assert!(queues.contains("identity.webhooks"), "{out}");
    let s = deliveries.stats().await.unwrap();
    assert_eq!(
        s.scheduled, 1,
        "only the other person's delivery is pending: {s:?}"
    );
    // The next round of retries reaches the receiver for the other person only.
    r.answer(&[], 200);
    until(&r, Duration::from_secs(20), "the kept retry", |g| {
        g.iter().any(|g| g.status == 200)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let after: Vec<_> = r.got().into_iter().skip(2).collect();
    assert_eq!(after.len(), 1, "{after:?}");
    assert!(after[0].body.contains(&kept) && !after[0].body.contains(&erased));
}
