//! The dashboard's webhooks page: endpoints without their secrets, recent deliveries,
//! retries, failures; removing an endpoint only with the CSRF token and never read-only.

use std::time::Duration;

use common::web::{Web, csrf_of, get, post};

use super::*;

#[tokio::test]
async fn the_webhooks_page_shows_endpoints_deliveries_and_failures() {
    let mut stack = Stack::start();
    let q = stack.producer("identity").await;
    let ok = Receiver::start().await;
    let picky = Receiver::start().await;
    picky.answer(&[], 400);
    let (ok_id, ok_secret) = stack.add("identity", &ok.url(), &["--full"]);
    let (picky_id, _) = stack.add("identity", &picky.url(), &[]);
    stack.worker("identity", "[\"100ms\"]", "[\"127.0.0.1\"]");
    let ids = enqueue(&q, 2, 1, "1234").await;
    let deliveries = q.sibling("identity.webhooks").unwrap();
    eventually(Duration::from_secs(20), "deliveries done", || async {
        let s = deliveries.stats().await.unwrap();
        s.succeeded == 2 && s.dead == 2
    })
    .await;

    let web = Web::start(stack.dir.path(), &stack.server, "identity", &[], &[]);
    let page = get(&format!("{}/q/identity/webhooks", web.url)).await.1;
    for want in [&ok_id, &picky_id, &ids[0], &ids[1]] {
        assert!(page.contains(want.as_str()), "{want} on the page:\n{page}");
    }
    assert!(
        page.contains("200 in"),
        "recent deliveries with their answer"
    );
    assert!(page.contains("webhook_failed"), "the failures");
    assert!(page.contains("full") && page.contains("thin"));
    assert!(
        !page.contains("whsec_") && !page.contains(&ok_secret),
        "no secret on a page"
    );

    // Removing needs the CSRF token.
    let remove = format!("{}/q/identity/webhooks/{picky_id}/remove", web.url);
    let r = post(&remove, &[("csrf", "0000")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(q.webhooks().await.unwrap().len(), 2);
    let r = post(&remove, &[("csrf", csrf_of(&page).as_str())]).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let left: Vec<String> = q
        .webhooks()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&ok_id));
    let audit = stack.admin("identity", &["--json", "audit"]).ok().out;
    assert!(audit.contains("webhook-remove"), "{audit}");

    // Read-only: no button, and the action is refused.
    drop(web);
    let web = Web::start(
        stack.dir.path(),
        &stack.server,
        "identity",
        &["--read-only"],
        &[],
    );
    let page = get(&format!("{}/q/identity/webhooks", web.url)).await.1;
    assert!(!page.contains("/remove"), "{page}");
    let remove = format!("{}/q/identity/webhooks/{ok_id}/remove", web.url);
    let r = post(&remove, &[("csrf", "x")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(q.webhooks().await.unwrap().len(), 1);
}
