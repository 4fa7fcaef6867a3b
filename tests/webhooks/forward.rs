//! The forwarder alone (a real Redis, no worker): references a dead forwarder left held are
//! taken back by the sweep, and forwarding one reference twice makes one delivery job.

use okra_queue::webhooks::{Forwarder, NewEndpoint};

use super::*;

/// `identity`, registered, the allow list for a loopback receiver, and an endpoint to add.
async fn registered(server: &RedisServer) -> (Queue, Vec<String>, NewEndpoint) {
    let q = Queue::connect(&server.settings(), QueueConfig::new("identity"))
        .await
        .unwrap();
    q.register().await.unwrap();
    let new = NewEndpoint {
        url: "http://127.0.0.1:9/hook".into(),
        ..NewEndpoint::default()
    };
    (q, vec!["127.0.0.1".to_string()], new)
}

#[tokio::test]
async fn held_references_are_swept_and_repeats_make_no_second_delivery() {
    let server = RedisServer::start();
    let (q, allow, new) = registered(&server).await;
    q.webhook_add(new.clone(), &allow).await.unwrap();
    q.webhook_add(new, &allow).await.unwrap();
    let deliveries = q.sibling("identity.webhooks").unwrap();
    let f = Forwarder::new(q.clone(), deliveries.clone());
    let mut conn = q.rdb().conn();
    let held = q.rdb().keys().outbox_held();
    // A forwarder died holding two references: one old, one just taken.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let old = format!("c|01OLD|{}", now - 120_000);
    let fresh = format!("d|01NEW|{now}");
    let _: () = redis::cmd("LPUSH")
        .arg(&held)
        .arg(&old)
        .arg(&fresh)
        .query_async(&mut conn)
        .await
        .unwrap();
    f.sweep().await.unwrap();
    let left: Vec<String> = redis::cmd("LRANGE")
        .arg(&held)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        left,
        std::slice::from_ref(&fresh),
        "only the old one is taken back"
    );
    let s = deliveries.stats().await.unwrap();
    assert_eq!(
        (s.enqueued, s.ready),
        (2, 2),
        "one delivery per endpoint: {s:?}"
    );
    // The same reference again (a sweep racing the forwarder that held it): no new job.
    f.forward(std::slice::from_ref(&old)).await.unwrap();
    let s = deliveries.stats().await.unwrap();
    assert_eq!(s.ready, 2, "{s:?}");
    assert_eq!(s.duplicates, 2, "{s:?}");
}

/// A rotation and a 410's disable of one endpoint at once: both land (compare-and-set), and
/// an update made from a stale read writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_endpoint_changes_are_not_lost() {
    use okra_queue::rdb::{HookWrite, HookWritten};
    let server = RedisServer::start();
    let (q, allow, new) = registered(&server).await;
    for round in 0..20 {
        let e = q.webhook_add(new.clone(), &allow).await.unwrap();
        let why = format!("gone {round}");
        let (rotated, disabled) =
            tokio::join!(q.webhook_rotate(&e.id), q.webhook_disable(&e.id, &why));
        let rotated = rotated.unwrap().expect("rotated");
        disabled.unwrap();
        let now = q.webhook(&e.id).await.unwrap().unwrap();
        assert_eq!(now.disabled.as_deref(), Some(why.as_str()), "round {round}");
        assert_eq!(
            now.secret, rotated.secret,
            "round {round}: the rotation kept"
        );
        assert_eq!(now.previous.as_deref(), Some(e.secret.as_str()));
    }
    let e = q.webhook_add(new, &allow).await.unwrap();
    let stale = serde_json::to_string(&e)
        .unwrap()
        .replace("http://", "http://x");
    let w = q
        .rdb()
        .hook_write(&e.id, "{}", HookWrite::Update { was: &stale })
        .await
        .unwrap();
    assert_eq!(w, HookWritten::Changed);
    assert_eq!(q.webhook(&e.id).await.unwrap().unwrap().url, e.url);
}
