//! Identities sealed at rest: nothing personal readable in Redis, its RDB or its AOF; erasure
//! by person; keys that rotate; payloads a worker cannot open; the audit trail of it all.

use std::collections::BTreeSet;

use okra_queue::JobError;
use okra_queue::ident::{IdType, IndexKey};
use serde_json::Value;

use super::seal_kit::*;
use super::*;
use crate::common::cli::admin;

/// The personal strings of an opened result's profile: names (at least 5 letters, so random
/// base64 cannot hold them by chance), phones, addresses, the identifier.
fn personal(result: &Value, into: &mut BTreeSet<String>) {
    let p = &result["profile"];
    for field in ["fullname", "firstname", "lastname"] {
        if let Some(s) = p[field].as_str().filter(|s| s.len() >= 5) {
            into.insert(s.to_string());
        }
    }
    for field in ["phone", "address"] {
        for v in p[field].as_array().into_iter().flatten() {
            if let Some(s) = v.as_str() {
                into.insert(s.to_string());
            }
        }
    }
    for field in ["bvn", "nin"] {
        if let Some(s) = p[field].as_str() {
            into.insert(s.to_string());
        }
    }
}

#[tokio::test]
async fn with_sealing_on_nothing_personal_is_readable_in_redis_its_rdb_or_its_aof() {
    let server = persisting_redis();
    let dir = tempfile::tempdir().unwrap();
    let keys = key_file(dir.path(), "keys", &[key_line("k1")]);
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = sealed_queue(&server, "sealed", Some(&keys)).await;
    let spec = WorkerSpec {
        queue: "sealed",
        env: sealed_env(Some(&keys)),
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);

    // 30 BVNs and 10 NINs that complete (10 with idempotency keys made of the BVN, 5 asked
    // twice: the second reuses the stored profile), 2 account numbers, and 20 that die: 10
    // flagged, 5 out of attempts on a 500, 5 NINs Okra does not know.
    let mut secrets = BTreeSet::new();
    let mut jobs: Vec<(OkraJob, EnqueueOptions)> = Vec::new();
    for i in 0..30 {
        let bvn = format!("2231000{i:04}");
        secrets.insert(bvn.clone());
        let mut o = EnqueueOptions::default();
        if i < 10 {
            o.idempotency_key = Some(format!("kyc-{bvn}"));
        }
        jobs.push((OkraJob::new("bvn_verify", &[("bvn", &bvn)]).unwrap(), o));
    }
    for i in 0..5 {
        jobs.push(bvn_opts(format!("2231000{i:04}")));
    }
    for i in 0..10 {
        let nin = format!("3331000{i:04}");
        secrets.insert(nin.clone());
        jobs.push((
            OkraJob::new("nin_verify", &[("nin", &nin)]).unwrap(),
            EnqueueOptions::default(),
        ));
    }
    for i in 0..2 {
        let nuban = format!("01234{i:01}1234");
        secrets.insert(nuban.clone());
        jobs.push((
            OkraJob::new("nuban_verify", &[("nuban", &nuban), ("bank", "5f0b7c2a")]).unwrap(),
            EnqueueOptions::default(),
        ));
    }
    for (i, suffix) in ["0601"; 10].iter().chain(&["0500"; 5]).enumerate() {
        let bvn = format!("22320{i:02}{suffix}");
        secrets.insert(bvn.clone());
        jobs.push(bvn_opts(bvn));
    }
    for i in 0..5 {
        let nin = format!("33320{i:02}0404");
        secrets.insert(nin.clone());
        jobs.push((
            OkraJob::new("nin_verify", &[("nin", &nin)]).unwrap(),
            EnqueueOptions::default(),
        ));
    }
    // One at a time, so each repeated BVN comes after the first has its answer stored.
    let mut ids = Vec::new();
    for (job, o) in jobs {
        let id = queue.enqueue(&job, o).await.unwrap().id;
        ids.push(id.clone());
        if job
            .field("bvn")
            .is_some_and(|bvn| bvn.starts_with("2231000000"))
        {
            finished(&queue, &id, &worker.log_text()).await;
        }
    }
    let (mut completed, mut dead) = (0, 0);
    for id in &ids {
        let r = finished(&queue, id, &worker.log_text()).await;
        match r.state {
            JobState::Completed => {
                completed += 1;
                personal(r.result.as_ref().unwrap(), &mut secrets);
            }
            JobState::Dead => dead += 1,
            other => panic!("{id} ended {other}"),
        }
    }
    assert_eq!((completed, dead), (47, 20));
    let reused = sandbox.calls("bvn-verify", "22310000000").await;
    assert_eq!(reused, 1, "the repeated BVN was paid once and reused");
    assert!(
        secrets.iter().any(|s| s.contains(' ')),
        "names and addresses to look for: {secrets:?}"
    );
    let stored = everything_in_redis(&server).await;
    assert!(stored.contains(CANARY));
    redis_cli(server.port, &["SAVE"]);
    let files = files_under(server.dir());
    assert!(
        files.iter().any(|(p, _)| p.ends_with("dump.rdb")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|(p, _)| p.to_string_lossy().contains(".aof")),
        "an AOF"
    );
    for (path, text) in &files {
        if path.to_string_lossy().ends_with(".manifest") {
            continue;
        }
        assert!(
            text.contains(CANARY) || path.to_string_lossy().contains("base"),
            "the search reads {}",
            path.display()
        );
    }
    let mut found = Vec::new();
    for s in &secrets {
        if stored.contains(s.as_str()) {
            found.push(format!("{s} in a Redis value"));
        }
        for (path, text) in &files {
            if text.contains(s.as_str()) {
                found.push(format!("{s} in {}", path.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "{} of {} personal strings readable at rest: {found:?}",
        found.len(),
        secrets.len()
    );

    // Reading: the keys open it (masked unless --reveal, which is audited); without them,
    // everything still lists, with `sealed (key k1)` in place of each value.
    let id = &ids[0];
    let shown = admin_sealed(&server, "sealed", Some(&keys), &["job", "show", id]).ok();
    assert!(shown.out.contains("*******0000"), "{}", shown.out);
    assert!(!shown.out.contains("22310000000"), "masked: {}", shown.out);
    let revealed = admin_sealed(
        &server,
        "sealed",
        Some(&keys),
        &["--actor", "auditor", "job", "show", id, "--reveal"],
    )
    .ok();
    assert!(revealed.out.contains("22310000000"), "{}", revealed.out);
    let blind = admin_sealed(&server, "sealed", None, &["job", "show", id]).ok();
    assert!(blind.out.contains("sealed (key k1)"), "{}", blind.out);
    let letters = admin_sealed(
        &server,
        "sealed",
        None,
        &["--json", "dlq", "list", "--limit", "50"],
    )
    .ok();
    assert_eq!(
        letters.json().as_array().unwrap().len(),
        20,
        "{}",
        letters.out
    );
    assert!(letters.out.contains("sealed (key k1)"));
    let export = dir.path().join("dead.jsonl");
    admin_sealed(
        &server,
        "sealed",
        Some(&keys),
        &[
            "--actor",
            "auditor",
            "dlq",
            "export",
            "--class",
            "flagged_user",
            "--out",
            export.to_str().unwrap(),
            "--reveal",
        ],
    )
    .ok();
    let exported = std::fs::read_to_string(&export).unwrap();
    assert_eq!(exported.lines().count(), 10);
    assert!(exported.contains("22320000601"), "opened and revealed");
    let audit = admin(&server, "sealed", &["--json", "audit"]).ok().json();
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [("auditor", "export-reveal"), ("auditor", "show-reveal")]
    );
}

#[tokio::test]
async fn erase_removes_one_person_everywhere_even_mid_call_and_nobody_else() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let keys = key_file(dir.path(), "keys", &[key_line("k1")]);
    let fast = Sandbox::start(dir.path(), &[]);
    let slow_dir = dir.path().join("slow");
    std::fs::create_dir(&slow_dir).unwrap();
    let slow = Sandbox::start(&slow_dir, &["--latency", "3s"]);
    let (a, b) = ("22240001234", "22240005678");
    let kyc = sealed_queue(&server, "kyc", Some(&keys)).await;
    let job = |bvn: &str| OkraJob::new("bvn_verify", &[("bvn", bvn)]).unwrap();
    let keyed = |k: &str| EnqueueOptions {
        idempotency_key: Some(k.into()),
        ..EnqueueOptions::default()
    };

    // Completed (with an idempotency claim and a profile in the reuse store).
    let spec = WorkerSpec {
        queue: "kyc",
        env: sealed_env(Some(&keys)),
        ..WorkerSpec::default()
    };
    let w1 = start_worker(dir.path(), 1, &server.url(), &fast.url, &spec);
    let a_done = kyc.enqueue(&job(a), keyed("order-a")).await.unwrap().id;
    let b_done = kyc.enqueue(&job(b), keyed("order-b")).await.unwrap().id;
    for id in [&a_done, &b_done] {
        assert_eq!(
            finished(&kyc, id, &w1.log_text()).await.state,
            JobState::Completed
        );
    }
    // Dead letters (their failures quote the number).
    let graves = kyc.sibling("kyc-dead").unwrap();
    let a_dead = graves
        .enqueue(&job(a), EnqueueOptions::default())
        .await
        .unwrap()
        .id;
    let b_dead = graves
        .enqueue(&job(b), EnqueueOptions::default())
        .await
        .unwrap()
        .id;
    let fleet = start_fleet(&graves, test_options(), 1, |j: OkraJob, _| async move {
        let bvn = j.field("bvn").unwrap().to_string();
        Err::<Value, _>(
            JobError::terminal("flagged_user", format!("customer {bvn} is flagged"))
                .body(&format!(r#"{{"bvn":"{bvn}"}}"#))
                .into(),
        )
    })
    .await;
    for id in [&a_dead, &b_dead] {
        ends_in(&graves, id, JobState::Dead, String::new).await;
    }
    fleet.stop().await;
    // Waiting: ready, scheduled, cancelled.
    let later = kyc.sibling("kyc-later").unwrap();
    let a_ready = later
        .enqueue(&job(a), EnqueueOptions::default())
        .await
        .unwrap()
        .id;
    let delayed = EnqueueOptions {
        delay: Some(Duration::from_secs(3600)),
        ..EnqueueOptions::default()
    };
    let a_sched = later.enqueue(&job(a), delayed).await.unwrap().id;
    let a_cancel = later
        .enqueue(&job(a), EnqueueOptions::default())
        .await
        .unwrap()
        .id;
    later.cancel(&a_cancel).await.unwrap();
    let b_ready = later
        .enqueue(&job(b), EnqueueOptions::default())
        .await
        .unwrap()
        .id;
    // Running: Okra takes 3 s to answer this one.
    let slow_q = kyc.sibling("kyc-slow").unwrap();
    let slow_spec = WorkerSpec {
        queue: "kyc-slow",
        okra_timeout: "10s",
        env: sealed_env(Some(&keys)),
        ..WorkerSpec::default()
    };
    let w2 = start_worker(&slow_dir, 2, &server.url(), &slow.url, &slow_spec);
    let other_running = slow_q
        .enqueue(
            &OkraJob::new("nin_verify", &[("nin", "33340001234")]).unwrap(),
            EnqueueOptions::default(),
        )
        .await
        .unwrap()
        .id;
    // The NIN is another person: the running job of A verifies A's BVN.
    // Fresh: A's profile in the reuse store would otherwise answer it at once (its lock
    // replaces that profile).
    let fresh = EnqueueOptions {
        fresh: true,
        ..EnqueueOptions::default()
    };
    let a_mid = slow_q.enqueue(&job(a), fresh).await.unwrap().id;
    eventually(Duration::from_secs(10), "A's job running", || async {
        slow_q.state(&a_mid).await.unwrap() == Some(JobState::Running)
    })
    .await;

    let dry = admin_sealed(
        &server,
        "kyc",
        Some(&keys),
        &["--json", "erase", "--bvn", a, "--dry-run"],
    )
    .ok()
    .json();
    let expect = serde_json::json!({
        "ready": 1, "scheduled": 1, "running": 1, "completed": 1, "cancelled": 1, "dead": 1,
        "claims": 1, "index": 6,
    });
    assert_eq!(dry["total"], expect, "{dry}");
    // No stored profile of A's is left to count: the fresh job's pay lock replaced it in A's
    // entry (the erase takes the lock with the person; the late answer is not stored).
    assert_eq!(dry["reused"], 0);
    assert!(
        kyc.job(&a_done).await.unwrap().is_some(),
        "a dry run changes nothing"
    );
    let person = IndexKey::new(INDEX_KEY).unwrap().hash(IdType::Bvn, a);
    assert_eq!(dry["person"], format!("#{person}"));
    let done = admin_sealed(
        &server,
        "kyc",
        Some(&keys),
        &["--actor", "dpo", "--json", "erase", "--bvn", a],
    )
    .ok()
    .json();
    assert_eq!(done["total"], expect, "{done}");
    assert_eq!(done["queues"].as_array().unwrap().len(), 4);

    // The running job's answer arrives after the erase: nothing of it is written back.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        slow_q
            .wait(&other_running, Duration::from_secs(10))
            .await
            .unwrap()
            .state,
        JobState::Completed,
        "{}",
        w2.log_text()
    );
    for (q, id) in [
        (&kyc, &a_done),
        (&graves, &a_dead),
        (&later, &a_ready),
        (&later, &a_sched),
        (&later, &a_cancel),
        (&slow_q, &a_mid),
    ] {
        assert!(q.job(id).await.unwrap().is_none(), "{id} is gone");
        assert!(
            q.find_by_identity(IdType::Bvn, a, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let k = q.rdb().keys();
        for hash in k.job_columns() {
            let there: bool = redis::cmd("HEXISTS")
                .arg(&hash)
                .arg(id)
                .query_async(&mut q.rdb().conn())
                .await
                .unwrap();
            assert!(!there, "{id} left in {hash}");
        }
        let ready: Vec<String> = redis::cmd("LRANGE")
            .arg(k.ready())
            .arg(0)
            .arg(-1)
            .query_async(&mut q.rdb().conn())
            .await
            .unwrap();
        assert!(!ready.contains(id));
        for set in [k.scheduled(), k.running(), k.dead()] {
            let score: Option<f64> = redis::cmd("ZSCORE")
                .arg(&set)
                .arg(id)
                .query_async(&mut q.rdb().conn())
                .await
                .unwrap();
            assert!(score.is_none(), "{id} left in {set}");
        }
        let index: Vec<String> = redis::cmd("ZRANGE")
            .arg(k.dead_index())
            .arg(0)
            .arg(-1)
            .query_async(&mut q.rdb().conn())
            .await
            .unwrap();
        assert!(!index.iter().any(|m| m.ends_with(id.as_str())));
    }
    assert_eq!(kyc.find_by_idempotency_key("order-a").await.unwrap(), None);
    let acct = okra_queue::keys::AccountKeys::new("default");
    let stored = everything_in_redis(&server).await;
    assert!(
        !stored.contains(&acct.reuse("bvn_verify", &person)),
        "the late answer was not stored for reuse"
    );
    assert!(
        !w2.log_text().contains("late outcomes rejected"),
        "{}",
        w2.log_text()
    );
    assert_eq!(kyc.stats().await.unwrap().erased, 1);
    // Everyone else is untouched.
    assert_eq!(kyc.state(&b_done).await.unwrap(), Some(JobState::Completed));
    assert_eq!(graves.state(&b_dead).await.unwrap(), Some(JobState::Dead));
    assert_eq!(later.state(&b_ready).await.unwrap(), Some(JobState::Ready));
    assert_eq!(
        kyc.find_by_idempotency_key("order-b").await.unwrap(),
        Some(b_done.clone())
    );
    assert_eq!(
        kyc.find_by_identity(IdType::Bvn, b, 10).await.unwrap(),
        vec![b_done]
    );
    let b_person = IndexKey::new(INDEX_KEY).unwrap().hash(IdType::Bvn, b);
    assert!(stored.contains(&acct.reuse("bvn_verify", &b_person)));
    // The audit trail names the person by keyed hash only.
    let audit = admin(&server, "kyc", &["--json", "audit"]).ok();
    assert!(!audit.out.contains(a), "{}", audit.out);
    let entry = &audit.json()[0];
    assert_eq!(entry["actor"], "dpo");
    assert_eq!(entry["action"], "erase");
    assert_eq!(entry["filter"], format!("bvn #{person}"));
    assert_eq!(entry["counts"]["running"], 1);
    assert_eq!(entry["result"], "ok");
    // A malformed number is a usage error that does not echo it.
    let bad = admin_sealed(
        &server,
        "kyc",
        Some(&keys),
        &["erase", "--bvn", "2224000123"],
    );
    assert_eq!(bad.code, 2, "{}", bad.err);
    assert!(!bad.err.contains("2224000123"), "{}", bad.err);
}
