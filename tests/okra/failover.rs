//! The fleet on Okra's successors: real `okra-worker` processes configured with
//! `[provider] order = ["prembly", "dojah"]`, each provider a real `okra-sandbox` speaking its
//! wire format. Every class reaches its outcome at each provider; with Prembly answering "try
//! later" to everything, Dojah takes the jobs, nobody is paid twice, and Prembly is probed and
//! used again once it answers; thirty jobs for three people across both pay three times.

use super::*;

const INDEX_KEY: &str = "failover-test-index-key-0123456789";

/// The two providers' sandboxes (each in its own directory, for its log).
struct Pair {
    _dirs: (tempfile::TempDir, tempfile::TempDir),
    prembly: Sandbox,
    dojah: Sandbox,
}

fn pair() -> Pair {
    let (p, d) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let prembly = Sandbox::start(p.path(), &["--provider", "prembly"]);
    let dojah = Sandbox::start(d.path(), &["--provider", "dojah"]);
    Pair {
        _dirs: (p, d),
        prembly,
        dojah,
    }
}

/// A worker whose order is `order`, each provider at its sandbox, with the secrets set.
fn spec<'a>(
    queue: &'a str,
    order: &str,
    p: &Pair,
    extra: Vec<(&'a str, String)>,
) -> WorkerSpec<'a> {
    let mut env = vec![
        ("OKQ_PROVIDER__ORDER", order.to_string()),
        ("OKQ_PROVIDER__FAILOVER_AFTER", "2".into()),
        ("OKQ_PROVIDER__PROBE_AFTER", "1s".into()),
        (
            "OKQ_PROVIDER__PREMBLY__BASE_URL",
            format!("{}/api/v1/verification/api", p.prembly.url),
        ),
        ("OKQ_PROVIDER__DOJAH__BASE_URL", p.dojah.url.clone()),
        ("PREMBLY_API_KEY", "test_prembly_key".into()),
        ("PREMBLY_APP_ID", "test_prembly_app".into()),
        ("DOJAH_APP_ID", "test_dojah_app".into()),
        ("DOJAH_SECRET_KEY", "test_dojah_key".into()),
    ];
    env.extend(extra);
    WorkerSpec {
        queue,
        okra_timeout: "2s",
        env,
        ..WorkerSpec::default()
    }
}

async fn unavailable(s: &Sandbox, on: bool) {
    let url = format!("{}/__sandbox/unavailable", s.url);
    let http = reqwest::Client::new();
    let r = if on { http.post(url) } else { http.delete(url) };
    assert!(r.send().await.unwrap().status().is_success());
}

fn provider_of(r: &JobRecord) -> String {
    r.result.as_ref().expect("a result")["provider"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn every_class_reaches_its_outcome_at_each_provider() {
    let server = RedisServer::start();
    let p = pair();
    for (n, only) in ["prembly", "dojah"].into_iter().enumerate() {
        let name = format!("classes-{only}");
        let queue = producer(&server, &name).await;
        let spec = spec(&name, &format!("[\"{only}\"]"), &p, vec![]);
        let worker = start_worker(
            p._dirs.0.path(),
            10 + n,
            &server.url(),
            "http://127.0.0.1:9",
            &spec,
        );
        let ok = enqueue(&queue, bvn("22210017890")).await;
        let retried = enqueue(&queue, bvn("22210010501")).await;
        let unknown = enqueue(&queue, bvn("22210010404")).await;
        let flagged = enqueue(&queue, bvn("22210010601")).await;
        let log = || worker.log_text();
        let r = finished(&queue, &ok, &log()).await;
        assert_eq!(
            (r.state, provider_of(&r)),
            (JobState::Completed, only.into()),
            "{r:#?}"
        );
        let r = ends_in(&queue, &retried, JobState::Completed, &log).await;
        assert_eq!(r.attempts, 2, "a 500 first, then the profile");
        // The operator sees which provider failed, and what it said.
        let shown = run_admin(&server, &name, &["job", "show", &retried]);
        assert!(
            shown.contains(&format!("class server_error, at {only}, HTTP 500")),
            "{shown}"
        );
        assert!(shown.contains(&format!("{only} said")), "{shown}");
        assert_eq!(
            death(&finished(&queue, &unknown, &log()).await).0,
            "not_found"
        );
        assert_eq!(
            death(&finished(&queue, &flagged, &log()).await).0,
            "flagged_user"
        );
        // A watch-listed record: the answer (6 KB with its photo) is kept shortened as JSON,
        // so the operator's view masks its names and address; revealed, they are there.
        let listed = enqueue(&queue, bvn("22210010602")).await;
        assert_eq!(
            death(&finished(&queue, &listed, &log()).await).0,
            "flagged_user"
        );
        for args in [
            &["job", "show"][..],
            &["--json", "job", "show"],
            &["dlq", "show"],
        ] {
            let shown = run_admin(&server, &name, &[args, &[listed.as_str()]].concat());
            assert!(shown.contains("said") || shown.contains("body"), "{shown}");
            assert!(
                !shown.contains("AKANNI") && !shown.contains("AAAAAAAA"),
                "{shown}"
            );
        }
        let revealed = run_admin(
            &server,
            &name,
            &["--reveal", "--json", "job", "show", &listed],
        );
        assert!(revealed.contains("AKANNI"), "{revealed}");
        // Wallet empty: the account is paused, the job waits, nothing dies.
        let dead_before = queue.dead_count(&Default::default()).await.unwrap();
        let broke = enqueue(&queue, bvn("22210010402")).await;
        let (_, reason) = paused_within(&queue, Duration::from_secs(10)).await;
        assert!(
            reason.contains("wallet_empty") && reason.contains(only),
            "{reason}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            queue.dead_count(&Default::default()).await.unwrap(),
            dead_before
        );
        let _ = broke;
        let out = run_admin(&server, &name, &["--json", "spend", "--days", "1"]);
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        let rows = rows.as_array().unwrap();
        // The ledger is the account's (both queues share it): this provider has its rows.
        assert!(
            rows.iter()
                .any(|r| r["provider"] == only && r["paid"].as_u64() > Some(0)),
            "{out}"
        );
        assert!(
            !log().contains("2221001"),
            "no identifier in the worker's log"
        );
    }
}

#[tokio::test]
async fn dojah_takes_over_while_prembly_is_down_and_prembly_comes_back() {
    let server = RedisServer::start();
    let p = pair();
    unavailable(&p.prembly, true).await;
    let queue = producer(&server, "failover").await;
    let spec = spec("failover", "[\"prembly\", \"dojah\"]", &p, vec![]);
    let worker = start_worker(
        p._dirs.0.path(),
        20,
        &server.url(),
        "http://127.0.0.1:9",
        &spec,
    );
    let people: Vec<String> = (0..200).map(|i| format!("223{i:04}7890")).collect();
    let ids: Vec<String> = queue
        .enqueue_bulk(people.iter().map(|b| bvn_opts(b.clone())))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    for id in &ids {
        let r = finished(&queue, id, &worker.log_text()).await;
        assert_eq!(
            (r.state, provider_of(&r)),
            (JobState::Completed, "dojah".into()),
            "{r:#?}"
        );
    }
    // Nobody paid twice: each person verified once at Dojah; Prembly took no call (it
    // answered "try later" to the few that asked before it was skipped, and to the probes).
    for b in &people {
        assert_eq!(p.dojah.calls("dojah-bvn", b).await, 1, "{b}");
    }
    let asked_prembly = p.prembly.stats().await["total"].as_u64().unwrap();
    assert!(
        asked_prembly < 60,
        "Prembly is skipped, not asked for every job: {asked_prembly}"
    );
    // Prembly answers again: a probe finds it, and the next jobs go to it.
    unavailable(&p.prembly, false).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut back = Vec::new();
    for i in 0..20 {
        let id = enqueue(&queue, bvn(&format!("224{i:04}7890"))).await;
        back.push(provider_of(
            &finished(&queue, &id, &worker.log_text()).await,
        ));
    }
    assert_eq!(back.last().map(String::as_str), Some("prembly"), "{back:?}");
    assert!(worker.log_text().contains("provider answers again"));
}

#[tokio::test]
async fn thirty_jobs_for_three_people_across_two_providers_pay_three_times() {
    let server = RedisServer::start();
    let p = pair();
    let mut cfg = QueueConfig::new("across");
    cfg.index_key = Some(okra_queue::ident::IndexKey::new(INDEX_KEY).unwrap());
    cfg.account = Some(okra_queue::rdb::AccountLimit {
        name: "default".into(),
        limit: 0,
        window: Duration::from_secs(61),
    });
    let queue = Queue::connect(&server.settings(), cfg).await.unwrap();
    let extra = vec![
        ("OKQ_OKRA__REUSE_WINDOW", "1h".to_string()),
        ("OKQ_QUEUE__INDEX_KEY", INDEX_KEY.to_string()),
        (
            "OKQ_PROVIDER__PREMBLY__PRICE__BVN_VERIFY",
            "100".to_string(),
        ),
        ("OKQ_PROVIDER__DOJAH__PRICE__BVN_VERIFY", "80".to_string()),
    ];
    let spec = spec("across", "[\"prembly\", \"dojah\"]", &p, extra);
    let worker = start_worker(
        p._dirs.0.path(),
        30,
        &server.url(),
        "http://127.0.0.1:9",
        &spec,
    );
    let people = ["22250001234", "22250011234", "22250021234"];
    let run = |ids: Vec<String>| {
        let queue = queue.clone();
        let log = worker.log_text();
        async move {
            let mut out = Vec::new();
            for id in ids {
                out.push(finished(&queue, &id, &log).await);
            }
            out
        }
    };
    // The first person while Prembly is up, the other two while it is down (Dojah pays).
    let first = queue
        .enqueue_bulk((0..10).map(|_| bvn_opts(people[0].into())))
        .await
        .unwrap();
    let done = run(first.into_iter().map(|e| e.id).collect()).await;
    assert!(done.iter().all(|r| r.state == JobState::Completed));
    unavailable(&p.prembly, true).await;
    let rest = queue
        .enqueue_bulk((0..20).map(|i| bvn_opts(people[1 + i % 2].into())))
        .await
        .unwrap();
    let done = run(rest.into_iter().map(|e| e.id).collect()).await;
    assert!(
        done.iter().all(|r| r.state == JobState::Completed),
        "{done:#?}"
    );
    let paid_at = |s: serde_json::Value, path: &str| s["by_path"][path].as_u64().unwrap_or(0);
    let prembly_paid = paid_at(p.prembly.stats().await, "prembly-bvn");
    let dojah_paid = paid_at(p.dojah.stats().await, "dojah-bvn");
    // Prembly's count includes the "try later" answers it gave while down; Dojah paid for the
    // two people Prembly could not serve, once each.
    assert_eq!(dojah_paid, 2, "Dojah verified two people once each");
    assert!(prembly_paid >= 1);
    // okra-admin reads the prices from the same settings as the workers.
    let out = common::procs::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--redis-url", &server.url(), "--queue", "across"])
            .args(["--json", "spend", "--days", "1"])
            .env_remove("OKQ_CONFIG")
            .env("OKQ_PROVIDER__PREMBLY__PRICE__BVN_VERIFY", "100")
            .env("OKQ_PROVIDER__DOJAH__PRICE__BVN_VERIFY", "80"),
    );
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = rows.as_array().unwrap();
    let paid: u64 = rows.iter().map(|r| r["paid"].as_u64().unwrap()).sum();
    let reused: u64 = rows
        .iter()
        .map(|r| r["saved_reuse"].as_u64().unwrap())
        .sum();
    assert_eq!((paid, reused), (3, 27), "{out}");
    let naira: f64 = rows.iter().map(|r| r["naira"].as_f64().unwrap()).sum();
    assert!(
        (naira - 260.0).abs() < 1e-9,
        "100 at Prembly + 2 x 80 at Dojah: {out}"
    );
    assert!(rows.iter().any(|r| r["provider"] == "prembly"));
    assert!(rows.iter().any(|r| r["provider"] == "dojah"));
}
