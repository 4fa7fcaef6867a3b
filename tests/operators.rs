//! Operators and app developers: the queue registry, jobs by state, cancel and run-now, finding
//! jobs by idempotency key or identity, the event stream, `wait` woken by events, typed
//! results. The real `okra-admin` binary and the library against a real `redis-server`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use apalis::prelude::BoxDynError;
use common::cli::*;
use common::*;
use futures::StreamExt;
use okra_queue::events::Since;
use okra_queue::ident::IndexKey;
use okra_queue::okra::{OkraJob, OkraResult};
use okra_queue::{EnqueueOptions, EventKind, JobContext, JobError, JobState, Queue, QueueConfig};
use serde_json::{Value, json};

const INDEX_KEY: &str = "test-index-key-0123456789";

fn bvn(b: &str) -> OkraJob {
    OkraJob::BvnVerify { bvn: b.into() }
}

async fn producer(server: &RedisServer, name: &str) -> Queue {
    let mut cfg = test_config(name);
    cfg.index_key = Some(IndexKey::new(INDEX_KEY).unwrap());
    Queue::connect(&server.settings(), cfg).await.unwrap()
}

async fn put(q: &Queue, job: OkraJob, o: EnqueueOptions) -> String {
    q.enqueue(&job, o).await.unwrap().id
}

fn ids(run: &Run) -> Vec<String> {
    run.json()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

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
        OkraJob::NinVerify {
            nin: "12345678901".into(),
        },
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
    let found = admin(
        &server,
        "identity",
        &["job", "find", "--idempotency-key", "order-7", "--json"],
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
    let found: Vec<&str> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, vec![r1.as_str(), r2.as_str(), fresh.id.as_str()]);
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

/// Fails the first attempt of every job, then completes it; `*0601` BVNs die at once.
async fn flaky(job: OkraJob, ctx: JobContext) -> Result<OkraResult, BoxDynError> {
    let OkraJob::BvnVerify { bvn } = &job else {
        unreachable!()
    };
    if bvn.ends_with("0601") {
        return Err(JobError::terminal("flagged_user", "flagged").into());
    }
    if ctx.attempt == 1 {
        return Err(JobError::retryable("server_error", "boom").into());
    }
    Ok(OkraResult::found(
        "/products/kyc/bvn-verify",
        json!({ "bvn": bvn }),
    ))
}

#[tokio::test]
async fn events_wait_and_typed_results() {
    let server = RedisServer::start();
    let q = producer(&server, "identity").await;
    let mut events = Box::pin(q.events(Since::Start).await.unwrap());
    let ok = put(&q, bvn("22234567890"), EnqueueOptions::default()).await;
    let dies = put(&q, bvn("22234560601"), EnqueueOptions::default()).await;
    let gone = put(
        &q,
        bvn("22234567891"),
        EnqueueOptions::delay(Duration::from_secs(600)),
    )
    .await;
    q.cancel(&gone).await.unwrap();
    let many: Vec<String> = q
        .enqueue_bulk((0..200).map(|i| (bvn(&format!("3{:010}", i)), EnqueueOptions::default())))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    let fleet = start_fleet(&q, test_options(), 1, flaky).await;

    // Many waits share one reader; each returns when its job finishes.
    let waits = many.iter().map(|id| q.wait(id, Duration::from_secs(30)));
    for r in futures::future::join_all(waits).await {
        assert_eq!(r.unwrap().state, JobState::Completed);
    }
    let done = q.wait(&ok, Duration::from_secs(10)).await.unwrap();
    let result: OkraResult = done.result_as().unwrap().expect("a result");
    assert_eq!(result.profile.unwrap()["bvn"], "22234567890");
    assert_eq!(
        q.result_as::<OkraResult>(&ok)
            .await
            .unwrap()
            .unwrap()
            .http_status,
        200
    );
    assert!(
        done.result_as::<Vec<u8>>().is_err(),
        "a result of another shape is an error"
    );
    assert_eq!(
        q.wait(&dies, Duration::from_secs(10)).await.unwrap().state,
        JobState::Dead
    );
    assert_eq!(
        q.wait(&gone, Duration::from_secs(1)).await.unwrap().state,
        JobState::Cancelled
    );
    fleet.stop().await;

    // The stream tells each job's story, in order, without personal data.
    let mut story: std::collections::HashMap<String, Vec<(EventKind, Option<String>, u32)>> =
        Default::default();
    let mut positions = Vec::new();
    let expected = 3 + 200 + 1 + 2 + 200 * 2 + 1; // enqueued, cancelled, retry+completed, dead
    let deadline = Instant::now() + Duration::from_secs(10);
    while positions.len() < expected {
        assert!(Instant::now() < deadline, "only {} events", positions.len());
        let e = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("an event")
            .unwrap()
            .unwrap();
        positions.push(e.position.clone());
        story
            .entry(e.job.clone())
            .or_default()
            .push((e.event, e.class, e.attempt));
    }
    use EventKind::*;
    assert_eq!(
        story[&ok],
        vec![
            (Enqueued, None, 0),
            (Retry, Some("server_error".into()), 1),
            (Completed, None, 2)
        ]
    );
    assert_eq!(
        story[&dies],
        vec![(Enqueued, None, 0), (Dead, Some("flagged_user".into()), 1)]
    );
    assert_eq!(
        story[&gone],
        vec![(Enqueued, None, 0), (Cancelled, None, 0)]
    );
    let raw = server.cli(&["xrange", "okq:{identity}:events", "-", "+"]);
    assert!(!raw.contains("22234567890"), "events carry no identifier");

    // Resuming after a position gives what followed it.
    let mut resumed = Box::pin(q.events(Since::After(positions[1].clone())).await.unwrap());
    let next = resumed.next().await.unwrap().unwrap();
    assert_eq!(next.position, positions[2]);

    // okra-admin tail: the last events, filtered, as JSON Lines.
    let tail = admin(&server, "identity", &["tail", "--last", "5", "--json"]).ok();
    assert_eq!(tail.out.lines().count(), 5);
    for line in tail.out.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
    let dead = admin(&server, "identity", &["tail", "--class", "flagged_user"]).ok();
    assert_eq!(dead.out.lines().count(), 1, "{}", dead.out);
    assert!(
        dead.out.contains(&dies) && dead.out.contains("dead"),
        "{}",
        dead.out
    );
    let retries = admin(
        &server,
        "identity",
        &["tail", "--event", "retry", "--last", "1000"],
    )
    .ok();
    assert_eq!(retries.out.lines().count(), 201);

    // tail --follow prints new events as they happen and exits 0 on Ctrl-C.
    let mut child = command(&server, "identity", &["tail", "--follow", "--last", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let late = put(&q, bvn("22234567899"), EnqueueOptions::default()).await;
    let line = tokio::task::spawn_blocking(move || lines.next().unwrap().unwrap())
        .await
        .unwrap();
    assert!(line.contains("enqueued") && line.contains(&late), "{line}");
    procs::signal(child.id(), "INT");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[tokio::test]
async fn the_event_stream_is_capped_or_off() {
    let server = RedisServer::start();
    let mut cfg = test_config("capped");
    cfg.events_max = 100;
    let capped = Queue::connect(&server.settings(), cfg).await.unwrap();
    capped
        .enqueue_bulk((0..2000).map(|i| (bvn(&format!("3{:010}", i)), EnqueueOptions::default())))
        .await
        .unwrap();
    let len: u64 = server
        .cli(&["xlen", "okq:{capped}:events"])
        .trim()
        .parse()
        .unwrap();
    assert!((100..1000).contains(&len), "trimmed to about 100: {len}");

    let mut cfg = QueueConfig::new("quiet");
    cfg.events_max = 0;
    let quiet = Queue::connect(&server.settings(), cfg).await.unwrap();
    let id = put(&quiet, bvn("22234567890"), EnqueueOptions::default()).await;
    assert_eq!(server.cli(&["exists", "okq:{quiet}:events"]).trim(), "0");
    // `wait` still works without events (it polls).
    let fleet = start_fleet(&quiet, test_options(), 1, flaky).await;
    assert_eq!(
        quiet
            .wait(&id, Duration::from_secs(10))
            .await
            .unwrap()
            .state,
        JobState::Completed
    );
    fleet.stop().await;
}

#[tokio::test]
async fn queue_latency_is_the_age_of_the_oldest_ready_job() {
    let server = RedisServer::start();
    let q = producer(&server, "identity").await;
    put(
        &q,
        bvn("22234567890"),
        EnqueueOptions::delay(Duration::from_secs(600)),
    )
    .await;
    assert_eq!(q.stats().await.unwrap().latency_ms, 0, "nothing is ready");
    put(&q, bvn("22234567891"), EnqueueOptions::default()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    put(&q, bvn("22234567892"), EnqueueOptions::default()).await;
    let waited = q.stats().await.unwrap().latency_ms;
    assert!((300..60_000).contains(&waited), "{waited}");
    let stats = admin(&server, "identity", &["stats", "--json"]).ok().json();
    assert!(stats["latency_ms"].as_u64().unwrap() >= 300, "{stats}");
    let human = admin(&server, "identity", &["stats"]).ok().out;
    assert!(human.contains("oldest ready job waiting"), "{human}");
}

#[tokio::test]
async fn per_minute_counters_are_kept_two_hours() {
    let server = RedisServer::start();
    let q = producer(&server, "minutes").await;
    let id = put(&q, bvn("22234567890"), EnqueueOptions::default()).await;
    let fleet = start_fleet(&q, test_options(), 1, flaky).await;
    q.wait(&id, Duration::from_secs(10)).await.unwrap();
    fleet.stop().await;
    let last: Vec<_> = q.throughput(5).await.unwrap();
    assert_eq!(last.len(), 5);
    let (p, f) = last
        .iter()
        .fold((0, 0), |(p, f), m| (p + m.processed, f + m.failed));
    assert_eq!((p, f), (2, 1), "one retry, one success");
    // A field from long ago (or not shaped `minute|x`) goes at the next trim; recent ones stay.
    server.cli(&["hset", "okq:{minutes}:minutes", "12|p", "5", "junk", "1"]);
    q.rdb()
        .trim(0, Duration::ZERO, Duration::from_secs(3600), 100)
        .await
        .unwrap();
    let fields = server.cli(&["hkeys", "okq:{minutes}:minutes"]);
    assert!(
        !fields.contains("12|p") && !fields.contains("junk"),
        "{fields}"
    );
    assert_eq!(q.throughput(5).await.unwrap(), last);
}
