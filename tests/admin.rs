//! `okra-admin`, the real binary, against a real `redis-server`. Dead letters come from a real
//! worker fleet (in process) whose handler fails the way Okra does.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::cli::*;
use common::seed::{okra_like, seed};
use common::*;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Queue, QueueConfig};
use serde_json::Value;

#[tokio::test]
async fn enqueue_from_flags_and_from_json_lines() {
    let server = RedisServer::start();
    let q = "enq";
    let r = admin(
        &server,
        q,
        &["enqueue", "bvn_verify", "--bvn", "22234567890"],
    )
    .ok();
    let id = r.out.trim().to_string();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    let r = admin(&server, q, &["--json", "job", "show", &id])
        .ok()
        .json();
    assert_eq!(r["state"], "ready");
    assert_eq!(r["kind"], "bvn_verify");

    let delayed = admin(
        &server,
        q,
        &[
            "--json",
            "enqueue",
            "nuban_verify",
            "--nuban",
            "0123456789",
            "--bank",
            "b1",
            "--delay",
            "1h",
            "--max-attempts",
            "2",
        ],
    )
    .ok()
    .json();
    let id = delayed["id"].as_str().unwrap();
    let r = admin(&server, q, &["--json", "job", "show", id])
        .ok()
        .json();
    assert_eq!(r["state"], "scheduled");
    assert_eq!(r["max_attempts"], 2);

    let keyed = [
        "enqueue",
        "rc_verify",
        "--rc-number",
        "RC1",
        "--company-name",
        "Acme",
        "--idempotency-key",
        "acme",
    ];
    let a = admin(&server, q, &keyed).ok();
    let b = admin(&server, q, &keyed).ok();
    assert!(
        b.out.starts_with(a.out.trim()),
        "a duplicate key returns the first id: {}",
        b.out
    );
    assert!(b.out.contains("duplicate"), "{}", b.out);

    // Refused before Redis, with a one-line reason.
    let r = admin(&server, q, &["enqueue", "bvn_verify", "--bvn", "123"]);
    assert_eq!(r.code, 2, "a bad flag value is a usage error");
    assert!(r.err.contains("11 digits"), "{}", r.err);
    assert_eq!(r.err.trim().lines().count(), 1);
    let r = admin(
        &server,
        q,
        &["enqueue", "nuban_verify", "--nuban", "0123456789"],
    );
    assert_eq!(r.code, 2);
    assert!(r.err.contains("bank"), "{}", r.err);
    let r = admin(
        &server,
        q,
        &["enqueue", "bvn_check", "--bvn", "22234567890"],
    );
    assert_ne!(r.code, 0);

    let lines = [
        r#"{"kind":"bvn_verify","bvn":"22234567891"}"#,
        "not json",
        r#"{"kind":"bvn_verify","bvn":"1"}"#,
        r#"{"kind":"nin_verify","nin":"12345678901","options":{"delay":"30s","max_attempts":5,"idempotency_key":"k1"}}"#,
        r#"{"kind":"nin_verify","nin":"12345678901","options":{"idempotency_key":"k1"}}"#,
        "",
        r#"{"kind":"teleport","x":1}"#,
    ]
    .join("\n");
    let path = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(path.path(), &lines).unwrap();
    let r = admin(
        &server,
        q,
        &["enqueue", "--file", path.path().to_str().unwrap()],
    );
    assert_eq!(r.code, 1, "invalid lines make the exit status 1");
    assert!(
        r.out.contains("accepted 2, duplicates 1, invalid 3"),
        "{}",
        r.out
    );
    assert!(r.err.contains("line 2:"), "{}", r.err);
    assert!(
        r.err.contains("line 3:") && r.err.contains("11 digits"),
        "{}",
        r.err
    );
    assert!(
        r.err.contains("line 7:") && r.err.contains("unknown kind `teleport`"),
        "{}",
        r.err
    );

    let r = admin_with_stdin(
        &server,
        "enq2",
        &["--json", "enqueue", "--file", "-"],
        &lines,
    )
    .json();
    assert_eq!(
        (
            r["accepted"].as_u64(),
            r["duplicates"].as_u64(),
            r["invalid"].as_u64()
        ),
        (Some(2), Some(1), Some(3))
    );
    assert_eq!(r["errors"][0]["line"], 2);
    let s = admin(&server, "enq2", &["--json", "stats"]).ok().json();
    assert_eq!(s["ready"], 1);
    assert_eq!(s["scheduled"], 1);
}

#[tokio::test]
async fn stats_workers_and_pause() {
    let server = RedisServer::start();
    let queue = seed(&server, "ops").await;
    let s = admin(&server, "ops", &["--json", "stats"]).ok().json();
    for key in [
        "scheduled",
        "ready",
        "running",
        "dead",
        "completed",
        "processed",
        "succeeded",
        "retried",
        "paused",
        "workers",
    ] {
        assert!(s.get(key).is_some(), "stats --json lacks `{key}`: {s}");
    }
    assert_eq!(s["dead"], 45);
    assert_eq!(s["paused"], false);
    let table = admin(&server, "ops", &["stats"]).ok().out;
    assert!(
        table.contains("scheduled") && table.contains("45"),
        "{table}"
    );

    admin(&server, "ops", &["queue", "pause"]).ok();
    assert!(queue.stats().await.unwrap().paused);
    assert_eq!(
        admin(&server, "ops", &["--json", "stats"]).json()["paused"],
        true
    );
    admin(&server, "ops", &["queue", "resume"]).ok();
    assert!(!queue.stats().await.unwrap().paused);

    let rt = queue.runtime(test_options()).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the worker's first heartbeat",
        || async {
            admin(&server, "ops", &["--json", "workers"])
                .ok()
                .json()
                .as_array()
                .unwrap()
                .len()
                == 1
        },
    )
    .await;
    let table = admin(&server, "ops", &["workers"]).ok().out;
    assert!(table.contains(rt.node_id()), "{table}");
    rt.shutdown().await;
    let w = admin(&server, "ops", &["--json", "workers"]).ok().json();
    assert_eq!(
        w.as_array().unwrap().len(),
        0,
        "a stopped worker deregisters: {w}"
    );
}

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
async fn bad_usage_and_unreachable_redis_exit_non_zero() {
    let server = RedisServer::start();
    let r = admin(&server, "x", &["dlq", "list", "--limit", "lots"]);
    assert_eq!(r.code, 2, "bad flags are usage errors");
    server.cli(&["SADD", "okq:queues", "x"]);
    let r = admin(&server, "x", &["dlq", "requeue"]);
    assert_eq!(r.code, 2, "a missing target is a usage error");
    assert!(r.err.contains("--all"), "{}", r.err);
    let r = admin(&server, "x", &["dlq", "purge", "01ID", "--class", "c"]);
    assert_eq!(r.code, 2, "{}", r.err);
    let r = admin(&server, "x", &["dlq", "list", "--page", "0"]);
    assert_eq!(r.code, 2, "{}", r.err);
    let r = admin(
        &server,
        "x",
        &["jobs", "list", "--state", "ready", "--limit", "0"],
    );
    assert_eq!(r.code, 2, "{}", r.err);
    let r = admin(&server, "x", &["--json", "job", "show", "01NOPE"]);
    assert_eq!(r.code, 1);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("no job with id 01NOPE")
    );
    let out = Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .args([
            "--redis-url",
            &format!("redis://127.0.0.1:{}", free_port()),
            "stats",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach Redis"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // Every command has --help with an example.
    for cmd in [
        vec!["enqueue"],
        vec!["stats"],
        vec!["job", "show"],
        vec!["dlq", "list"],
        vec!["dlq", "show"],
        vec!["dlq", "requeue"],
        vec!["dlq", "purge"],
        vec!["dlq", "export"],
        vec!["queue", "pause"],
        vec!["queue", "resume"],
        vec!["queue", "unthrottle"],
        vec!["queue", "rate-limit"],
        vec!["queue", "delete"],
        vec!["queues"],
        vec!["jobs", "list"],
        vec!["job", "cancel"],
        vec!["job", "run-now"],
        vec!["job", "find"],
        vec!["tail"],
        vec!["web"],
        vec!["workers"],
    ] {
        let mut a = cmd.clone();
        a.push("--help");
        let r = admin(&server, "x", &a).ok();
        assert!(
            r.out.contains("Example"),
            "{cmd:?} --help has no example:\n{}",
            r.out
        );
    }
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
                OkraJob::BvnVerify {
                    bvn: format!("22{i:05}0601"),
                },
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

/// Runs `okra-admin` on a pseudo-terminal (util-linux `script`), answering `input`.
fn admin_on_terminal(server: &RedisServer, queue: &str, args: &str, input: &str) -> Run {
    let cmd = format!(
        "{} --redis-url {} --queue {queue} {args}",
        env!("CARGO_BIN_EXE_okra-admin"),
        server.url()
    );
    // util-linux `script` gives the command a pseudo-terminal.
    run_with_input(
        Command::new("script").args(["-qec", &cmd, "/dev/null"]),
        input,
    )
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

#[tokio::test]
async fn enqueue_file_that_fails_part_way_names_the_lines_written_and_not() {
    let server = RedisServer::start();
    let q = "partial";
    // A foreign value where the idempotency key of line 2,102 would go: Redis refuses its chunk.
    server.cli(&["HSET", &format!("okq:{{{q}}}:idem:taken"), "f", "v"]);
    let mut lines = vec!["# 2,500 jobs".to_string()];
    for i in 0..2_500 {
        let key = if i == 2_100 {
            r#","options":{"idempotency_key":"taken"}"#
        } else {
            ""
        };
        lines.push(format!(
            r#"{{"kind":"bvn_verify","bvn":"22{i:05}1234"{key}}}"#
        ));
    }
    let text = lines.join("\n");
    let r = admin_with_stdin(&server, q, &["enqueue", "--file", "-"], &text);
    assert_eq!(r.code, 1, "stdout: {}\nstderr: {}", r.out, r.err);
    assert!(r.err.contains("enqueue stopped part-way"), "{}", r.err);
    assert!(r.err.contains("written:     lines 2-2001"), "{}", r.err);
    assert!(r.err.contains("not written: lines 2002-2501"), "{}", r.err);
    let j = admin_with_stdin(
        &server,
        "partial2",
        &["--json", "enqueue", "--file", "-"],
        &text,
    );
    assert_eq!(j.code, 0, "another queue has no foreign key: {}", j.err);
    let s = admin(&server, q, &["--json", "stats"]).ok().json();
    assert_eq!(s["ready"], 2_000, "exactly the lines it says it wrote");
}

#[tokio::test]
async fn help_never_shows_a_password_and_unthrottle_lifts_a_throttle() {
    let server = RedisServer::start();
    let out = Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .arg("--help")
        .env("REDIS_URL", "redis://app:hunter2@10.0.0.5:6379")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("REDIS_URL"), "{help}");
    assert!(!help.contains("hunter2"), "{help}");

    let q = "throttled";
    server.cli(&["SADD", "okq:queues", q]);
    server.cli(&["SET", &format!("okq:{{{q}}}:throttle"), "1", "PX", "600000"]);
    let s = admin(&server, q, &["--json", "stats"]).ok().json();
    assert!(s["throttled_ms"].as_u64().unwrap() > 0);
    let r = admin(&server, q, &["queue", "unthrottle"]).ok();
    assert!(r.out.contains("throttle lifted"), "{}", r.out);
    let s = admin(&server, q, &["--json", "stats"]).ok().json();
    assert_eq!(s["throttled_ms"], 0);
    let r = admin(&server, q, &["--json", "queue", "unthrottle"])
        .ok()
        .json();
    assert_eq!(r["unthrottled"], false);
}

#[tokio::test]
async fn the_cli_never_misleads() {
    let server = RedisServer::start();
    let q = "honest";
    seed(&server, q).await;
    // A line that is not UTF-8 is reported by number and skipped; the rest is enqueued.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("jobs.jsonl");
    let mut bytes = br#"{"kind":"bvn_verify","bvn":"22234567891"}"#.to_vec();
    bytes.extend_from_slice(b"\n{\"kind\":\"bvn_verify\",\"bvn\":\"\xff\xfe\"}\n");
    bytes.extend_from_slice(br#"{"kind":"bvn_verify","bvn":"22234567892"}"#);
    std::fs::write(&file, bytes).unwrap();
    let r = admin(&server, q, &["enqueue", "--file", file.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.err.contains("line 2: not UTF-8 text"), "{}", r.err);
    assert!(
        r.out.contains("accepted 2, duplicates 0, invalid 1"),
        "{}",
        r.out
    );
    // Paging past the end says so.
    let r = admin(&server, q, &["dlq", "list", "--page", "99"]).ok();
    assert!(
        r.out.contains("page 99 is past the end: 45 dead letters"),
        "{}",
        r.out
    );
    // An export that masks says so.
    let r = admin(&server, q, &["dlq", "export", "--class", "not_found"]).ok();
    assert_eq!(r.out.lines().count(), 10);
    assert!(
        r.err
            .contains("exported 10 dead letters (identifiers masked"),
        "{}",
        r.err
    );
    let r = admin(
        &server,
        q,
        &["--reveal", "dlq", "export", "--class", "not_found"],
    )
    .ok();
    assert!(!r.err.contains("masked"), "{}", r.err);
    // The same bounds for --max-attempts as in files: 0 is a usage error.
    let r = admin(
        &server,
        q,
        &[
            "enqueue",
            "bvn_verify",
            "--bvn",
            "22234567890",
            "--max-attempts",
            "0",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.err);
    // Plurals.
    let id = admin(&server, q, &["--json", "dlq", "list", "--limit", "1"])
        .ok()
        .json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    admin(
        &server,
        q,
        &["dlq", "requeue", &id, "--at", "2099-01-01T00:00:00Z"],
    )
    .ok();
    let r = admin(&server, q, &["job", "show", &id]).ok();
    assert!(r.out.contains("(requeued 1 time)"), "{}", r.out);
    // Human durations, and no escape codes when piped.
    server.cli(&["SET", &format!("okq:{{{q}}}:throttle"), "1", "PX", "90000"]);
    let r = admin(&server, q, &["stats"]).ok();
    assert!(
        r.out.contains("throttled for 1m 30s") || r.out.contains("throttled for 1m 29s"),
        "{}",
        r.out
    );
    assert!(!r.out.contains('\x1b'), "no escape codes in piped output");
}
