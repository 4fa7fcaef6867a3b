//! Sealing as the queue's property, not a process's choice: a sealed queue says so in Redis and
//! refuses plaintext from writers without the keys (the library, `okra-admin`, the worker);
//! readers do not trust a plaintext where a seal is expected; idempotency keys are hashed on
//! every queue; a wrong key under a known id stops every process; and erasing a person reaches
//! the answers of other jobs (and the reuse store) that name them.

use std::process::{Command, Stdio};

use okra_queue::okra::OkraJob;
use serde_json::Value;

use super::seal_kit::*;
use super::*;

/// Runs `okra-worker` with `env` against `server` until it exits by itself, with status 1 (at
/// most 20 s, then it is killed and the test fails); returns everything it printed.
fn worker_refuses(
    server: &RedisServer,
    sandbox: &str,
    queue: &str,
    env: &[(&str, String)],
) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_okra-worker"))
        .args(["--redis-url", &server.url(), "--queue", queue])
        .env("OKRA_SECRET_KEY", "sk_test_refused")
        .env("OKQ_OKRA__BASE_URL", sandbox)
        .env_remove("OKQ_CONFIG")
        .env_remove("RUST_LOG")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the worker kept running: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "a refusal is a failure: {said}");
    said
}

/// The error lines a process printed (log lines at level error, or plain lines).
fn error_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("ERROR") || l.contains("\"error\"") || l.starts_with("Error"))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn a_sealed_queue_refuses_plaintext_writers_and_does_not_trust_plaintext() {
    let server = persisting_redis();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let keys = key_file(dir.path(), "keys", &[key_line("k1")]);
    let sealed = sealed_queue(&server, "guarded", Some(&keys)).await;
    let genuine = enqueue(&sealed, bvn("22290000001")).await;
    let marker: std::collections::HashMap<String, u64> = redis::cmd("HGETALL")
        .arg("okq:{guarded}:sealed")
        .query_async(&mut sealed.rdb().conn())
        .await
        .unwrap();
    assert!(
        marker.contains_key("k1"),
        "the queue says it is sealed: {marker:?}"
    );

    // okra-admin without the keys: refused before anything is written, in one line.
    let run = admin_sealed(
        &server,
        "guarded",
        None,
        &[
            "enqueue",
            "bvn_verify",
            "--bvn",
            "22290000002",
            "--idempotency-key",
            "kyc-22290000002",
        ],
    );
    assert_ne!(run.code, 0, "refused: {}{}", run.out, run.err);
    assert!(run.err.contains("sealed"), "{}", run.err);
    assert!(!run.err.contains("22290000002"), "{}", run.err);
    assert_eq!(
        run.err.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{}",
        run.err
    );
    // The library without the keys: refused too, delayed or not, keyed or not.
    let keyless = sealed_queue(&server, "guarded", None).await;
    for options in [
        EnqueueOptions::default(),
        EnqueueOptions {
            delay: Some(Duration::from_secs(60)),
            ..EnqueueOptions::default()
        },
    ] {
        let err = keyless
            .enqueue(&bvn("22290000003"), options)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sealed") && err.contains("seal.keys_file"),
            "{err}"
        );
        assert!(!err.contains("22290000003"), "{err}");
    }
    // A worker without the keys does not start (before its first write).
    let said = worker_refuses(&server, &sandbox.url, "guarded", &sealed_env(None));
    assert!(said.contains("is sealed"), "{said}");
    let stored = everything_in_redis(&server).await;
    for clear in ["22290000002", "kyc-22290000002", "22290000003"] {
        assert!(!stored.contains(clear), "{clear} reached Redis");
    }

    // A plaintext payload forged straight into Redis: the sealed worker does not run it.
    let k = sealed.rdb().keys().clone();
    let mut conn = sealed.rdb().conn();
    let forged = "01FORGEDPLAINTEXT0000000000";
    let _: () = redis::pipe()
        .hset(
            k.job(),
            forged,
            "{\"created_at\":1,\"kind\":\"bvn_verify\"}\n{\"kind\":\"bvn_verify\",\"bvn\":\"22290000004\"}",
        )
        .lpush(k.ready(), forged)
        .query_async(&mut conn)
        .await
        .unwrap();
    let spec = WorkerSpec {
        queue: "guarded",
        env: sealed_env(Some(&keys)),
        ..WorkerSpec::default()
    };
    let mut w = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let r = finished(&sealed, forged, &w.log_text()).await;
    let (class, ..) = death(&r);
    assert_eq!(class, "unreadable_payload", "{r:#?}");
    assert_eq!(sandbox.calls("bvn-verify", "22290000004").await, 0);
    ends_in(&sealed, &genuine, JobState::Completed, || w.log_text()).await;
    w.terminate(Duration::from_secs(5));

    // The account's reuse store is sealed too once a sealed profile is in it: a plaintext
    // profile (from a worker of another queue on the account, without keys) is not stored.
    let account = keyless.account().unwrap();
    let person = "0123456789abcdef0123456789abcdef";
    account
        .charge_end(
            "bvn_verify",
            person,
            "q|j|t",
            okra_queue::rdb::End::Paid("{\"bvn\":\"22290000005\"}"),
            Duration::from_secs(3600),
            Duration::from_secs(1),
            &[],
        )
        .await
        .unwrap();
    let stored = everything_in_redis(&server).await;
    assert!(
        stored.contains("okq:{acct:default}:sealed"),
        "the account is sealed"
    );
    assert!(
        !stored.contains("22290000005"),
        "a plaintext profile is not stored"
    );

    // A plaintext result forged over a sealed one: not shown as genuine, with keys or without.
    let _: () = redis::cmd("HSET")
        .arg(k.result())
        .arg(&genuine)
        .arg("000000000000001|{\"http_status\":200,\"profile\":{\"fullname\":\"MALLORY FORGED\"}}")
        .query_async(&mut conn)
        .await
        .unwrap();
    // And a plaintext failure message forged over the dead letter's sealed one.
    let _: () = redis::cmd("HSET")
        .arg(k.error())
        .arg(forged)
        .arg(r#"{"class":"unreadable_payload","message":"MALLORY SAYS PAY AGAIN","attempt":1}"#)
        .query_async(&mut conn)
        .await
        .unwrap();
    for reader in [Some(keys.as_path()), None] {
        let out = admin_sealed(&server, "guarded", reader, &["job", "show", &genuine]).ok();
        assert!(!out.out.contains("MALLORY"), "{}", out.out);
        assert!(out.out.contains("NOT SEALED"), "{}", out.out);
        let out = admin_sealed(&server, "guarded", reader, &["--json", "dlq", "list"]).ok();
        assert!(!out.out.contains("MALLORY"), "{}", out.out);
        assert!(out.out.contains("NOT SEALED"), "{}", out.out);
    }
    // What was refused never reached Redis's files either: not the RDB, not the AOF.
    redis_cli(server.port, &["SAVE"]);
    let files = files_under(server.dir());
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains(".aof"))
    );
    for (path, text) in &files {
        for clear in [
            "22290000002",
            "kyc-22290000002",
            "22290000003",
            "22290000005",
        ] {
            assert!(!text.contains(clear), "{clear} in {}", path.display());
        }
    }
    assert!(
        files.iter().any(|(_, t)| t.contains("MALLORY")),
        "the search reads the files (the forgery is in them)"
    );
}

#[tokio::test]
async fn idempotency_keys_are_hashed_on_every_queue_and_old_claims_still_count() {
    let server = RedisServer::start();
    let plain = sealed_queue(&server, "open", None).await;
    let keyed = |k: &str| EnqueueOptions {
        idempotency_key: Some(k.into()),
        ..EnqueueOptions::default()
    };
    let first = plain
        .enqueue(&bvn("22291000001"), keyed("kyc-22291000001"))
        .await
        .unwrap();
    let again = plain
        .enqueue(&bvn("22291000001"), keyed("kyc-22291000001"))
        .await
        .unwrap();
    assert!(again.duplicate && again.id == first.id, "{again:?}");
    assert_eq!(
        plain
            .find_by_idempotency_key("kyc-22291000001")
            .await
            .unwrap(),
        Some(first.id.clone())
    );
    let stored = everything_in_redis(&server).await;
    assert!(
        !stored.contains("kyc-22291000001"),
        "the key is stored hashed"
    );
    // A claim written before the upgrade, under the key as given: a repeat is still a
    // duplicate of its job, not a second paid call.
    let old = plain.rdb().keys().idempotency("order-77");
    let _: () = redis::cmd("SET")
        .arg(&old)
        .arg("01OLDJOBFROMBEFORETHEHASH0")
        .arg("EX")
        .arg(3600)
        .query_async(&mut plain.rdb().conn())
        .await
        .unwrap();
    let repeat = plain
        .enqueue(&bvn("22291000002"), keyed("order-77"))
        .await
        .unwrap();
    assert!(repeat.duplicate, "{repeat:?}");
    assert_eq!(repeat.id, "01OLDJOBFROMBEFORETHEHASH0");
}

#[tokio::test]
async fn a_wrong_key_under_a_known_id_stops_every_process() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let right = key_line("k1");
    let wrong = key_line("k1");
    let wrong_secret = wrong.split(' ').nth(1).unwrap().to_string();
    let right_keys = key_file(dir.path(), "right", std::slice::from_ref(&right));
    let wrong_keys = key_file(dir.path(), "wrong", std::slice::from_ref(&wrong));
    let sealed = sealed_queue(&server, "checked", Some(&right_keys)).await;
    let id = enqueue(&sealed, bvn("22292000001")).await;
    let check = |out: &str| {
        assert!(out.contains("seal key k1"), "names the id: {out}");
        assert!(!out.contains(&wrong_secret), "never the key: {out}");
    };

    // The library.
    let mut cfg = QueueConfig::new("checked");
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
    cfg.seal = Some(std::sync::Arc::new(
        okra_queue::seal::Sealer::from_file(&wrong_keys).unwrap(),
    ));
    let err = Queue::connect(&server.settings(), cfg).await.unwrap_err();
    check(&err.to_string());
    // okra-admin, including `keys rekey`, which would otherwise re-seal with the wrong bytes.
    for args in [&["stats"][..], &["keys", "rekey"], &["keys", "status"]] {
        let run = admin_sealed(&server, "checked", Some(&wrong_keys), args);
        assert_ne!(run.code, 0, "{args:?}: {}", run.out);
        check(&run.err);
        assert_eq!(
            run.err.lines().filter(|l| !l.trim().is_empty()).count(),
            1,
            "{}",
            run.err
        );
    }
    // The worker: it stops before claiming, so the backlog is not dead-lettered unreadable.
    let said = worker_refuses(
        &server,
        &sandbox.url,
        "checked",
        &sealed_env(Some(&wrong_keys)),
    );
    check(&said);
    assert_eq!(error_lines(&said).len(), 1, "{said}");
    assert_eq!(sealed.state(&id).await.unwrap(), Some(JobState::Ready));
    assert_eq!(sandbox.calls("bvn-verify", "22292000001").await, 0);
    // The right key still starts and runs it.
    let spec = WorkerSpec {
        queue: "checked",
        env: sealed_env(Some(&right_keys)),
        ..WorkerSpec::default()
    };
    let w = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    assert_eq!(
        finished(&sealed, &id, &w.log_text()).await.state,
        JobState::Completed
    );
    // Another index key is refused the same way: its hashes would miss every duplicate.
    let mut cfg = QueueConfig::new("checked");
    cfg.index_key = Some(okra_queue::ident::IndexKey::new("another-index-key-0123").unwrap());
    let err = Queue::connect(&server.settings(), cfg).await.unwrap_err();
    assert!(err.to_string().contains("queue.index_key is not"), "{err}");
    assert!(!err.to_string().contains("another-index-key"), "{err}");
}

#[tokio::test]
async fn erase_reaches_answers_of_other_jobs_and_the_reuse_store() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    // Unsealed, so any copy left is plain to see in Redis.
    let queue = sealed_queue(&server, "answers", None).await;
    let spec = WorkerSpec {
        queue: "answers",
        env: sealed_env(None),
        ..WorkerSpec::default()
    };
    let mut w = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    // The sandbox answers a customer lookup with a profile whose BVN is the customer id's
    // digits: the customer job's answer carries the BVN it never asked about.
    let customer = enqueue(
        &queue,
        OkraJob::new("customer_verify", &[("customer", "cus22293000001x")]).unwrap(),
    )
    .await;
    let other = enqueue(&queue, bvn("22293000002")).await;
    for id in [&customer, &other] {
        assert_eq!(
            finished(&queue, id, &w.log_text()).await.state,
            JobState::Completed
        );
    }
    w.terminate(Duration::from_secs(5));
    let result = queue.result(&customer).await.unwrap().unwrap();
    assert_eq!(result["profile"]["bvn"], "22293000001", "{result}");
    let account = "okq:{acct:default}:reuse:customer_verify:";
    let stored = everything_in_redis(&server).await;
    assert!(stored.contains(account), "stored for reuse");
    assert!(stored.contains("22293000001"), "the answer carries the BVN");

    let dry = admin_sealed(
        &server,
        "answers",
        None,
        &["--json", "erase", "--bvn", "22293000001", "--dry-run"],
    )
    .ok()
    .json();
    assert_eq!(dry["reused"], 1, "{dry}");
    let done = admin_sealed(
        &server,
        "answers",
        None,
        &["--json", "erase", "--bvn", "22293000001"],
    )
    .ok()
    .json();
    assert_eq!(done["reused"], 1, "{done}");
    assert!(
        queue.job(&customer).await.unwrap().is_none(),
        "the answer is gone"
    );
    let stored = everything_in_redis(&server).await;
    assert!(!stored.contains("22293000001"), "every copy is gone");
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{account}*"))
        .query_async(&mut queue.rdb().conn())
        .await
        .unwrap();
    assert!(left.is_empty(), "the reuse entry is gone: {left:?}");
    assert!(
        !stored.contains(account),
        "and nothing refers to it any more"
    );
    // Nobody else's.
    let kept: Value = queue.result(&other).await.unwrap().unwrap();
    assert_eq!(kept["profile"]["bvn"], "22293000002");
}
