//! Crashes and lost leases: a killed worker's job runs again, a job that kills its worker dies, late outcomes are rejected, a worker survives a Redis restart.

use super::*;

#[tokio::test]
async fn late_outcome_is_rejected_and_counted() {
    let server = RedisServer::start();
    let queue = setup(&server, "late").await;
    let job = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    let rdb = queue.rdb();
    let ClaimReply::Claimed { jobs, .. } = rdb
        .claim("w1", 10, Duration::from_millis(300), None)
        .await
        .unwrap()
    else {
        panic!("expected a claim");
    };
    let first = jobs[0].lease.clone();
    // The lease runs out; a reaper (a runtime with no worker loops) takes the job back.
    let rt = queue.runtime(test_options()).await.unwrap();
    eventually(Duration::from_secs(5), "reaped", || async {
        queue.state(&job.id).await.unwrap() != Some(JobState::Running)
    })
    .await;
    let jobs = loop {
        // The retry is due within 100 ms; the claim script promotes it.
        match rdb
            .claim("w2", 10, Duration::from_secs(30), None)
            .await
            .unwrap()
        {
            ClaimReply::Claimed { jobs, .. } => break jobs,
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert!(jobs[0].lease.token > first.token);
    let late = OutcomeEntry {
        lease: first,
        transition: Transition::Complete,
        delay_ms: 0,
        refund: false,
        history: HistoryEntry {
            outcome: HistoryKind::Success,
            ..HistoryEntry::default()
        },
        data: "\"late\"".into(),
        dims: vec![],
        fence: false,
        kind: "probe".into(),
        reason: None,
        carried: Vec::new(),
    };
    let applied = rdb.apply(&[late], 25, false).await.unwrap();
    assert_eq!(applied, vec![Applied::Late]);
    let rec = queue.job(&job.id).await.unwrap().unwrap();
    assert_eq!(
        rec.state,
        JobState::Running,
        "the late outcome changed nothing"
    );
    assert!(rec.result.is_none());
    let stats = queue.stats().await.unwrap();
    assert_eq!(stats.late_outcomes, 1);
    assert_eq!(stats.lease_expired, 1);
    rt.shutdown().await;
}

#[tokio::test]
async fn worker_survives_a_redis_restart() {
    let mut server = RedisServer::start();
    let queue = setup(&server, "restart").await;
    let fleet = fleet(&queue).await;
    let before = queue
        .enqueue(&probe("ok", 1), EnqueueOptions::default())
        .await
        .unwrap();
    queue
        .wait(&before.id, Duration::from_secs(10))
        .await
        .unwrap();
    server.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(queue.stats().await.is_err(), "Redis is down");
    server.restart();
    let mut after = None;
    for _ in 0..50 {
        match queue
            .enqueue(&probe("ok", 2), EnqueueOptions::default())
            .await
        {
            Ok(e) => {
                after = Some(e);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let after = after.expect("producer reconnects");
    ends_in(&queue, &after.id, JobState::Completed, String::new).await;
    fleet.stop().await;
}

/// The job under test kills (SIGKILL) or aborts its worker process: a child copy of this test
/// binary running `child_worker`.
fn spawn_child_worker(url: &str, queue: &str, mode: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "recovery::child_worker",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("OKQ_CHILD_URL", url)
        .env("OKQ_CHILD_QUEUE", queue)
        .env("OKQ_CHILD_MODE", mode)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
#[ignore = "runs only as a child process of the crash tests"]
async fn child_worker() {
    let (Ok(url), Ok(name), Ok(mode)) = (
        std::env::var("OKQ_CHILD_URL"),
        std::env::var("OKQ_CHILD_QUEUE"),
        std::env::var("OKQ_CHILD_MODE"),
    ) else {
        return;
    };
    let queue = Queue::connect(&okra_queue::RedisSettings::new(url), test_config(&name))
        .await
        .unwrap();
    let mut opts = test_options();
    opts.lease = Duration::from_millis(800);
    let marker = queue.clone();
    let _fleet = start_fleet(&queue, opts, 1, move |job: Probe, ctx: JobContext| {
        let marker = marker.clone();
        let mode = mode.clone();
        async move {
            // Tell the parent the job is running (a key it can poll).
            let _: () = redis::cmd("SET")
                .arg(format!("okq-test:{}:running", job.n))
                .arg(ctx.attempt)
                .query_async(&mut marker.rdb().conn())
                .await
                .unwrap();
            if mode == "abort" {
                std::process::abort();
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
            Ok::<_, BoxDynError>(serde_json::json!(null))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(600)).await;
}

#[tokio::test]
async fn job_of_a_killed_worker_runs_again_after_its_lease() {
    let server = RedisServer::start();
    let queue = setup(&server, "killed").await;
    let job = queue
        .enqueue(&probe("ok", 7), EnqueueOptions::default())
        .await
        .unwrap();
    let mut child = spawn_child_worker(&server.url(), "killed", "sleep");
    eventually(Duration::from_secs(10), "child runs the job", || async {
        server.cli(&["get", "okq-test:7:running"]).trim() == "1"
    })
    .await;
    child.kill().unwrap(); // SIGKILL mid-job: no shutdown code runs
    child.wait().unwrap();
    assert_eq!(queue.state(&job.id).await.unwrap(), Some(JobState::Running));
    let fleet = fleet(&queue).await;
    let done = ends_in(&queue, &job.id, JobState::Completed, String::new).await;
    assert_eq!(done.attempts, 2, "the crashed attempt counts");
    assert_eq!(done.history[0].class.as_deref(), Some("lease_expired"));
    assert_eq!(done.result.unwrap()["attempt"], 2);
    fleet.stop().await;
}

#[tokio::test]
async fn job_that_kills_its_worker_every_time_dies_after_max_attempts() {
    let server = RedisServer::start();
    let queue = setup(&server, "poison").await;
    let job = queue
        .enqueue(&probe("ok", 9), EnqueueOptions::default().max_attempts(3))
        .await
        .unwrap();
    let reaper = queue.runtime(test_options()).await.unwrap();
    let mut crashes = 0;
    while queue.state(&job.id).await.unwrap() != Some(JobState::Dead) {
        assert!(crashes < 6, "the poison pill must die after 3 attempts");
        let mut child = spawn_child_worker(&server.url(), "poison", "abort");
        let _ = child.wait();
        crashes += 1;
        eventually(Duration::from_secs(10), "lease reaped", || async {
            queue.state(&job.id).await.unwrap() != Some(JobState::Running)
        })
        .await;
    }
    let dead = queue.job(&job.id).await.unwrap().unwrap();
    assert_eq!(crashes, 3);
    assert_eq!(dead.attempts, 3);
    let f = dead.last_error.unwrap();
    assert_eq!(f.class, "lease_expired");
    assert_eq!(f.reason.as_deref(), Some("attempts_exhausted"));
    reaper.shutdown().await;
}
