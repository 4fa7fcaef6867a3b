//! On a sealed queue: full events carry the result opened with the worker's keys, and what
//! the deliveries keep at rest is sealed or holds no identifier.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use okra_queue::seal::Sealer;

use super::*;

#[tokio::test]
async fn full_events_of_a_sealed_queue_carry_the_opened_result_and_nothing_leaks_at_rest() {
    let mut stack = Stack::start();
    let keys = stack.dir.path().join("seal.keys");
    {
        use std::os::unix::fs::PermissionsExt;
        let key: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
        let line = base64::engine::general_purpose::STANDARD.encode(key);
        std::fs::write(&keys, format!("k1 {line}\n")).unwrap();
        std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut cfg = QueueConfig::new("identity");
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
    cfg.seal = Some(Arc::new(Sealer::from_file(&keys).unwrap()));
    let q = Queue::connect(&stack.server.settings(), cfg).await.unwrap();
    q.register().await.unwrap();
    let r = Receiver::start().await;
    r.answer(&[500], 200);
    let (_, secret) = stack.add("identity", &r.url(), &["--full"]);
    let env = vec![("OKQ_SEAL__KEYS_FILE", keys.display().to_string())];
    stack.worker_with("identity", "[\"1s\"]", "[\"127.0.0.1\"]", env);
    let bvn_value = "22000031234";
    q.enqueue_bulk([bvn(bvn_value.to_string())]).await.unwrap();
    // The first try fails: the delivery waits, sealed, for its retry; look at it at rest.
    until(&r, Duration::from_secs(20), "the first try", |g| {
        g.len() == 1
    })
    .await;
    let mut conn = q.rdb().conn();
    let deliveries = q.sibling("identity.webhooks").unwrap();
    let stored: Vec<String> = redis::cmd("HVALS")
        .arg(deliveries.rdb().keys().job())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].contains("sealed1:"),
        "the delivery's payload is sealed: {}",
        stored[0]
    );
    assert!(!stored[0].contains(bvn_value));
    until(&r, Duration::from_secs(20), "the retry", |g| g.len() == 2).await;
    let got = r.got();
    assert!(verifies(&secret, &got[1]));
    let v = got[1].json();
    let result = &v["data"]["result"];
    assert!(result.is_object(), "{v}");
    assert!(!got[1].body.contains("sealed1:"), "opened: {v}");
}
