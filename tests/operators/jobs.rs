//! Jobs by state, cancel, run now, find by key or identity, and the queue registry.

use super::*;

#[tokio::test]
async fn queues_are_registered_and_a_typo_is_refused() {
    let server = RedisServer::start();
    let r = admin(&server, "identity", &["queue", "pause"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(
        r.err.contains("no queue named identity; known: none yet"),
        "{}",
        r.err
    );

    let identity = producer(&server, "identity").await;
    let kyc = producer(&server, "kyc").await;
    put(&identity, bvn("22234567890"), EnqueueOptions::default()).await;
    put(
        &identity,
        bvn("22234567891"),
        EnqueueOptions::default().idempotency_key("k1"),
    )
    .await;
    let k = put(
        &kyc,
        bvn("22234567892"),
        EnqueueOptions::delay(Duration::from_secs(3600)),
    )
    .await;

    // A typo names the queues that exist, exits 1 and changes nothing.
    let r = admin(&server, "identiy", &["queue", "pause"]);
    assert_eq!(r.code, 1);
    assert_eq!(
        r.err.trim(),
        "okra-admin: no queue named identiy; known: identity, kyc"
    );
    assert!(server.cli(&["keys", "okq:{identiy}*"]).trim().is_empty());
    // Every command but enqueue checks.
    for args in [
        vec!["stats"],
        vec!["jobs", "list", "--state", "ready"],
        vec!["dlq", "list"],
        vec!["tail"],
        vec!["workers"],
        vec!["job", "show", "x"],
    ] {
        assert_eq!(admin(&server, "identiy", &args).code, 1, "{args:?}");
    }

    let rows = admin(&server, "identity", &["queues", "--json"])
        .ok()
        .json();
    assert_eq!(
        rows,
        json!([
            {"queue": "identity", "scheduled": 0, "ready": 2, "running": 0, "dead": 0, "completed": 0, "cancelled": 0, "workers": 0, "paused": false},
            {"queue": "kyc", "scheduled": 1, "ready": 0, "running": 0, "dead": 0, "completed": 0, "cancelled": 0, "workers": 0, "paused": false},
        ])
    );
    let table = admin(&server, "identity", &["queues"]).ok().out;
    assert!(
        table.contains("identity") && table.contains("kyc"),
        "{table}"
    );

    // A queue with data from before the registry is still known, and registered on the way.
    server.cli(&["srem", "okq:queues", "kyc"]);
    admin(&server, "kyc", &["stats"]).ok();
    assert!(server.cli(&["smembers", "okq:queues"]).contains("kyc"));

    // Delete: refused while it holds jobs, done with --force, every key gone (idempotency
    // claims too).
    let r = admin(&server, "identity", &["queue", "delete"]);
    assert_eq!(r.code, 1);
    assert!(
        r.err.contains("not empty (2 ready") && r.err.contains("--force"),
        "{}",
        r.err
    );
    let r = admin(
        &server,
        "identity",
        &["queue", "delete", "--force", "--json"],
    )
    .ok();
    assert_eq!(r.json()["deleted"], true);
    assert_eq!(server.cli(&["keys", "okq:{identity}*"]).trim(), "");
    // An empty queue (its only job cancelled) is deleted without --force.
    admin(&server, "kyc", &["job", "cancel", &k]).ok();
    admin(&server, "kyc", &["queue", "delete"]).ok();
    assert_eq!(
        admin(&server, "x", &["queues", "--json"]).ok().json(),
        json!([])
    );

    // Workers register the queue they work on.
    let worked = Queue::connect(&server.settings(), test_config("worked"))
        .await
        .unwrap();
    let rt = worked.runtime(test_options()).await.unwrap();
    assert_eq!(worked.queues().await.unwrap(), vec!["worked"]);
    rt.shutdown().await;
}

#[tokio::test]
async fn jobs_by_state_cancel_run_now_and_find() {
    let server = RedisServer::start();
    let q = producer(&server, "identity").await;
    let later = || EnqueueOptions::delay(Duration::from_secs(36_000));
    let r1 = put(&q, bvn("22234567890"), EnqueueOptions::default()).await;
    let r2 = put(
        &q,
        bvn("22234567890"),
        EnqueueOptions::default().idempotency_key("order-7"),
    )
    .await;
    let r3 = put(
        &q,
        OkraJob::new("nin_verify", &[("nin", "12345678901")]).unwrap(),
        EnqueueOptions::default(),
    )
    .await;
    let s1 = put(&q, bvn("22234567893"), later()).await;
    let s2 = put(&q, bvn("22234567894"), later()).await;

    // Ready jobs in the order they run, paged; a kind filter; past the end.
    let all = admin(
        &server,
        "identity",
        &["jobs", "list", "--state", "ready", "--json"],
    )
    .ok();
    assert_eq!(ids(&all), vec![r1.clone(), r2.clone(), r3.clone()]);
    assert_eq!(all.json()["more"], false);
    let p2 = admin(
        &server,
        "identity",
        &[
            "jobs", "list", "--state", "ready", "--limit", "2", "--page", "2", "--json",
        ],
    )
    .ok();
    assert_eq!(ids(&p2), vec![r3.clone()]);
    let p1 = admin(
        &server,
        "identity",
        &["jobs", "list", "--state", "ready", "--limit", "2", "--json"],
    )
    .ok();
    assert_eq!(p1.json()["more"], true);
    let nin = admin(
        &server,
        "identity",
        &[
            "jobs",
            "list",
            "--state",
            "ready",
            "--kind",
            "nin_verify",
            "--json",
        ],
    )
    .ok();
    assert_eq!(ids(&nin), vec![r3.clone()]);
    let past = admin(
        &server,
        "identity",
        &["jobs", "list", "--state", "ready", "--page", "9"],
    )
    .ok();
    assert!(past.out.contains("past the end"), "{}", past.out);
    let sched = admin(
        &server,
        "identity",
        &["jobs", "list", "--state", "scheduled"],
    )
    .ok();
    assert!(
        sched.out.contains(&s1) && sched.out.contains("due in 9h"),
        "{}",
        sched.out
    );
    let bad = admin(&server, "identity", &["jobs", "list", "--state", "dead"]);
    assert_eq!(
        bad.code, 2,
        "dead letters have their own listing: {}",
        bad.err
    );

    // Run now: a scheduled job goes to the head of the line.
    admin(&server, "identity", &["job", "run-now", &s1]).ok();
    let all = admin(
        &server,
        "identity",
        &["jobs", "list", "--state", "ready", "--json"],
    )
    .ok();
    assert_eq!(ids(&all)[0], s1);
    let again = admin(&server, "identity", &["job", "run-now", &s1]);
    assert_eq!(again.code, 1);
    assert!(again.err.contains("is ready"), "{}", again.err);

    // Cancel: a scheduled job, a ready one with an idempotency key (released), never a
    // running one.
    admin(&server, "identity", &["job", "cancel", &s2]).ok();
    assert_eq!(q.state(&s2).await.unwrap(), Some(JobState::Cancelled));
    // Idempotency keys are stored as hashes under the queue's index key: finding one needs it.
    let found = admin_with_env(
        &server,
        "identity",
        &["job", "find", "--idempotency-key", "order-7", "--json"],
        &[("OKQ_QUEUE__INDEX_KEY", INDEX_KEY)],
    )
    .ok();
    assert_eq!(found.json()[0]["id"], r2.as_str());
    admin(&server, "identity", &["job", "cancel", &r2]).ok();
    let twice = admin(&server, "identity", &["job", "cancel", &r2]);
    assert_eq!(twice.code, 1);
    assert!(twice.err.contains("is cancelled"), "{}", twice.err);
    let fresh = q
        .enqueue(
            &bvn("22234567890"),
            EnqueueOptions::default().idempotency_key("order-7"),
        )
        .await
        .unwrap();
    assert!(
        !fresh.duplicate,
        "a cancelled job's idempotency key is released"
    );
    let cancelled = admin(
        &server,
        "identity",
        &["jobs", "list", "--state", "cancelled", "--json"],
    )
    .ok();
    assert_eq!(
        ids(&cancelled),
        vec![r2.clone(), s2.clone()],
        "newest first"
    );
    let stats = admin(&server, "identity", &["stats", "--json"]).ok().json();
    assert_eq!(
        (stats["cancelled"].clone(), stats["cancels"].clone()),
        (json!(2), json!(2))
    );
    // A running job.
    let claimed = match q
        .rdb()
        .claim("w", 1, Duration::from_secs(60), None)
        .await
        .unwrap()
    {
        okra_queue::rdb::ClaimReply::Claimed { jobs, .. } => jobs[0].lease.id.clone(),
        other => panic!("{other:?}"),
    };
    let running = admin(&server, "identity", &["job", "cancel", &claimed]);
    assert_eq!(running.code, 1);
    assert!(
        running
            .err
            .contains("is running: a running job cannot be cancelled"),
        "{}",
        running.err
    );
    assert_eq!(q.state(&claimed).await.unwrap(), Some(JobState::Running));
    let listed = admin(
        &server,
        "identity",
        &["jobs", "list", "--state", "running", "--json"],
    )
    .ok();
    assert_eq!(ids(&listed), vec![claimed.clone()]);
    assert_eq!(
        admin(&server, "identity", &["job", "cancel", "nope"]).code,
        1
    );

    // Find by identity through the keyed-hash index: both jobs for the BVN, and Redis holds
    // no plaintext BVN outside the payloads.
    let env = [("OKQ_QUEUE__INDEX_KEY", INDEX_KEY)];
    let by_bvn = admin_with_env(
        &server,
        "identity",
        &["job", "find", "--bvn", "22234567890", "--json"],
        &env,
    )
    .ok();
    let found = by_bvn.json();
    let mut found: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    // In id order, and ids made in the same millisecond need not follow creation order.
    found.sort_unstable();
    let mut want = vec![r1.as_str(), r2.as_str(), fresh.id.as_str()];
    want.sort_unstable();
    assert_eq!(found, want);
    let by_nin = admin_with_env(
        &server,
        "identity",
        &["job", "find", "--nin", "12345678901"],
        &env,
    )
    .ok();
    assert!(
        by_nin.out.contains(&r3) && !by_nin.out.contains("12345678901"),
        "{}",
        by_nin.out
    );
    let none = admin_with_env(
        &server,
        "identity",
        &["job", "find", "--bvn", "22299999999"],
        &env,
    );
    assert_eq!(none.code, 1);
    let index = server.cli(&["zrange", "okq:{identity}:ident", "0", "-1"]);
    assert_eq!(index.lines().count(), 6, "{index}");
    assert!(
        !index.contains("22234567890") && !index.contains("12345678901"),
        "{index}"
    );
    let off = admin(
        &server,
        "identity",
        &["job", "find", "--bvn", "22234567890"],
    );
    assert_eq!(off.code, 1);
    assert!(off.err.contains("identity index is off"), "{}", off.err);
    let usage = admin(
        &server,
        "identity",
        &["job", "find", "--bvn", "1", "--nin", "2"],
    );
    assert_eq!(usage.code, 2);

    // Past the retention, finished jobs leave the index with their records.
    q.rdb()
        .trim(0, Duration::ZERO, Duration::ZERO, 100)
        .await
        .unwrap();
    assert_eq!(q.state(&r2).await.unwrap(), None);
    let index = server.cli(&["zrange", "okq:{identity}:ident", "0", "-1"]);
    assert_eq!(index.lines().count(), 4, "{index}");
}
