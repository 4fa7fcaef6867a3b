//! What a security review found at the CLI's and the worker's edges (issue 24, items 4, 5, 10,
//! 12, 13, 14): names that reach other queues' or an account's keys, secrets in
//! `--check-config`, due times that cannot be read back, values in logs and error messages,
//! and a reveal without an audit entry.

use super::*;
use common::procs::{Sandbox, WorkerSpec, start_worker};

/// `okra-worker` with `args`, no settings file; its exit code within `limit`, or `None` if it
/// was still running (then it is killed, by its handle), and what it printed.
fn worker_exit(server: &RedisServer, args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let log = server
        .dir()
        .join(format!("worker-{}.log", fastrand::u32(..)));
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_okra-worker"))
        .args(["--redis-url", &server.url()])
        .args(args)
        .env("OKRA_SECRET_KEY", "sk_test_never_logged_42")
        .env("OKQ_OKRA__BASE_URL", "http://127.0.0.1:9")
        .env_remove("OKQ_CONFIG")
        .env_remove("OKQ_QUEUE")
        .current_dir(server.dir())
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, std::fs::read_to_string(&log).unwrap_or_default())
}

/// Item 4: a queue named `acct:<account>` would share the account's keys (`budget`,
/// `throttle`, `rate`, `seq`, `rekey` are names in both layouts). No queue name may hold a `:`.
#[tokio::test]
async fn a_queue_cannot_take_an_accounts_keys() {
    let server = RedisServer::start();
    let budget = "okq:{acct:default}:budget";
    server.cli(&["SET", budget, "20420|3"]);
    server.cli(&["SET", "okq:{acct:default}:limit", "60"]);

    let r = admin(
        &server,
        "acct:default",
        &["enqueue", "bvn_verify", "--bvn", "22234567890"],
    );
    assert_eq!(r.code, 2, "stdout: {}\nstderr: {}", r.out, r.err);
    assert_eq!(r.err.lines().count(), 1, "one line: {}", r.err);
    assert!(
        r.err.contains("queue name `acct:default` holds ':'"),
        "{}",
        r.err
    );
    let r = admin(&server, "acct:default", &["queue", "delete", "--force"]);
    assert_eq!(r.code, 2, "{}", r.err);
    // OKQ_QUEUE is --queue by another name: refused the same way.
    let r = run_with_input(
        Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--redis-url", &server.url(), "stats"])
            .env("OKQ_QUEUE", "acct:default")
            .env_remove("OKQ_CONFIG"),
        "",
    );
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("queue name `acct:default`"), "{}", r.err);

    // The worker refuses the name before it writes anything (it used to publish its retry
    // budget over the account's budget counter).
    let (code, log) = worker_exit(
        &server,
        &["--queue", "acct:default"],
        Duration::from_secs(15),
    );
    assert_eq!(
        code,
        Some(2),
        "okra-worker must refuse the name; log:\n{log}"
    );
    assert!(log.contains("queue name `acct:default`"), "{log}");
    assert_eq!(server.cli(&["GET", budget]).trim(), "20420|3");
    assert_eq!(
        server.cli(&["GET", "okq:{acct:default}:limit"]).trim(),
        "60"
    );
    assert_eq!(server.cli(&["SMEMBERS", "okq:queues"]).trim(), "");
}

/// Item 5: glob characters in a queue name reached other queues' keys through `SCAN`; an
/// account named `*` counted other accounts' stored profiles.
#[tokio::test]
async fn glob_names_are_refused_and_never_reach_a_pattern() {
    let server = RedisServer::start();
    admin(
        &server,
        "victim",
        &[
            "enqueue",
            "bvn_verify",
            "--bvn",
            "22234567890",
            "--idempotency-key",
            "order-1",
        ],
    )
    .ok();
    // Claims are named by the key's hash (here without an index key).
    let claim = &format!(
        "okq:{{victim}}:idem:{}",
        okra_queue::ident::idem_hash(None, "order-1")
    );
    assert_eq!(server.cli(&["EXISTS", claim]).trim(), "1");

    for name in ["*", "vic?im", "[v]ictim", "a\\b"] {
        let r = admin(
            &server,
            name,
            &["enqueue", "bvn_verify", "--bvn", "22234567891"],
        );
        assert_eq!(r.code, 2, "{name}: {}", r.err);
        assert_eq!(r.err.lines().count(), 1, "one line: {}", r.err);
        assert!(
            r.err.contains("queue names hold 1 to 64 ASCII letters"),
            "{}",
            r.err
        );
        let r = admin(&server, name, &["queue", "delete", "--force"]);
        assert_eq!(r.code, 2, "{name}: {}", r.err);
    }
    assert_eq!(
        server.cli(&["EXISTS", claim]).trim(),
        "1",
        "another queue's claim survives"
    );

    // A name registered before the rules is skipped, never acted on.
    server.cli(&["SADD", "okq:queues", "*"]);
    let r = admin(&server, "victim", &["--json", "queues"]).ok();
    let listed = r.out.clone();
    assert!(
        listed.contains("victim") && !listed.contains("\"*\""),
        "{listed}"
    );

    // An account named `*`: a configuration problem, named in one line.
    server.cli(&["SET", "okq:{acct:default}:reuse:bvn:abc", "x"]);
    let r = admin_with_env(
        &server,
        "victim",
        &["--json", "keys", "status"],
        &[("OKQ_OKRA__ACCOUNT", "*")],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.out, r.err);
    assert!(r.err.contains("account name `*` holds '*'"), "{}", r.err);
    assert_eq!(r.err.lines().count(), 1, "one line: {}", r.err);
}

/// Item 10: `--check-config` showed Sentinel passwords (only `redis.url` was masked).
#[test]
fn check_config_shows_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("okq.toml");
    std::fs::write(
        &config,
        r#"
[redis]
url = "redis://app:urlsecret@127.0.0.1:6379/0"
sentinels = ["redis://:sentinelsecret@127.0.0.1:26379", "rediss://ops:othersecret@127.0.0.1:26380", "127.0.0.1:26381"]
sentinel_master = "okq"
"#,
    )
    .unwrap();
    for bin in [
        env!("CARGO_BIN_EXE_okra-admin"),
        env!("CARGO_BIN_EXE_okra-worker"),
    ] {
        let out = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("--check-config")
            .env("OKRA_SECRET_KEY", "sk_test_never_logged_42")
            .env_remove("OKQ_CONFIG")
            .env_remove("REDIS_URL")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{bin}: {text}");
        for secret in [
            "urlsecret",
            "sentinelsecret",
            "othersecret",
            "sk_test_never",
        ] {
            assert!(!text.contains(secret), "{bin} shows {secret}:\n{text}");
        }
        assert!(text.contains("redis://:***@127.0.0.1:26379"), "{text}");
        assert!(text.contains("rediss://ops:***@127.0.0.1:26380"), "{text}");
    }
}

/// Item 12: a due time past what Lua writes as digits (`--delay 3200y`, `--at 9999-…`, a
/// delay near `u64::MAX`) was stored as a float, and the job became unreadable.
#[tokio::test]
async fn far_future_delays_are_refused_and_the_maximum_reads_back() {
    let server = RedisServer::start();
    let q = "later";
    for args in [
        &["--delay", "3200y"][..],
        &["--delay", "366days"],
        &["--at", "9999-12-31T23:59:59Z"],
    ] {
        let mut all = vec!["enqueue", "bvn_verify", "--bvn", "22234567890"];
        all.extend_from_slice(args);
        let r = admin(&server, q, &all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.err);
        assert!(r.err.contains("maximum of 365 days"), "{}", r.err);
    }
    // The maximum itself is fine, and reads back as an integer due time.
    let id = admin(
        &server,
        q,
        &[
            "enqueue",
            "bvn_verify",
            "--bvn",
            "22234567890",
            "--delay",
            "365days",
        ],
    )
    .ok()
    .out
    .trim()
    .to_string();
    let shown = admin(&server, q, &["--json", "job", "show", &id])
        .ok()
        .json();
    let due = shown["due_at"].as_u64().expect("an integer due time");
    assert!(
        due > okra_queue::job::now_ms() + 364 * 86_400_000,
        "{shown}"
    );
    let listed = admin(
        &server,
        q,
        &["--json", "jobs", "list", "--state", "scheduled"],
    )
    .ok();
    assert_eq!(ids(&listed), vec![id.clone()]);
    let raw = server.cli(&["HGET", &format!("okq:{{{q}}}:job"), &id]);
    assert!(!raw.contains("e+"), "{raw}");

    // A file line with a far delay is refused by line and rule.
    let r = admin_with_stdin(
        &server,
        q,
        &["--json", "enqueue", "--file", "-"],
        r#"{"kind":"bvn_verify","bvn":"22234567891","options":{"delay":"3200y"}}"#,
    );
    assert_eq!(r.code, 1);
    let errors = r.json()["errors"].clone();
    assert_eq!(errors[0]["line"], 1, "{errors}");
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .contains("maximum of 365 days"),
        "{errors}"
    );
    // Requeue times too.
    let r = admin(&server, q, &["dlq", "requeue", "--all", "--delay", "3200y"]);
    assert_eq!(r.code, 2, "{}", r.err);

    // The library refuses them as well, typed or raw.
    let lib = producer(&server, q).await;
    let e = lib
        .enqueue(
            &bvn("22234567892"),
            EnqueueOptions::delay(Duration::from_millis(u64::MAX)),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("maximum of 365 days"), "{e}");
    let far = std::time::SystemTime::now() + Duration::from_secs(400 * 86_400);
    let raw = okra_queue::RawJob::new(
        "bvn_verify",
        r#"{"kind":"bvn_verify","bvn":"22234567893"}"#,
        EnqueueOptions::default().run_at(far),
    );
    let e = lib.enqueue_raw_bulk(vec![raw], |_| {}).await.unwrap_err();
    assert!(e.to_string().contains("job #1: run-at time"), "{e}");
    assert_eq!(
        server.cli(&["HLEN", &format!("okq:{{{q}}}:job")]).trim(),
        "1"
    );

    // Another producer that calls the script itself with a huge delay gets it capped: the
    // record still reads back.
    let forged = okra_queue::rdb::NewJob {
        id: okra_queue::job::new_id(),
        meta_tail: r#","kind":"bvn_verify"}"#.into(),
        payload: r#"{"kind":"bvn_verify","bvn":"22234567894"}"#.into(),
        delay_ms: u64::MAX / 2,
        at_ms: 0,
        idempotency_key: Some(lib.rdb().keys().idempotency("far")),
        legacy_key: None,
        kind: "bvn_verify".into(),
        ident: None,
    };
    lib.rdb()
        .enqueue(std::slice::from_ref(&forged), Duration::from_secs(60))
        .await
        .unwrap();
    let rec = lib.job(&forged.id).await.unwrap().expect("readable");
    let due = rec.due_at.expect("scheduled");
    assert!(due <= okra_queue::job::now_ms() + 366 * 86_400_000, "{due}");
}

/// Item 13: a record's kind with a newline forged log lines, an `unknown variant` error logged
/// the raw value (a BVN), and customer ids were logged in full. Checked in the real worker's
/// JSON log.
#[tokio::test]
async fn the_worker_log_holds_no_raw_value() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let q = "logged";
    let lib = Queue::connect(&server.settings(), test_config(q))
        .await
        .unwrap();
    let forged = okra_queue::RawJob::new(
        "bvn_verify\n{\"level\":\"ERROR\",\"message\":\"forged\"}",
        r#"{"kind":"22290000001"}"#,
        EnqueueOptions::default(),
    );
    // A kind that carries a number: kept out of the log and the operator's views.
    let numbered = okra_queue::RawJob::new(
        "bvn_22290000002",
        r#"{"kind":"bvn_verify"}"#,
        EnqueueOptions::default(),
    );
    lib.enqueue_raw_bulk(vec![forged, numbered], |_| {})
        .await
        .unwrap();
    // A customer id whose lookup fails (…0404): the failure is logged inside the job's span.
    let customer = OkraJob::new("customer_verify", &[("customer", "cus-5f3e9a0404")]).unwrap();
    lib.enqueue(&customer, EnqueueOptions::default())
        .await
        .unwrap();

    let spec = WorkerSpec {
        queue: q,
        ..WorkerSpec::default()
    };
    let mut worker = start_worker(dir.path(), 0, &server.url(), &sandbox.url, &spec);
    eventually(Duration::from_secs(20), "both jobs dead", || async {
        lib.dead_count(&Default::default()).await.unwrap() == 3
    })
    .await;
    worker.terminate(Duration::from_secs(10));
    let log = worker.log_text();
    for args in [
        &["dlq", "list"][..],
        &["--json", "dlq", "summary"],
        &["--json", "dlq", "list"],
    ] {
        let shown = admin(&server, q, args).ok().out;
        assert!(shown.contains("bvn_*"), "{args:?}: {shown}");
        assert!(!shown.contains("22290000002"), "{args:?}: {shown}");
    }
    assert!(log.contains("invalid payload"), "{log}");
    assert!(log.contains("unknown kind"), "{log}");
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        assert!(!has_newline(&v), "a logged value holds a newline: {line}");
    }
    assert!(
        !log.contains("22290000001") && !log.contains("22290000002"),
        "the payload's value is logged:\n{log}"
    );
    assert!(
        !log.contains("cus-5f3e9a0404"),
        "a customer id is logged:\n{log}"
    );
    assert!(
        log.contains("0404"),
        "the masked id keeps its last digits:\n{log}"
    );
}

fn has_newline(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\n') || s.contains('\r'),
        Value::Array(a) => a.iter().any(has_newline),
        Value::Object(o) => o.values().any(has_newline),
        _ => false,
    }
}

/// Item 14: `dlq list --reveal` showed identifiers without an audit entry, and `--json
/// enqueue --file` errors quoted the offending values (BVNs).
#[tokio::test]
async fn reveals_are_audited_and_file_errors_quote_no_value() {
    let server = RedisServer::start();
    let q = "reveal";
    admin(
        &server,
        q,
        &["enqueue", "bvn_verify", "--bvn", "22234567890"],
    )
    .ok();
    admin(
        &server,
        q,
        &["--reveal", "dlq", "list", "--class", "server_error"],
    )
    .ok();
    let audit = admin(&server, q, &["--json", "audit"]).ok().json();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "list-reveal")
        .unwrap_or_else(|| panic!("no list-reveal entry: {audit}"));
    assert_eq!(entry["queue"], q);
    assert!(
        entry["filter"].as_str().unwrap().contains("server_error"),
        "{entry}"
    );

    let bvn = "22298765432";
    let lines = [
        format!(r#"{{"kind":"bvn_verify","bvn":{bvn}}}"#),
        format!(r#"{{"kind":"{bvn}"}}"#),
        format!(r#"{{"kind":{bvn}}}"#),
        format!(r#"{{"kind":"bvn_verify","bvn":"22234567890","{bvn}":1}}"#),
        format!(r#"{{"kind":"bvn_verify","bvn":"22234567890","options":{{"{bvn}":1}}}}"#),
        format!(r#"{{"kind":"bvn_verify","bvn":"22234567890","options":{{"delay":"{bvn}x"}}}}"#),
        format!(r#"{{"kind":"bvn_verify","bvn":"22234567890","options":{{"at":"{bvn}"}}}}"#),
        format!(r#"{{"kind":"bvn_verify","bvn":"{bvn}1"}}"#),
        format!(r#"{{"kind":"bvn_verify","bvn":"{bvn}""#),
    ];
    let r = admin_with_stdin(
        &server,
        q,
        &["--json", "enqueue", "--file", "-"],
        &lines.join("\n"),
    );
    assert_eq!(r.code, 1, "{}", r.err);
    let summary = r.json();
    let errors = summary["errors"].as_array().unwrap();
    assert_eq!(errors.len(), lines.len(), "{summary}");
    for (i, e) in errors.iter().enumerate() {
        assert_eq!(e["line"], i + 1, "{summary}");
        assert!(!e["error"].as_str().unwrap().is_empty(), "{summary}");
    }
    assert!(!r.out.contains(bvn), "a value is echoed: {}", r.out);
    assert!(!r.err.contains(bvn), "a value is echoed: {}", r.err);
}
