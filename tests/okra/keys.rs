//! Sealing keys: rotation while running and `keys rekey` (resumable), a payload sealed with a
//! key the worker lacks, and key files that are bad.

use std::sync::Arc;

use okra_queue::rdb::Reseal;
use serde_json::Value;

use super::seal_kit::*;
use super::*;
use crate::common::cli::admin;

#[tokio::test]
async fn keys_rotate_while_running_and_rekey_seals_what_came_before_sealing() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    // Before sealing: plaintext everywhere, a plaintext idempotency key.
    let plain = sealed_queue(&server, "rot", None).await;
    let spec = WorkerSpec {
        queue: "rot",
        env: sealed_env(None),
        ..WorkerSpec::default()
    };
    let mut w = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let keyed = EnqueueOptions {
        idempotency_key: Some("kyc-22250000001".into()),
        metadata: Some(r#"{"customer_name":"Gavin Belson"}"#.into()),
        ..EnqueueOptions::default()
    };
    let old = plain.enqueue(&bvn("22250000001"), keyed).await.unwrap().id;
    let old_dead = enqueue(&plain, bvn("22250000601")).await;
    for id in [&old, &old_dead] {
        finished(&plain, id, &w.log_text()).await;
    }
    w.terminate(Duration::from_secs(5));
    let status = admin_sealed(&server, "rot", None, &["--json", "keys", "status"])
        .ok()
        .json();
    let count = |s: &Value, column: &str, key: &str| -> u64 {
        s["columns"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["column"] == column)
            .map(|c| {
                if key == "plaintext" {
                    c["plaintext"].as_u64().unwrap()
                } else {
                    c["sealed"][key].as_u64().unwrap_or(0)
                }
            })
            .sum()
    };
    assert_eq!(status["sealing_key"], Value::Null);
    assert_eq!(count(&status, "payload", "plaintext"), 2, "{status}");
    assert_eq!(count(&status, "result", "plaintext"), 1);
    assert_eq!(count(&status, "reuse", "plaintext"), 1);
    assert_eq!(count(&status, "metadata", "plaintext"), 1, "{status}");

    // Sealing on with k1: new values are sealed; old plaintext is not trusted (a reader with
    // keys cannot tell it from a forgery) until `keys rekey` seals it.
    let k1 = key_line("k1");
    let keys = key_file(dir.path(), "keys", std::slice::from_ref(&k1));
    let spec = WorkerSpec {
        queue: "rot",
        env: sealed_env(Some(&keys)),
        ..WorkerSpec::default()
    };
    let w = start_worker(dir.path(), 2, &server.url(), &sandbox.url, &spec);
    let sealed = sealed_queue(&server, "rot", Some(&keys)).await;
    let new = enqueue(&sealed, bvn("22250000002")).await;
    finished(&sealed, &new, &w.log_text()).await;
    let rec = sealed.job(&old).await.unwrap().unwrap();
    assert!(
        rec.payload.starts_with("NOT SEALED") && !rec.payload.contains("22250000001"),
        "plaintext from before is not shown as genuine: {}",
        rec.payload
    );
    let status = admin_sealed(&server, "rot", Some(&keys), &["--json", "keys", "status"])
        .ok()
        .json();
    assert_eq!(status["sealing_key"], "k1");
    assert_eq!(count(&status, "payload", "k1"), 1, "{status}");
    assert_eq!(count(&status, "payload", "plaintext"), 2);

    // Rotate: k2 appended; the fleet keeps running; rekey re-seals everything with k2.
    let keys = key_file(dir.path(), "keys", &[k1, key_line("k2")]);
    let out = admin_sealed(
        &server,
        "rot",
        Some(&keys),
        &["--actor", "ops", "keys", "rekey"],
    )
    .ok();
    assert!(out.out.contains("with key k2"), "{}", out.out);
    let status = admin_sealed(&server, "rot", Some(&keys), &["--json", "keys", "status"])
        .ok()
        .json();
    for column in [
        "payload",
        "result",
        "error.message",
        "error.body",
        "history.message",
        "reuse",
        "metadata",
    ] {
        assert_eq!(count(&status, column, "plaintext"), 0, "{column}: {status}");
        assert_eq!(count(&status, column, "k1"), 0, "{column}: {status}");
    }
    assert_eq!(count(&status, "payload", "k2"), 3, "{status}");
    assert_eq!(count(&status, "reuse", "k2"), 2, "{status}");
    // Everything still opens, and the old idempotency key is now a keyed hash that still
    // finds its job.
    let rotated = sealed_queue(&server, "rot", Some(&keys)).await;
    let rec = rotated.job(&old).await.unwrap().unwrap();
    assert!(rec.payload.contains("22250000001"));
    assert_eq!(
        rec.meta.metadata.as_deref(),
        Some(r#"{"customer_name":"Gavin Belson"}"#),
        "the metadata re-sealed opens"
    );
    assert!(
        rec.meta
            .idempotency_key
            .as_deref()
            .unwrap()
            .starts_with('#')
    );
    assert_eq!(
        rotated
            .find_by_idempotency_key("kyc-22250000001")
            .await
            .unwrap(),
        Some(old.clone())
    );
    let dead = rotated.job(&old_dead).await.unwrap().unwrap();
    assert!(dead.last_error.unwrap().message.contains("flagged"));
    let stored = everything_in_redis(&server).await;
    assert!(!stored.contains("22250000001"), "sealed now");
    assert!(!stored.contains("Gavin Belson"), "the metadata sealed too");
    assert!(!stored.contains("kyc-22250000001"), "the claim was renamed");
    let audit = admin(&server, "rot", &["--json", "audit"]).ok().json();
    assert_eq!(audit[0]["action"], "rekey");
    assert_eq!(audit[0]["actor"], "ops");
    assert_eq!(audit[0]["filter"], "to key k2");

    // Compare-and-set: a value a job rewrote since it was read is left to that write.
    let k = rotated.rdb().keys().clone();
    let (written, skipped) = rotated
        .rdb()
        .reseal_fields(
            &k.result(),
            "result",
            "done",
            &[Reseal {
                at: old.clone(),
                was: "what was read before the job wrote".into(),
                new: "stale".into(),
                claim: None,
            }],
        )
        .await
        .unwrap();
    assert_eq!((written, skipped), (0, 1));
    assert!(rotated.job(&old).await.unwrap().unwrap().result.is_some());
}

#[tokio::test]
async fn an_interrupted_rekey_resumes_where_it_stopped() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let plain = sealed_queue(&server, "many", None).await;
    // More than one walk step (a hash this big is a real hash table, walked in steps).
    plain
        .enqueue_bulk((0..1500).map(|i| bvn_opts(format!("2226{i:07}"))))
        .await
        .unwrap();
    let keys = key_file(dir.path(), "keys", &[key_line("k1")]);
    let sealed = sealed_queue(&server, "many", Some(&keys)).await;
    let stop = Arc::new(tokio::sync::Notify::new());
    {
        let notify = stop.clone();
        tokio::select! {
            r = sealed.rekey(false, move |_| notify.notify_one()) => panic!("not interrupted: {r:?}"),
            _ = stop.notified() => {}
        }
    }
    let progress: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(sealed.rdb().keys().rekey())
        .query_async(&mut sealed.rdb().conn())
        .await
        .unwrap();
    assert_eq!(progress["target"], "k1");
    assert!(
        progress["job"] != "0" && progress["job"] != "done",
        "{progress:?}"
    );
    let resumed = sealed.rekey(false, |_| {}).await.unwrap();
    assert!(
        resumed.scanned < 1500,
        "resumed, not restarted: {resumed:?}"
    );
    let status = sealed.seal_status().await.unwrap();
    let payload = status.iter().find(|c| c.column == "payload").unwrap();
    assert_eq!(
        (payload.plaintext, payload.sealed["k1"]),
        (0, 1500),
        "{payload:?}"
    );
    let again = sealed.rekey(true, |_| {}).await.unwrap();
    assert_eq!(
        (again.scanned, again.resealed),
        (1500, 0),
        "--restart walks all, changes none"
    );
}

#[tokio::test]
async fn a_payload_sealed_with_a_key_the_worker_lacks_dies_unreadable_without_calling_okra() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let (k1, k9) = (key_line("k1"), key_line("k9"));
    let producer_keys = key_file(dir.path(), "producer-keys", std::slice::from_ref(&k9));
    let worker_keys = key_file(dir.path(), "worker-keys", std::slice::from_ref(&k1));
    let queue = sealed_queue(&server, "locked", Some(&producer_keys)).await;
    let spec = WorkerSpec {
        queue: "locked",
        env: sealed_env(Some(&worker_keys)),
        ..WorkerSpec::default()
    };
    let mut w = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let id = enqueue(&queue, bvn("22270001234")).await;
    let r = finished(&queue, &id, &w.log_text()).await;
    let (class, reason, ..) = death(&r);
    assert_eq!(
        (class.as_str(), reason.as_str()),
        ("unreadable_payload", "terminal")
    );
    assert_eq!(sandbox.calls("bvn-verify", "22270001234").await, 0);
    assert!(!w.log_text().contains("22270001234"));
    w.terminate(Duration::from_secs(5));
    // The failure is sealed like any other (with the worker's key); it names the missing key.
    let both = key_file(dir.path(), "worker-keys", &[k9, k1]);
    let reader = sealed_queue(&server, "locked", Some(&both)).await;
    let f = reader.job(&id).await.unwrap().unwrap().last_error.unwrap();
    assert!(f.message.contains("key k9"), "names the key: {f:?}");
    // The key comes back: the letter is requeued and runs.
    let spec = WorkerSpec {
        queue: "locked",
        env: sealed_env(Some(&both)),
        ..WorkerSpec::default()
    };
    let w = start_worker(dir.path(), 2, &server.url(), &sandbox.url, &spec);
    admin_sealed(&server, "locked", Some(&both), &["dlq", "requeue", &id]).ok();
    ends_in(&queue, &id, JobState::Completed, || w.log_text()).await;
}

#[test]
fn a_bad_key_file_stops_every_binary_with_one_line_and_no_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let good = key_line("k1");
    let secret = good.split(' ').nth(1).unwrap().to_string();
    let readable = key_file(dir.path(), "readable", std::slice::from_ref(&good));
    std::fs::set_permissions(&readable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let short = key_file(dir.path(), "short", &["k1 AAECAwQFBgcICQoLDA0ODw==".into()]);
    let malformed = key_file(dir.path(), "malformed", &[format!("k1 {secret} extra")]);
    let missing = dir.path().join("missing");
    for (file, says) in [
        (&readable, "can be read by others"),
        (&short, "line 2: key k1 is 16 bytes"),
        (&malformed, "line 2: expected `ID BASE64`"),
        (&missing, "cannot read it"),
    ] {
        for bin in [
            env!("CARGO_BIN_EXE_okra-worker"),
            env!("CARGO_BIN_EXE_okra-admin"),
        ] {
            let mut cmd = std::process::Command::new(bin);
            cmd.env("OKQ_SEAL__KEYS_FILE", file)
                .env("OKRA_SECRET_KEY", "sk_test")
                .env("OKQ_QUEUE__INDEX_KEY", INDEX_KEY)
                .env("REDIS_URL", "redis://127.0.0.1:1")
                .env_remove("OKQ_CONFIG");
            if bin.ends_with("okra-admin") {
                cmd.arg("stats");
            }
            let out = cmd.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{bin}: {err}");
            assert!(err.contains(says), "{bin} {}: {err}", file.display());
            assert!(!err.contains(&secret) && !err.contains("AAECAwQF"), "{err}");
            let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
            assert_eq!(lines.len(), 1, "{bin}: {err}");
        }
    }
}
