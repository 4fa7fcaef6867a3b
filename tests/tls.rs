//! TLS to Redis: a real `redis-server` started with `--tls-port` and certificates this test
//! generates (a CA, a server certificate, a client certificate the server requires), reached
//! with `rediss://` by the library, `okra-admin` and `okra-worker`; then a 3-master Redis
//! Cluster that speaks only TLS.

mod common;

use std::process::Command;
use std::time::Duration;

use common::procs::{Sandbox, WorkerSpec, run_ok, start_worker};
use common::tls::{Certs, TlsCluster};
use common::*;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, Job, JobState, Queue, RedisSettings};

fn bvn(b: &str) -> OkraJob {
    OkraJob::new("bvn_verify", &[("bvn", b)]).unwrap()
}

fn tls_settings(url: String, certs: &Certs) -> RedisSettings {
    RedisSettings {
        tls_ca: Some(certs.ca.clone()),
        tls_cert: Some(certs.client_cert.clone()),
        tls_key: Some(certs.client_key.clone()),
        response_timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(2),
        ..RedisSettings::new(url)
    }
}

/// The environment every binary reads the TLS settings from.
fn tls_env(certs: &Certs) -> Vec<(&'static str, String)> {
    vec![
        ("OKQ_REDIS__TLS_CA", certs.ca.display().to_string()),
        (
            "OKQ_REDIS__TLS_CERT",
            certs.client_cert.display().to_string(),
        ),
        ("OKQ_REDIS__TLS_KEY", certs.client_key.display().to_string()),
    ]
}

/// The error of a connection that must fail: one line, no password.
async fn refused(settings: RedisSettings) -> String {
    let e = Queue::connect(&settings, test_config("tls"))
        .await
        .expect_err("must not connect")
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(!e.contains("s3cret"), "no password in errors: {e}");
    e
}

#[tokio::test]
async fn rediss_with_ca_client_certificate_and_acl_user() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let tls_port = free_port();
    let mut args = certs.server_args(tls_port);
    args.extend(["--user", "okq", "on", ">s3cret", "~*", "&*", "+@all"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = RedisServer::start_with(&args);
    let url = format!("rediss://okq:s3cret@127.0.0.1:{tls_port}");

    // The library, with the ACL user from the URL.
    let queue = Queue::connect(&tls_settings(url.clone(), &certs), test_config("identity"))
        .await
        .expect("TLS connect");
    let job = queue
        .enqueue(&bvn("22234567890"), EnqueueOptions::default())
        .await
        .unwrap();
    assert_eq!(
        server.cli(&["acl", "log"]).matches("okq").count(),
        0,
        "no failed logins for the ACL user"
    );

    // What must be refused, with a clear line each.
    let mut wrong_password = tls_settings(url.replace("s3cret", "nope"), &certs);
    wrong_password.connect_timeout = Duration::from_secs(1);
    let e = refused(wrong_password).await;
    assert!(e.to_lowercase().contains("authentication failed"), "{e}");
    let mut no_client_cert = tls_settings(url.clone(), &certs);
    no_client_cert.tls_cert = None;
    no_client_cert.tls_key = None;
    refused(no_client_cert).await;
    let mut stranger = tls_settings(url.clone(), &certs);
    stranger.tls_ca = Some(certs.stranger_ca.clone());
    let e = refused(stranger).await;
    assert!(
        e.contains("TLS: the server's certificate is not signed by redis.tls_ca"),
        "{e}"
    );
    assert_eq!(e.matches("TLS").count(), 1, "said once: {e}");
    let mut plain_url = tls_settings(format!("redis://127.0.0.1:{tls_port}"), &certs);
    plain_url.connect_timeout = Duration::from_secs(1);
    let e = refused(plain_url).await;
    assert!(e.contains("rediss://"), "{e}");
    let mut missing = tls_settings(url.clone(), &certs);
    missing.tls_ca = Some(dir.path().join("nowhere.pem"));
    let e = refused(missing).await;
    assert!(e.contains("cannot read tls_ca"), "{e}");

    // okra-admin over TLS, configured through the environment.
    let stats = run_ok(
        Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--queue", "identity", "stats", "--json"])
            .env("REDIS_URL", &url)
            .envs(tls_env(&certs)),
    );
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["ready"], 1, "{stats}");
    let out = Command::new(env!("CARGO_BIN_EXE_okra-admin"))
        .args(["--queue", "identity", "stats"])
        .env("REDIS_URL", &url)
        .env("OKQ_REDIS__TLS_CA", dir.path().join("nowhere.pem"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cannot read tls_ca") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");

    // okra-worker over TLS runs the job.
    let sandbox = Sandbox::start(dir.path(), &[]);
    let spec = WorkerSpec {
        env: tls_env(&certs),
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &url, &sandbox.url, &spec);
    let done = queue
        .wait(&job.id, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}; worker log:\n{}", worker.log_text()));
    assert_eq!(done.state, JobState::Completed);
    assert!(
        !worker.log_text().contains("s3cret"),
        "worker logs hide the password"
    );
}

#[tokio::test]
async fn redis_cluster_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::generate(dir.path());
    let cluster = TlsCluster::start(dir.path(), &certs);
    let mut settings = tls_settings(cluster.url(), &certs);
    settings.cluster = true;
    let queue = Queue::connect(&settings, test_config("identity"))
        .await
        .expect("TLS cluster connect");
    let jobs: Vec<_> = (0..50)
        .map(|i| (bvn(&format!("222{:08}", i)), EnqueueOptions::default()))
        .collect();
    let ids = queue.enqueue_bulk(jobs).await.unwrap();
    let fleet = start_fleet(&queue, test_options(), 2, |job: OkraJob, _ctx| async move {
        Ok::<_, apalis::prelude::BoxDynError>(job.kind().to_string())
    })
    .await;
    for e in &ids {
        ends_in(&queue, &e.id, JobState::Completed, String::new).await;
    }
    fleet.stop().await;

    // okra-admin reaches the cluster too, seeds given bare after the first.
    let seeds = cluster.url();
    let (first, rest) = seeds.split_once(',').unwrap();
    let rest = rest.replace("rediss://", "");
    let stats = run_ok(
        Command::new(env!("CARGO_BIN_EXE_okra-admin"))
            .args(["--queue", "identity", "stats", "--json"])
            .env("REDIS_URL", format!("{first},{rest}"))
            .env("OKQ_REDIS__CLUSTER", "true")
            .envs(tls_env(&certs)),
    );
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["completed"], 50, "{stats}");

    // The operator's commands on a cluster: registry, listing, events, delete (its SCAN for
    // idempotency claims goes to the node that holds the queue's slot).
    queue
        .enqueue(
            &bvn("22234567899"),
            EnqueueOptions::default().idempotency_key("k"),
        )
        .await
        .unwrap();
    let admin = |args: &[&str]| {
        run_ok(
            Command::new(env!("CARGO_BIN_EXE_okra-admin"))
                .args(["--queue", "identity"])
                .args(args)
                .env("REDIS_URL", cluster.url())
                .env("OKQ_REDIS__CLUSTER", "true")
                .envs(tls_env(&certs)),
        )
    };
    assert!(admin(&["queues"]).contains("identity"));
    let listed: serde_json::Value =
        serde_json::from_str(&admin(&["jobs", "list", "--state", "completed", "--json"])).unwrap();
    assert_eq!(listed["jobs"].as_array().unwrap().len(), 20);
    assert_eq!(admin(&["tail", "--last", "3", "--json"]).lines().count(), 3);
    assert!(admin(&["job", "find", "--idempotency-key", "k"]).contains("ready"));
    admin(&["queue", "delete", "--force"]);
    let left = queue
        .rdb()
        .by_idempotency_key(&queue.idem_key("k"))
        .await
        .unwrap();
    assert_eq!(left, None, "the idempotency claim went with the queue");
    assert_eq!(queue.queues().await.unwrap(), Vec::<String>::new());
}

/// The usual one-line self-signed certificate (its own CA) is refused with what to do about it,
/// in one line, once.
#[tokio::test]
async fn a_self_signed_server_certificate_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::tls::self_signed_server(dir.path());
    let tls_port = free_port();
    let p = |p: &std::path::PathBuf| p.display().to_string();
    let args = [
        "--tls-port".to_string(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        p(&cert),
        "--tls-key-file".into(),
        p(&key),
        "--tls-ca-cert-file".into(),
        p(&cert),
        "--tls-auth-clients".into(),
        "no".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _server = RedisServer::start_with(&args);
    let settings = RedisSettings {
        tls_ca: Some(cert.clone()),
        connect_timeout: Duration::from_secs(2),
        ..RedisSettings::new(format!("rediss://127.0.0.1:{tls_port}"))
    };
    let e = refused(settings).await;
    assert!(
        e.contains("the server's certificate is a CA certificate") && e.contains("signed by a CA"),
        "{e}"
    );
    assert!(
        !e.contains("CaUsedAsEndEntity") && !e.contains("OtherError"),
        "{e}"
    );
}
