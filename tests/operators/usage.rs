//! What the CLI promises: exit codes, help without secrets, and never misleading.

use super::*;

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
        vec!["spend"],
        vec!["erase"],
        vec!["keys", "status"],
        vec!["keys", "rekey"],
        vec!["audit"],
        vec!["api-key", "create"],
        vec!["api-key", "list"],
        vec!["api-key", "revoke"],
        vec!["check", "lookups"],
        vec!["webhook", "add"],
        vec!["webhook", "list"],
        vec!["webhook", "remove"],
        vec!["webhook", "rotate-secret"],
        vec!["completions"],
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
    admin(&server, q, &["dlq", "requeue", &id, "--delay", "300days"]).ok();
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

/// Starts `okra-admin` with its stdout going to a reader that stops after one line.
fn reading_one_line(server: &RedisServer, queue: &str, args: &[&str]) -> std::process::Child {
    let mut child = command(server, queue, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty(), "{args:?} printed nothing");
    // The reader is dropped here: the pipe is closed, as `| head -1` closes it.
    child
}

/// Ends as `ls | head -1` ends: quietly (exit 0, or SIGPIPE's default), never a panic.
fn ended_quietly(mut child: std::process::Child, what: &str) {
    use std::io::Read as _;
    use std::os::unix::process::ExitStatusExt as _;
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} kept running after its reader went away"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        status.success() || status.signal() == Some(13),
        "{what}: {status:?}, {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe"),
        "{what}: {err}"
    );
}

#[tokio::test]
async fn a_closed_pipe_ends_every_command_quietly() {
    let server = RedisServer::start();
    let q = "piped";
    let mut cfg = test_config(q);
    cfg.retry.max_attempts = 1;
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    // More output than a pipe holds (64 KiB): 600 dead letters and 3,000 waiting jobs.
    queue
        .enqueue_bulk((0..600).map(|i| (bvn(&format!("222{i:04}0601")), EnqueueOptions::default())))
        .await
        .unwrap();
    let fleet = start_fleet(&queue, test_options(), 1, okra_like).await;
    eventually(Duration::from_secs(30), "600 dead letters", || async {
        queue.stats().await.unwrap().dead == 600
    })
    .await;
    fleet.stop().await;
    queue
        .enqueue_bulk(
            (0..3000).map(|i| (bvn(&format!("223{i:04}1234")), EnqueueOptions::default())),
        )
        .await
        .unwrap();
    for args in [
        vec!["stats"],
        vec!["--json", "stats"],
        vec!["dlq", "export"],
        vec!["dlq", "list", "--limit", "500"],
        vec!["jobs", "list", "--state", "ready", "--limit", "1000"],
        vec!["tail"],
        vec!["queues"],
        vec!["completions", "bash"],
        vec!["--check-config"],
    ] {
        let child = reading_one_line(&server, q, &args);
        ended_quietly(child, &format!("{args:?}"));
    }
    // Following: the next event written after the reader left ends it.
    for args in [vec!["tail", "--follow"], vec!["stats", "--watch"]] {
        let child = reading_one_line(&server, q, &args);
        tokio::time::sleep(Duration::from_millis(300)).await;
        queue
            .enqueue_bulk(
                (0..50).map(|i| (bvn(&format!("224{i:04}1234")), EnqueueOptions::default())),
            )
            .await
            .unwrap();
        ended_quietly(child, &format!("{args:?}"));
    }
}
