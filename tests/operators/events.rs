//! The event stream, `wait` woken by events, typed results, and `tail`.

use super::*;

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
    // The 200 of the bulk enqueue share one stream entry (one write); resuming in its middle
    // gives the rest of it, then what followed.
    let inside = positions.iter().position(|p| p.contains('#')).unwrap();
    let entry = positions[inside].split('#').next().unwrap().to_string();
    let of_entry = positions.iter().filter(|p| p.starts_with(&entry)).count();
    assert_eq!(of_entry, 200, "{:?}", &positions[inside..inside + 3]);
    let mut resumed = Box::pin(
        q.events(Since::After(positions[inside + 100].clone()))
            .await
            .unwrap(),
    );
    for want in &positions[inside + 101..inside + 205] {
        let e = resumed.next().await.unwrap().unwrap();
        assert_eq!(&e.position, want);
    }

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
    // 600 events in 30 calls of 20 jobs: one stream entry per call, 5 of them kept.
    for b in 0..30 {
        capped
            .enqueue_bulk((0..20).map(|i| {
                (
                    bvn(&format!("3{:05}{:05}", b, i)),
                    EnqueueOptions::default(),
                )
            }))
            .await
            .unwrap();
    }
    let len: u64 = server
        .cli(&["xlen", "okq:{capped}:events"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(len, 5, "one entry per call, trimmed to 100 events");
    let kept = capped.recent_events(1000).await.unwrap();
    assert_eq!(kept.len(), 100);
    assert!(kept.iter().all(|e| e.event == EventKind::Enqueued));

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
