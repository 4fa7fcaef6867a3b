//! Each provider's wire format, end to end over real HTTP: the real `okra-sandbox` in Prembly's
//! and Dojah's modes, called through the provider layer's request builders and readers, for
//! every trigger; the class each answer gets is the one the provider's table (or Okra's)
//! names, and the sandbox checks the headers each provider requires.

use std::sync::Arc;
use std::time::Duration;

use okra_queue::okra::client::Reply;
use okra_queue::okra::providers::dojah::Dojah;
use okra_queue::okra::providers::prembly::Prembly;
use okra_queue::okra::providers::{Caller, Provider, ProviderConf, Secret};
use okra_queue::okra::{Action, Classifier, Delays, ProfileError, checked_profile};

use super::*;

fn caller(p: impl Provider + 'static, base: &str) -> Caller {
    let conf = ProviderConf {
        base_url: base.to_string(),
        ..ProviderConf::default()
    };
    Caller::new(Arc::new(p), conf, Duration::from_millis(700), 1 << 20).unwrap()
}

fn prembly(base: &str) -> Caller {
    caller(Prembly::new(Secret::new("test_sk_1"), None, false), base)
}

fn dojah(base: &str) -> Caller {
    caller(
        Dojah::new(Secret::new("app"), Secret::new("test_sk_1"), false),
        base,
    )
}

/// What one call came to: `ok`, `mismatched`, or the failure's class and action, and whether
/// its charge is uncertain.
async fn outcome(c: &Caller, job: &OkraJob) -> (String, Option<Action>, bool) {
    match c.call(job).await {
        Ok(Reply::Data(data)) => match checked_profile(job, &data) {
            Ok(_) => ("ok".into(), None, false),
            Err(ProfileError::Mismatched(_)) => ("mismatched_profile".into(), None, false),
            Err(ProfileError::Malformed(_)) => ("malformed_body".into(), None, true),
        },
        Ok(Reply::NoContent) => ("no_content".into(), None, false),
        Err(e) => {
            // Dojah takes the identifier in the query: no message may carry it.
            let (_, id, _) = job.person();
            assert!(!e.to_string().contains(id), "{e}");
            let (je, action) = Classifier::default().job_error(&e, &Delays::default());
            (je.class().to_string(), Some(action), e.uncertain())
        }
    }
}

/// The trigger suffix, the class of the first call, its action, whether the charge is
/// uncertain, and the class of a second call.
type Expect = (
    &'static str,
    &'static str,
    Option<Action>,
    bool,
    &'static str,
);

/// What every trigger comes to at Prembly and at Dojah (the same classes: that is the point).
const EXPECT: &[Expect] = &[
    ("7890", "ok", None, false, "ok"),
    ("0503", "unavailable", Some(Action::Retry), false, "ok"),
    ("0505", "unavailable", Some(Action::Retry), false, "ok"),
    (
        "0429",
        "rate_limited",
        Some(Action::RateLimited),
        false,
        "ok",
    ),
    ("0501", "server_error", Some(Action::Retry), false, "ok"),
    (
        "0500",
        "server_error",
        Some(Action::Retry),
        false,
        "server_error",
    ),
    (
        "0502",
        "server_error",
        Some(Action::Retry),
        true,
        "server_error",
    ),
    (
        "0504",
        "server_error",
        Some(Action::Retry),
        true,
        "server_error",
    ),
    (
        "0400",
        "bad_request",
        Some(Action::Terminal),
        false,
        "bad_request",
    ),
    (
        "0401",
        "unauthorized",
        Some(Action::Pause),
        false,
        "unauthorized",
    ),
    (
        "0404",
        "not_found",
        Some(Action::Terminal),
        false,
        "not_found",
    ),
    (
        "0603",
        "not_found",
        Some(Action::Terminal),
        false,
        "not_found",
    ),
    (
        "0601",
        "flagged_user",
        Some(Action::Terminal),
        false,
        "flagged_user",
    ),
    (
        "0602",
        "flagged_user",
        Some(Action::Terminal),
        false,
        "flagged_user",
    ),
    (
        "0402",
        "wallet_empty",
        Some(Action::Pause),
        false,
        "wallet_empty",
    ),
    (
        "0700",
        "malformed_body",
        Some(Action::Retry),
        true,
        "malformed_body",
    ),
    (
        "0701",
        "malformed_body",
        Some(Action::Retry),
        true,
        "malformed_body",
    ),
    (
        "0800",
        "server_error",
        Some(Action::Retry),
        true,
        "server_error",
    ),
    (
        "0301",
        "unexpected_redirect",
        Some(Action::Pause),
        false,
        "unexpected_redirect",
    ),
    (
        "0302",
        "mismatched_profile",
        None,
        false,
        "mismatched_profile",
    ),
    (
        "0413",
        "oversized_body",
        Some(Action::Retry),
        true,
        "oversized_body",
    ),
    ("0900", "ok", None, false, "ok"),
];

async fn every_trigger(c: &Caller) {
    for (suffix, first, action, uncertain, second) in EXPECT {
        let job = bvn(&format!("2221234{suffix}"));
        let got = outcome(c, &job).await;
        assert_eq!(
            (got.0.as_str(), got.1, got.2),
            (*first, *action, *uncertain),
            "{} {suffix}: first call",
            c.name()
        );
        let again = outcome(c, &job).await;
        assert_eq!(again.0, *second, "{} {suffix}: second call", c.name());
    }
}

#[tokio::test]
async fn every_trigger_in_each_providers_wire_format() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--slow", "2s", "--big-body", "3000000"];
    let p = Sandbox::start(
        dir.path(),
        &[&args[..], &["--provider", "prembly"]].concat(),
    );
    let d = Sandbox::start(dir.path(), &[&args[..], &["--provider", "dojah"]].concat());
    every_trigger(&prembly(&format!("{}/api/v1/verification/api", p.url))).await;
    every_trigger(&dojah(&d.url)).await;
    // Every kind each sells, found, and each record is about the job's own identifier.
    for c in [prembly(&p.url), dojah(&d.url)] {
        for job in [
            OkraJob::new("nin_verify", &[("nin", "70123456789")]).unwrap(),
            OkraJob::new("nuban_verify", &[("nuban", "0123456789"), ("bank", "058")]).unwrap(),
            OkraJob::new(
                "nuban_name_verify",
                &[("nuban", "0123456789"), ("bank", "058")],
            )
            .unwrap(),
            OkraJob::new(
                "rc_verify",
                &[("rc_number", "092932"), ("company_name", "Test Company")],
            )
            .unwrap(),
            OkraJob::new(
                "tin_verify",
                &[
                    ("tin_number", "21148119-0001"),
                    ("company_name", "Test Company"),
                ],
            )
            .unwrap(),
        ] {
            assert_eq!(outcome(&c, &job).await.0, "ok", "{} {job:?}", c.name());
        }
        let nin = OkraJob::new("nin_verify", &[("nin", "70123450302")]).unwrap();
        assert_eq!(
            outcome(&c, &nin).await.0,
            "mismatched_profile",
            "{}",
            c.name()
        );
    }
}

#[tokio::test]
async fn each_sandbox_checks_its_providers_headers_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let secret = ["--secret", "test_sk_1"];
    let p = Sandbox::start(
        dir.path(),
        &[&secret[..], &["--provider", "prembly"]].concat(),
    );
    let d = Sandbox::start(
        dir.path(),
        &[&secret[..], &["--provider", "dojah"]].concat(),
    );
    let job = bvn("22212347890");
    let wrong = caller(
        Prembly::new(Secret::new("live_sk_other"), None, false),
        &p.url,
    );
    assert_eq!(outcome(&wrong, &job).await.0, "unauthorized");
    // Dojah's key goes in alone: `Bearer <key>` is refused, as its documents warn.
    let bearer = caller(
        Dojah::new(Secret::new("app"), Secret::new("Bearer test_sk_1"), false),
        &d.url,
    );
    assert_eq!(outcome(&bearer, &job).await.0, "unauthorized");
    assert_eq!(p.stats().await["unauthorized"], 1);
    assert_eq!(d.stats().await["unauthorized"], 1);
    // A wrong base URL is the account's problem, not the job's: pause.
    for c in [
        prembly(&format!("{}/nowhere", p.url)),
        dojah(&format!("{}/nowhere", d.url)),
    ] {
        assert_eq!(
            outcome(&c, &job).await,
            ("wrong_path".into(), Some(Action::Pause), false),
            "{}",
            c.name()
        );
    }
    // The identifier travels in Dojah's query, and in nothing the sandbox was not sent.
    assert_eq!(
        d.calls("dojah-bvn", "22212347890").await,
        0,
        "refused calls are not logged"
    );
    assert_eq!(outcome(&dojah(&d.url), &job).await.0, "ok");
    assert_eq!(d.calls("dojah-bvn", "22212347890").await, 1);
}

#[tokio::test]
async fn one_listener_speaks_all_three_by_path_prefix_and_goes_down_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sandbox::start(dir.path(), &[]);
    let job = bvn("22212347890");
    let p = prembly(&format!("{}/prembly", s.url));
    let d = dojah(&format!("{}/dojah", s.url));
    assert_eq!(outcome(&p, &job).await.0, "ok");
    assert_eq!(outcome(&d, &job).await.0, "ok");
    let http = reqwest::Client::new();
    let toggle = format!("{}/__sandbox/unavailable", s.url);
    http.post(&toggle).send().await.unwrap();
    assert_eq!(
        outcome(&p, &job).await,
        ("unavailable".into(), Some(Action::Retry), false)
    );
    assert_eq!(
        outcome(&d, &job).await,
        ("unavailable".into(), Some(Action::Retry), false)
    );
    http.delete(&toggle).send().await.unwrap();
    assert_eq!(outcome(&p, &job).await.0, "ok");
    // Okra's format still answers under /okra (and at the root, this listener's own).
    for path in ["/okra/products/kyc/bvn-verify", "/products/kyc/bvn-verify"] {
        let r = http
            .post(format!("{}{path}", s.url))
            .bearer_auth("sk")
            .json(&serde_json::json!({"bvn": "22212347890"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let stats = s.stats().await;
    assert_eq!(stats["by_call"]["prembly-bvn 22212347890"], 3);
    assert_eq!(stats["by_call"]["dojah-bvn 22212347890"], 2);
}
