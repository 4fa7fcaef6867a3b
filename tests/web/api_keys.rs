//! The dashboard's API keys page: the queue's keys (name, scopes, rate, created) and never a
//! token or its hash; revoking one only with the CSRF token, only a key of this queue, and
//! never on a read-only dashboard; the revocation in the audit trail.

use okra_queue::{Queue, QueueConfig};
use serde_json::Value;

use super::common::cli::admin;
use super::common::web::{Web, csrf_of, get, post};
use super::common::*;

/// Makes key `name` on `queue`; its token.
fn make(server: &RedisServer, queue: &str, name: &str, args: &[&str]) -> String {
    let mut all = vec!["--json", "api-key", "create", name];
    all.extend_from_slice(args);
    let v: Value = admin(server, queue, &all).ok().json();
    v["token"].as_str().unwrap().to_string()
}

async fn names(q: &Queue) -> Vec<String> {
    let mut n: Vec<String> = q
        .api_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    n.sort();
    n
}

#[tokio::test]
async fn the_api_keys_page_lists_keys_without_tokens_and_revokes_with_csrf() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let q = Queue::connect(&server.settings(), QueueConfig::new("keys"))
        .await
        .unwrap();
    q.register().await.unwrap();
    let shop = make(&server, "keys", "shopfront", &[]);
    let ops = make(
        &server,
        "keys",
        "backoffice",
        &["--scope", "admin", "--rate", "7"],
    );
    let other = make(&server, "elsewhere", "otherapp", &[]);
    let hashes: Vec<String> = q
        .api_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.hash)
        .collect();
    assert_eq!(hashes.len(), 3);

    let web = Web::start(dir.path(), &server, "keys", &[], &[]);
    let url = format!("{}/q/keys/api-keys", web.url);
    let page = get(&url).await.1;
    for want in [
        ">shopfront<",
        ">backoffice<",
        ">enqueue<",
        ">read<",
        ">cancel<",
        ">admin<",
        "7 / s",
        "Revoke",
    ] {
        assert!(page.contains(want), "{want} on the page:\n{page}");
    }
    assert!(!page.contains("otherapp"), "another queue's key:\n{page}");
    for secret in [&shop, &ops, &other] {
        assert!(!page.contains(secret.as_str()), "a token on the page");
    }
    assert!(!page.contains("okq_"), "no token on the page");
    for h in &hashes {
        assert!(!page.contains(h.as_str()), "a token's hash on the page");
    }

    // Revoking needs the CSRF token; another queue's key cannot be revoked from here.
    let revoke = |name: &str| format!("{}/q/keys/api-keys/{name}/revoke", web.url);
    let r = post(&revoke("shopfront"), &[("csrf", "0000")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(names(&q).await, ["backoffice", "otherapp", "shopfront"]);
    let csrf = csrf_of(&page);
    let r = post(&revoke("otherapp"), &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(names(&q).await, ["backoffice", "otherapp", "shopfront"]);
    let r = post(&revoke("shopfront"), &[("csrf", csrf.as_str())]).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(names(&q).await, ["backoffice", "otherapp"]);
    let audit = admin(&server, "keys", &["--json", "audit"]).ok().out;
    assert!(
        audit.contains("api-key-revoke") && audit.contains("shopfront"),
        "{audit}"
    );

    // Read-only: no button, and the action is refused.
    drop(web);
    let web = Web::start(dir.path(), &server, "keys", &["--read-only"], &[]);
    let page = get(&format!("{}/q/keys/api-keys", web.url)).await.1;
    assert!(
        page.contains(">backoffice<") && !page.contains("/revoke"),
        "{page}"
    );
    let r = post(
        &format!("{}/q/keys/api-keys/backoffice/revoke", web.url),
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(names(&q).await, ["backoffice", "otherapp"]);
}
