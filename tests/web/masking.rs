//! A completed job's profile (name, birth date, gender, address, phone, e-mail, BVN under
//! other keys) and an idempotency key made of a BVN, through the real `okra-admin job show`
//! and the dashboard's job page: masked by default, shown only with `--reveal`, which is
//! recorded in the audit trail first.

use std::time::Duration;

use apalis::prelude::BoxDynError;
use okra_queue::okra::OkraJob;
use okra_queue::{EnqueueOptions, JobContext, JobState, Queue};
use serde_json::{Value, json};

use super::common::cli::admin;
use super::common::web::Web;
use super::common::*;
use super::get;

/// What Okra tells about a person, under documented and undocumented keys.
async fn profile(_job: OkraJob, _ctx: JobContext) -> Result<Value, BoxDynError> {
    Ok(json!({
        "identity": {
            "fullname": "GAVIN BELSON", "firstname": "GAVIN", "lastname": "BELSON",
            "dob": "1979-09-27", "gender": "Male",
            "address": ["4 AKANNI BASHORUN, LEKKI LAGOS"],
            "phone": ["0803 123 4567"], "email": ["gavin@hooli.xyz"],
            "bvn": "22234567890", "customer_bvn": 22234567891u64,
            "note": "call +234 805-555-1234 or write to g.belson@hooli.xyz",
        }
    }))
}

/// Everything of the person that must not show unless revealed.
const SECRETS: [&str; 10] = [
    "GAVIN",
    "BELSON",
    "1979-09-27",
    "Male",
    "AKANNI",
    "hooli.xyz",
    "0803 123 4567",
    "805-555",
    "22234567890",
    "22234567891",
];

fn leaks(text: &str) -> Vec<&'static str> {
    SECRETS
        .iter()
        .copied()
        .filter(|s| text.contains(s))
        .collect()
}

#[tokio::test]
async fn profiles_are_masked_in_job_show_and_on_the_job_page_and_revealed_only_audited() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = Queue::connect(&server.settings(), test_config("prof"))
        .await
        .unwrap();
    let id = queue
        .enqueue(
            &OkraJob::new("bvn_verify", &[("bvn", "22234567890")]).unwrap(),
            EnqueueOptions::default().idempotency_key("bvn-22234567890"),
        )
        .await
        .unwrap()
        .id;
    let fleet = start_fleet(&queue, test_options(), 1, profile).await;
    eventually(Duration::from_secs(20), "the job completes", || async {
        queue.state(&id).await.unwrap() == Some(JobState::Completed)
    })
    .await;
    fleet.stop().await;

    // `job show`, for people and as JSON: masked, and nothing recorded.
    let shown = admin(&server, "prof", &["job", "show", &id]).ok().out;
    assert_eq!(leaks(&shown), Vec::<&str>::new(), "{shown}");
    assert!(shown.contains("G*** B***"), "{shown}");
    let run = admin(&server, "prof", &["--json", "job", "show", &id]).ok();
    assert_eq!(leaks(&run.out), Vec::<&str>::new(), "{}", run.out);
    let v = run.json();
    let p = &v["result"]["identity"];
    assert_eq!(p["fullname"], "G*** B***");
    assert_eq!((&p["dob"], &p["gender"]), (&json!("***"), &json!("***")));
    assert_eq!(p["address"][0], "***");
    assert_eq!(p["phone"][0], "*********4567");
    assert_eq!(p["customer_bvn"], "*******7891");
    // The idempotency key is kept as its keyed hash only (never the app's text), masked too.
    let key = v["idempotency_key"].as_str().unwrap();
    assert!(key.starts_with("****") && !key.contains("7890"), "{key}");
    let actions = || async {
        queue
            .audit_log(std::time::UNIX_EPOCH, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect::<Vec<_>>()
    };
    assert!(actions().await.is_empty(), "a masked show records nothing");

    // `--reveal` shows it all, and is recorded before.
    let revealed = admin(&server, "prof", &["--reveal", "job", "show", &id])
        .ok()
        .out;
    assert!(
        revealed.contains("GAVIN BELSON") && revealed.contains("1979-09-27"),
        "{revealed}"
    );
    assert!(
        !revealed.contains("bvn-22234567890"),
        "only its hash is kept: {revealed}"
    );
    assert_eq!(actions().await, ["show-reveal"]);

    // The dashboard's job page: masked, and it has no reveal.
    let web = Web::start(dir.path(), &server, "prof", &[], &[]);
    let (status, page) = get(&format!("{}/q/prof/job/{id}", web.url)).await;
    assert_eq!(status, 200);
    assert_eq!(leaks(&page), Vec::<&str>::new(), "{page}");
    assert!(
        page.contains("G*** B***") && !page.contains("bvn-22234567890"),
        "{page}"
    );
}
