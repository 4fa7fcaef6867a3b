//! `okra-admin dlq`: list with filters, paging and masking; requeue, purge, dry runs, export; bulk actions.

use super::*;

#[tokio::test]
async fn dlq_list_filters_pages_and_masks() {
    let server = RedisServer::start();
    seed(&server, "list").await;
    let list = |args: &[&str]| {
        let mut a = vec!["--json", "dlq", "list"];
        a.extend_from_slice(args);
        admin(&server, "list", &a).ok().json()
    };
    let page = list(&[]);
    let items = page.as_array().unwrap();
    assert_eq!(items.len(), 20, "default page size");
    for key in [
        "id",
        "kind",
        "class",
        "http_status",
        "okra_type",
        "message",
        "attempts",
        "died_at",
    ] {
        assert!(items[0].get(key).is_some(), "dlq list --json lacks `{key}`");
    }
    let died: Vec<u64> = items
        .iter()
        .map(|l| l["died_at"].as_u64().unwrap())
        .collect();
    assert!(died.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let count = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--limit", "1000"]);
        list(&a).as_array().unwrap().len()
    };
    assert_eq!(count(&["--class", "flagged_user"]), 30);
    assert_eq!(count(&["--kind", "nin_verify"]), 10);
    assert_eq!(count(&["--status", "404"]), 10);
    assert_eq!(count(&["--status", "500"]), 5);
    assert_eq!(count(&["--okra-type", "flagged_user"]), 30);
    assert_eq!(
        count(&["--class", "flagged_user", "--kind", "nin_verify"]),
        0
    );
    assert_eq!(
        count(&[
            "--class",
            "server_error",
            "--kind",
            "customer_verify",
            "--status",
            "500"
        ]),
        5
    );
    assert_eq!(count(&["--since", "1h"]), 45);
    assert_eq!(count(&["--until", "1h"]), 0);
    // Paging: 30 letters, 7 a page.
    let pages: Vec<usize> = (1..=5)
        .map(|p| {
            list(&[
                "--class",
                "flagged_user",
                "--limit",
                "7",
                "--page",
                &p.to_string(),
            ])
            .as_array()
            .unwrap()
            .len()
        })
        .collect();
    assert_eq!(pages, vec![7, 7, 7, 7, 2]);

    let flagged = list(&["--class", "flagged_user", "--limit", "1"]);
    let letter = &flagged[0];
    assert_eq!(letter["okra_type"], "FLAGGED_USER");
    assert_eq!(letter["http_status"], 200);
    let message = letter["message"].as_str().unwrap();
    assert!(message.contains("*******0601"), "masked: {message}");
    let id = letter["id"].as_str().unwrap();

    // The table, for people.
    let table = admin(&server, "list", &["dlq", "list", "--class", "flagged_user"])
        .ok()
        .out;
    assert!(
        table.contains("flagged_user") && table.contains("page 1 of 2 (30 dead letters match)"),
        "{table}"
    );
    assert!(
        !table.contains("0601 is flagged") || table.contains("*******0601 is flagged"),
        "{table}"
    );

    // show: the whole record, masked unless revealed.
    let shown = admin(&server, "list", &["dlq", "show", id]).ok().out;
    assert!(
        shown.contains("flagged_user") && shown.contains("FLAGGED_USER"),
        "{shown}"
    );
    let bvn = admin(&server, "list", &["--reveal", "--json", "dlq", "show", id])
        .ok()
        .json()["payload"]["bvn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(bvn.len(), 11);
    assert!(!shown.contains(&bvn), "show masks the BVN without --reveal");
    let masked = admin(&server, "list", &["--json", "dlq", "show", id])
        .ok()
        .json();
    assert_eq!(masked["payload"]["bvn"], format!("*******{}", &bvn[7..]));
    assert!(masked["history"].as_array().unwrap().len() == 1);
    assert!(!masked.to_string().contains(&bvn));

    let r = admin(&server, "list", &["dlq", "show", "01NOPE"]);
    assert_eq!(r.code, 1);
    assert!(r.err.contains("no dead letter with id 01NOPE"), "{}", r.err);
}

#[tokio::test]
async fn dlq_requeue_purge_dry_run_and_export() {
    let server = RedisServer::start();
    let queue = seed(&server, "bulk").await;
    let stats = || async { queue.stats().await.unwrap() };

    // Dry runs change nothing and say exactly what would.
    let dry = admin(
        &server,
        "bulk",
        &[
            "--json",
            "dlq",
            "requeue",
            "--all",
            "--class",
            "not_found",
            "--dry-run",
        ],
    )
    .ok()
    .json();
    assert_eq!(dry["would_change"], 10);
    assert_eq!(dry["letters"].as_array().unwrap().len(), 10);
    // In the order `dlq list` shows the same letters.
    let listed = admin(
        &server,
        "bulk",
        &[
            "--json",
            "dlq",
            "list",
            "--class",
            "not_found",
            "--limit",
            "10",
        ],
    )
    .ok()
    .json();
    let order = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(order(&dry["letters"]), order(&listed));
    assert_eq!(stats().await.dead, 45);
    let dry = admin(&server, "bulk", &["dlq", "purge", "--all", "--dry-run"])
        .ok()
        .out;
    assert!(
        dry.contains("would purge 45 dead letters; nothing changed"),
        "{dry}"
    );

    // Requeue by id, and a filtered bulk requeue for later.
    let one = admin(
        &server,
        "bulk",
        &[
            "--json",
            "dlq",
            "list",
            "--kind",
            "customer_verify",
            "--limit",
            "1",
        ],
    )
    .ok()
    .json();
    let id = one[0]["id"].as_str().unwrap().to_string();
    let r = admin(&server, "bulk", &["dlq", "requeue", &id]).ok();
    assert!(r.out.contains(&format!("requeued {id}")), "{}", r.out);
    let r = admin(&server, "bulk", &["dlq", "requeue", &id]);
    assert_eq!(r.code, 1, "no longer dead");
    assert!(r.err.contains("is not a dead letter"), "{}", r.err);
    let r = admin(
        &server,
        "bulk",
        &[
            "--json",
            "dlq",
            "requeue",
            "--all",
            "--kind",
            "nin_verify",
            "--delay",
            "1h",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        (r["matched"].as_u64(), r["changed"].as_u64()),
        (Some(10), Some(10))
    );
    let s = stats().await;
    assert_eq!((s.dead, s.ready, s.scheduled), (34, 1, 10));
    let rec = queue.job(&id).await.unwrap().unwrap();
    assert_eq!(rec.meta.requeues, 1);
    assert!(
        rec.history.iter().any(|h| h.outcome.as_str() == "requeued"),
        "history kept: {:?}",
        rec.history
    );

    // Export: JSON Lines with the history, masked unless revealed.
    let file = tempfile::NamedTempFile::new().unwrap();
    let path = file.path().to_str().unwrap();
    admin(
        &server,
        "bulk",
        &["dlq", "export", "--class", "flagged_user", "--out", path],
    )
    .ok();
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 30);
    assert!(
        lines
            .iter()
            .all(|l| l["history"].as_array().is_some_and(|h| h.len() == 1))
    );
    assert!(
        lines
            .iter()
            .all(|l| l["payload"]["bvn"].as_str().unwrap().starts_with("*******"))
    );
    let revealed = admin(
        &server,
        "bulk",
        &["--reveal", "dlq", "export", "--class", "flagged_user"],
    )
    .ok()
    .out;
    assert_eq!(revealed.lines().count(), 30);
    assert!(
        revealed.contains("0601\"") && revealed.contains("\"bvn\":\"222"),
        "revealed export"
    );

    // Purge: refuses a bulk purge without --yes off a terminal; then does it.
    let r = admin(
        &server,
        "bulk",
        &["dlq", "purge", "--all", "--class", "server_error"],
    );
    assert_eq!(r.code, 1);
    assert!(r.err.contains("without --yes"), "{}", r.err);
    let r = admin(
        &server,
        "bulk",
        &[
            "--json",
            "dlq",
            "purge",
            "--all",
            "--class",
            "server_error",
            "--yes",
        ],
    )
    .ok()
    .json();
    assert_eq!(r["changed"], 4);
    assert_eq!(stats().await.dead, 30);
    let r = admin(
        &server,
        "bulk",
        &["dlq", "purge", "--all", "--status", "599", "--yes"],
    )
    .ok();
    assert!(r.out.contains("no dead letters match"), "{}", r.out);
}

#[tokio::test]
async fn bulk_requeue_of_a_hundred_thousand_letters() {
    let server = RedisServer::start();
    let mut cfg = QueueConfig::new("big");
    cfg.retry.max_attempts = 1;
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let jobs: Vec<_> = (0..100_000u64)
        .map(|i| {
            (
                OkraJob::new("bvn_verify", &[("bvn", &format!("22{i:05}0601"))]).unwrap(),
                EnqueueOptions::default(),
            )
        })
        .collect();
    queue.enqueue_bulk(jobs).await.unwrap();
    let opts = okra_queue::WorkerOptions {
        concurrency: 500,
        batch: 500,
        ..test_options()
    };
    let fleet = start_fleet(&queue, opts, 1, okra_like).await;
    eventually(Duration::from_secs(120), "100,000 dead letters", || async {
        queue.stats().await.unwrap().dead == 100_000
    })
    .await;
    fleet.stop().await;
    let r = admin(
        &server,
        "big",
        &[
            "--json",
            "dlq",
            "requeue",
            "--all",
            "--class",
            "flagged_user",
        ],
    )
    .ok()
    .json();
    assert_eq!(
        (r["matched"].as_u64(), r["changed"].as_u64()),
        (Some(100_000), Some(100_000))
    );
    let s = queue.stats().await.unwrap();
    assert_eq!(
        (s.dead, s.ready),
        (0, 100_000),
        "every letter requeued exactly once"
    );
    let index: u64 = server
        .cli(&["zcard", "okq:{big}:dead_index"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(index, 0, "the filter index follows");
}

#[tokio::test]
async fn bulk_purge_asks_first_on_a_terminal_and_watch_refreshes() {
    let server = RedisServer::start();
    let queue = seed(&server, "tty").await;
    let r = admin_on_terminal(&server, "tty", "dlq purge --all --class not_found", "n\n");
    assert!(
        r.out.contains("Purge 10 dead letters for good? [y/N]"),
        "{}",
        r.out
    );
    assert!(r.out.contains("nothing purged"), "{}", r.out);
    assert_eq!(r.code, 1, "declining is not success");
    assert_eq!(queue.stats().await.unwrap().dead, 45);
    let r = admin_on_terminal(&server, "tty", "dlq purge --all --class not_found", "y\n");
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("purged 10 of 10 matching dead letters"),
        "{}",
        r.out
    );
    assert_eq!(queue.stats().await.unwrap().dead, 35);

    // --watch refreshes until Ctrl-C, then exits 0.
    let child = Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .args(["--redis-url", &server.url(), "--queue", "tty", "--json"])
        .args(["stats", "--watch", "200ms"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    common::procs::signal(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 3, "refreshed {} times", lines.len());
    assert!(lines.iter().all(|s| s["dead"] == 35));
}
