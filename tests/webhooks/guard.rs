//! The SSRF guard, with IP literals only (no name is ever resolved, nothing outside loopback
//! is ever connected to): refused when added, and again when sent.

use std::time::Duration;

use super::*;

#[tokio::test]
async fn urls_that_are_not_https_to_a_public_address_are_refused_when_added() {
    let server = RedisServer::start();
    let q = Queue::connect(&server.settings(), QueueConfig::new("identity"))
        .await
        .unwrap();
    q.register().await.unwrap();
    for (url, says) in [
        ("https://127.0.0.2/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.3]/hook", "IPv4-mapped"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://100.64.0.1/hook", "CGNAT"),
        ("https://10.0.0.1/hook", "private"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("file:///etc/passwd", "scheme `file:`"),
        ("http://127.0.0.1:9/hook", "http is not allowed"),
        ("not a url", "not a URL"),
    ] {
        let run = cli::admin(&server, "identity", &["webhook", "add", url]);
        assert_eq!(run.code, 1, "{url}: {} {}", run.out, run.err);
        assert!(run.err.contains(says), "{url}: {}", run.err);
        assert_eq!(run.err.trim().lines().count(), 1, "one line: {}", run.err);
    }
    // The allow list lets a local receiver in, and only the hosts it names.
    let allow = [("OKQ_WEBHOOKS__ALLOW_INSECURE_HOSTS", "[\"127.0.0.1\"]")];
    let run = cli::admin_with_env(
        &server,
        "identity",
        &["webhook", "add", "https://127.0.0.2/x"],
        &allow,
    );
    assert_eq!(run.code, 1, "{}", run.err);
    let list = cli::admin(&server, "identity", &["--json", "webhook", "list"])
        .ok()
        .json();
    assert_eq!(list, serde_json::json!([]), "nothing written");
    cli::admin_with_env(
        &server,
        "identity",
        &["webhook", "add", "http://127.0.0.1:9/x"],
        &allow,
    )
    .ok();
    assert_eq!(q.webhooks().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_address_is_checked_again_when_sending() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let r = Receiver::start().await;
    // Added where the receiver is allowed; the workers do not allow it.
    stack.add("identity", &r.url(), &[]);
    stack.worker("identity", "[\"100ms\"]", "[]");
    enqueue(&q, 1, 1, "1234").await;
    let deliveries = q.sibling("identity.webhooks").unwrap();
    eventually(Duration::from_secs(20), "the delivery refused", || async {
        deliveries.stats().await.unwrap().dead == 1
    })
    .await;
    assert!(r.got().is_empty(), "nothing was sent");
    let dlq = stack
        .admin("identity.webhooks", &["--json", "dlq", "list"])
        .ok()
        .out;
    assert!(
        dlq.contains("webhook_failed") && dlq.contains("http is not allowed"),
        "{dlq}"
    );
}
