//! Every code of each provider's table reaches its class and action through the classifier
//! Okra's answers go through; records become the common profile `checked_profile` accepts,
//! and somebody else's identifier is refused; hostile answers are classified, never a panic.

use serde_json::{Value, json};

use super::dojah::Dojah;
use super::prembly::Prembly;
use super::*;
use crate::okra::classify::Classifier;
use crate::okra::client::Raw;
use crate::okra::profile::{ProfileError, checked_profile};
use crate::okra::settings::Delays;

fn prembly(photo: bool) -> Prembly {
    Prembly::new(Secret::new("test_sk_1"), None, photo)
}

fn dojah() -> Dojah {
    Dojah::new(Secret::new("app"), Secret::new("sk"), false)
}

fn bvn(b: &str) -> OkraJob {
    OkraJob::new("bvn_verify", &[("bvn", b)]).unwrap()
}

fn raw(status: u16, body: &Value) -> Raw {
    Raw {
        status,
        retry_after: None,
        body: serde_json::to_vec(body).unwrap(),
    }
}

/// The class and action the classifier gives a failed read.
fn class_of(r: Result<Reply, OkraError>) -> (String, Action, bool) {
    let e = r.expect_err("a failure");
    let (je, action) = Classifier::default().job_error(&e, &Delays::default());
    (je.class().to_string(), action, e.uncertain())
}

const BVN: &str = "22212345678";

#[test]
fn every_prembly_code_reaches_its_class() {
    let p = prembly(false);
    for r in super::prembly::TABLE {
        let answer = match r.matched {
            Matched::Code(c) => {
                let status = match c {
                    "04" | "05" | "06" => 400,
                    "99" => 500,
                    _ => 200,
                };
                raw(
                    status,
                    &json!({"status": false, "response_code": c, "message": r.says}),
                )
            }
            Matched::Status(s) => raw(s, &json!({"status": false, "message": "x"})),
            Matched::WatchListed => raw(
                200,
                &json!({"status": true, "response_code": "00", "data": {"bvn": BVN, "firstName": "A", "watchListed": "YES"}}),
            ),
            Matched::Text(..) => unreachable!("Prembly names codes"),
        };
        let (class, action, uncertain) = class_of(p.read(&bvn(BVN), &answer));
        assert_eq!((class.as_str(), action), (r.class, r.action), "{r:?}");
        assert!(!uncertain, "{r:?}: a definite answer");
    }
    // The ones the issue names, spelled out.
    let code =
        |c: &str, status| class_of(p.read(&bvn(BVN), &raw(status, &json!({"response_code": c}))));
    assert_eq!(
        code("01", 200),
        ("not_found".into(), Action::Terminal, false)
    );
    assert_eq!(
        code("02", 200),
        ("unavailable".into(), Action::Retry, false)
    );
    assert_eq!(code("03", 200).1, Action::Pause);
    assert_eq!(
        code("04", 400),
        ("wallet_empty".into(), Action::Pause, false)
    );
    assert_eq!(
        code("05", 400),
        ("bad_request".into(), Action::Terminal, false)
    );
    assert_eq!(
        code("07", 200),
        ("flagged_user".into(), Action::Terminal, false)
    );
    // A code nobody documented: Okra's table by status (an error with a 2xx: terminal).
    assert_eq!(
        code("42", 200),
        ("okra_error".into(), Action::Terminal, false)
    );
    // No code: the status decides, as for Okra.
    let status = |s| {
        class_of(p.read(
            &bvn(BVN),
            &raw(s, &json!({"status": false, "message": "no"})),
        ))
    };
    assert_eq!(status(401).0, "unauthorized");
    assert_eq!(status(403).1, Action::Pause);
    assert_eq!(status(402), ("wallet_empty".into(), Action::Pause, false));
    assert_eq!(status(429).1, Action::RateLimited);
    assert_eq!(status(500).0, "server_error");
}

#[test]
fn every_dojah_answer_reaches_its_class() {
    let d = dojah();
    for r in super::dojah::TABLE {
        let answer = match r.matched {
            Matched::Text(s, t) => raw(s, &json!({"error": format!("BVN {t}")})),
            Matched::Status(s) => raw(s, &json!({"error": "something"})),
            Matched::WatchListed => raw(
                200,
                &json!({"entity": {"bvn": BVN, "first_name": "A", "watch_listed": "YES"}}),
            ),
            Matched::Code(_) => unreachable!("Dojah names no codes"),
        };
        let (class, action, _) = class_of(d.read(&bvn(BVN), &answer));
        assert_eq!((class.as_str(), action), (r.class, r.action), "{r:?}");
    }
    let err = |s, body: Value| class_of(d.read(&bvn(BVN), &raw(s, &body)));
    assert_eq!(err(400, json!({"error": "BVN not found"})).0, "not_found");
    assert_eq!(err(404, json!({"error": "vnin not found"})).0, "not_found");
    assert_eq!(err(400, json!({"error": "Invalid BVN"})).0, "bad_request");
    assert_eq!(
        err(402, json!({"error": "Your balance is low"})).1,
        Action::Pause
    );
    assert_eq!(
        err(424, json!({"error": "NIBSS down"})),
        ("unavailable".into(), Action::Retry, false)
    );
    assert_eq!(err(401, json!({"error": "unauthorized"})).0, "unauthorized");
    assert_eq!(err(500, json!({"error": "oops"})).0, "server_error");
    // A 504 may have been done and charged: uncertain, as Okra's.
    assert!(err(504, json!({"error": "timeout"})).2);
}

#[test]
fn a_prembly_record_becomes_the_common_profile() {
    let answer = json!({"status": true, "response_code": "00", "data": {
        "bvn": BVN, "firstName": "JU", "middleName": "OYI", "lastName": "KEE",
        "dateOfBirth": "2-Aug-1904", "phoneNumber1": "07030500002", "phoneNumber2": "",
        "gender": "Female", "residentialAddress": "4 AKANNI", "watchListed": "NO",
        "base64Image": "/9j/4AAQ"},
        "billing_info": {"was_charged": true, "amount": "100.00", "currency": "NGN"}});
    let Ok(Reply::Data(data)) = prembly(false).read(&bvn(BVN), &raw(200, &answer)) else {
        panic!()
    };
    let p = checked_profile(&bvn(BVN), &data).unwrap();
    assert_eq!(p["fullname"], "JU OYI KEE");
    assert_eq!(p["lastname"], "KEE");
    assert_eq!(p["dob"], "2-Aug-1904");
    assert_eq!(p["gender"], "F");
    assert_eq!(p["phone"], json!(["07030500002"]));
    assert_eq!(p["address"], json!(["4 AKANNI"]));
    assert_eq!(p["bvn"], BVN);
    assert!(p.get("photo").is_none(), "no photo unless asked");
    let Ok(Reply::Data(data)) = prembly(true).read(&bvn(BVN), &raw(200, &answer)) else {
        panic!()
    };
    assert_eq!(data["identity"]["photo"], "/9j/4AAQ");
    // BVN basic names no BVN in its record, but repeats the request.
    let basic = json!({"status": true, "response_code": "00",
        "data": {"firstName": "John", "lastName": "Jane", "dateOfBirth": "01-Jan-2000", "phoneNumber": "08012345678"},
        "request_data": {"number": "22299999999"}});
    let Ok(Reply::Data(data)) = prembly(false).read(&bvn(BVN), &raw(200, &basic)) else {
        panic!()
    };
    assert_eq!(
        checked_profile(&bvn(BVN), &data),
        Err(ProfileError::Mismatched("bvn"))
    );
}

#[test]
fn somebody_elses_identifier_is_refused_for_each_provider() {
    let other = "22299999999";
    let p = json!({"response_code": "00", "data": {"bvn": other, "firstName": "A"}});
    let d = json!({"entity": {"bvn": other, "first_name": "A"}});
    for reply in [
        prembly(false).read(&bvn(BVN), &raw(200, &p)),
        dojah().read(&bvn(BVN), &raw(200, &d)),
    ] {
        let Ok(Reply::Data(data)) = reply else {
            panic!()
        };
        assert_eq!(
            checked_profile(&bvn(BVN), &data),
            Err(ProfileError::Mismatched("bvn"))
        );
    }
    let nuban = OkraJob::new("nuban_verify", &[("nuban", "0123456789"), ("bank", "058")]).unwrap();
    let d = json!({"entity": {"account_number": "0123450000", "account_name": "JOHN DOE"}});
    let Ok(Reply::Data(data)) = dojah().read(&nuban, &raw(200, &d)) else {
        panic!()
    };
    assert_eq!(
        checked_profile(&nuban, &data),
        Err(ProfileError::Mismatched("nuban"))
    );
    let rc = OkraJob::new(
        "rc_verify",
        &[("rc_number", "7000"), ("company_name", "DYNO")],
    )
    .unwrap();
    // CAC advance answers a list: the company asked about is picked, another is refused.
    let list = json!({"response_code": "00", "data": [
        {"rc_number": "7001", "company_name": "OTHER"},
        {"rc_number": "7000", "company_name": "DYNO CLUB"}]});
    let Ok(Reply::Data(data)) = prembly(false).read(&rc, &raw(200, &list)) else {
        panic!()
    };
    assert_eq!(
        checked_profile(&rc, &data).unwrap()["companyName"],
        "DYNO CLUB"
    );
    let stranger = json!({"response_code": "00", "data": {"rc_number": "9", "company_name": "X"}});
    let Ok(Reply::Data(data)) = prembly(false).read(&rc, &raw(200, &stranger)) else {
        panic!()
    };
    assert_eq!(
        checked_profile(&rc, &data),
        Err(ProfileError::Mismatched("rc_number"))
    );
}

#[test]
fn a_dojah_record_becomes_the_common_profile() {
    let answer = json!({"entity": {"bvn": BVN, "first_name": "JOHN", "last_name": "DOE",
        "middle_name": "AHMED", "gender": "Male", "date_of_birth": "1997-05-16",
        "phone_number1": "08012345678", "image": "BASE 64", "phone_number2": "08012345678",
        "nin": "", "watch_listed": "NO"}});
    let Ok(Reply::Data(data)) = dojah().read(&bvn(BVN), &raw(200, &answer)) else {
        panic!()
    };
    let p = checked_profile(&bvn(BVN), &data).unwrap();
    assert_eq!(p["fullname"], "JOHN AHMED DOE");
    assert_eq!(p["gender"], "M");
    assert_eq!(p["phone"], json!(["08012345678"]));
    assert!(p.get("photo").is_none());
    // A NIN record whose `nin` is empty names nobody else.
    let nin = OkraJob::new("nin_verify", &[("nin", "70123456789")]).unwrap();
    let Ok(Reply::Data(data)) = dojah().read(&nin, &raw(200, &answer)) else {
        panic!()
    };
    assert!(checked_profile(&nin, &data).is_ok());
}

#[test]
fn hostile_answers_are_classified_never_a_panic() {
    let job = bvn(BVN);
    let bodies: Vec<(u16, Vec<u8>)> = vec![
        (200, b"<html>oops</html>".to_vec()),
        (200, b"".to_vec()),
        (200, b"[1,2,3]".to_vec()),
        (200, br#"{"response_code":"00"}"#.to_vec()),
        (
            200,
            br#"{"response_code":"00","data":{"firstName":["A"]}}"#.to_vec(),
        ),
        (
            200,
            br#"{"response_code":"00","data":{"phoneNumber":{}}}"#.to_vec(),
        ),
        (200, br#"{"response_code":{"x":1}}"#.to_vec()),
        (200, br#"{"entity":"text"}"#.to_vec()),
        (200, br#"{"entity":{"first_name":7,"bvn":[1]}}"#.to_vec()),
        (200, br#"{"hello":1}"#.to_vec()),
        (502, b"<h1>Bad Gateway</h1>".to_vec()),
        (200, "[".repeat(100_000).into_bytes()),
    ];
    for (status, body) in bodies {
        let r = Raw {
            status,
            retry_after: None,
            body,
        };
        for reader in [&prembly(false) as &dyn Provider, &dojah()] {
            match reader.read(&job, &r) {
                Ok(Reply::Data(data)) => {
                    // Whatever passes the reader must still pass the profile check.
                    let _ = checked_profile(&job, &data);
                }
                Ok(Reply::NoContent) => {}
                Err(e) => {
                    let (je, _) = Classifier::default().job_error(&e, &Delays::default());
                    assert!(!je.class().is_empty());
                    if status == 200 {
                        assert!(
                            matches!(e, OkraError::BadBody { .. } | OkraError::Api { .. }),
                            "{e:?}"
                        );
                    }
                }
            }
        }
    }
    // Wrong types in a record are a changed shape: unreadable, as Okra's.
    let bad = prembly(false).read(
        &job,
        &raw(
            200,
            &json!({"response_code": "00", "data": {"firstName": ["A"]}}),
        ),
    );
    assert_eq!(class_of(bad).0, "malformed_body");
}

#[test]
fn okra_reads_as_its_client_does() {
    let okra = super::okra::Okra::new(Secret::new("sk"), Default::default());
    let r = raw(
        200,
        &json!({"status": "error", "type": "FLAGGED_USER", "message": "flagged"}),
    );
    assert_eq!(class_of(okra.read(&bvn(BVN), &r)).0, "flagged_user");
    let empty = Raw {
        status: 204,
        retry_after: None,
        body: vec![],
    };
    assert_eq!(okra.read(&bvn(BVN), &empty).unwrap(), Reply::NoContent);
    assert!(okra.lookup(&bvn(BVN)).is_some());
}

#[test]
fn requests_carry_their_headers_and_show_no_value() {
    let r = prembly(false).request(&bvn(BVN)).unwrap();
    assert_eq!((r.method, r.path.as_str()), (Method::Post, "/bvn/"));
    assert_eq!(r.body.as_ref().unwrap()["number"], BVN);
    assert_eq!(r.headers[0].0, "X-API-Key");
    let r = dojah().request(&bvn(BVN)).unwrap();
    assert_eq!(
        (r.method, r.path.as_str()),
        (Method::Get, "/api/v1/kyc/bvn/full")
    );
    assert_eq!(r.query, vec![("bvn", BVN.to_string())]);
    let names: Vec<&str> = r.headers.iter().map(|(k, _)| *k).collect();
    assert_eq!(names, ["AppId", "Authorization"]);
    let shown = format!("{r:?} {:?}", prembly(false).request(&bvn(BVN)).unwrap());
    assert!(
        !shown.contains(BVN) && !shown.contains("sk") && !shown.contains("app\""),
        "{shown}"
    );
    let customer = OkraJob::new("customer_verify", &[("customer", "c1")]).unwrap();
    assert!(
        prembly(false)
            .request(&customer)
            .unwrap_err()
            .contains("does not sell customer_verify")
    );
    assert!(dojah().request(&customer).is_err());
}

#[test]
fn billing_rules_say_what_was_paid() {
    let p = prembly(false);
    let found = p.read(
        &bvn(BVN),
        &raw(
            200,
            &json!({"response_code": "00", "data": {"bvn": BVN, "firstName": "A"}}),
        ),
    );
    assert_eq!(charged(Billing::SuccessOnly, &found), Charged::Yes);
    let missing = p.read(&bvn(BVN), &raw(200, &json!({"response_code": "01"})));
    assert_eq!(charged(Billing::SuccessOnly, &missing), Charged::No);
    // The answer's own word decides over the table.
    let billed = p.read(
        &bvn(BVN),
        &raw(
            200,
            &json!({"response_code": "01", "billing_info": {"was_charged": true}}),
        ),
    );
    assert_eq!(charged(Billing::SuccessOnly, &billed), Charged::Yes);
    let flagged = dojah().read(
        &bvn(BVN),
        &raw(
            200,
            &json!({"entity": {"bvn": BVN, "first_name": "A", "watch_listed": "YES"}}),
        ),
    );
    assert_eq!(charged(Billing::SuccessOnly, &flagged), Charged::Yes);
    let refused = dojah().read(&bvn(BVN), &raw(400, &json!({"error": "Invalid"})));
    assert_eq!(charged(Billing::SuccessOnly, &refused), Charged::No);
    assert_eq!(charged(Billing::FailuresToo, &refused), Charged::Yes);
    let cut = Err(OkraError::Transport {
        timeout: true,
        connect: false,
        message: "timed out".into(),
    });
    assert_eq!(charged(Billing::SuccessOnly, &cut), Charged::Unknown);
}

#[test]
fn the_docs_hold_each_providers_table() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/providers.md"))
        .expect("docs/providers.md");
    for s in PROVIDERS.iter().filter(|s| !s.table.is_empty()) {
        let table = docs_table(s);
        assert!(
            docs.contains(&table),
            "docs/providers.md differs from okra::providers::{}::TABLE; it should read:\n{table}",
            s.name
        );
    }
}

fn settings(toml: &str) -> ProviderSettings {
    use figment::providers::Format as _;
    figment::Figment::from(figment::providers::Toml::string(toml))
        .extract_inner("provider")
        .unwrap()
}

#[test]
fn settings_read_the_issues_shape_and_say_each_problem_once() {
    let s = settings(
        r#"
        [provider]
        order = ["prembly", "dojah"]
        [provider.prembly]
        base_url = "http://127.0.0.1:9/api/v1/verification/api/"
        uncertain = "retry"
        price = { bvn_verify = 100, nin_verify = 80.5 }
        [provider.dojah]
        base_url = "http://127.0.0.1:9"
        "#,
    );
    assert_eq!(s.order(), ["prembly", "dojah"]);
    assert_eq!(s.conf("prembly").uncertain, Uncertain::Retry);
    assert_eq!(s.conf("dojah").uncertain, Uncertain::Hold);
    assert_eq!(s.conf("prembly").price["bvn_verify"], 100.0);
    assert_eq!(
        s.base_url("prembly"),
        "http://127.0.0.1:9/api/v1/verification/api"
    );
    let all = |k: &str| {
        ["PREMBLY_API_KEY", "DOJAH_APP_ID", "DOJAH_SECRET_KEY"]
            .contains(&k)
            .then(|| "secret-value".to_string())
    };
    assert_eq!(s.validate(&["bvn_verify"], &all), Vec::<String>::new());
    let route = s
        .build(&crate::okra::OkraSettings::default(), &all)
        .unwrap();
    let callers = route.callers();
    assert_eq!(
        callers.iter().map(Caller::name).collect::<Vec<_>>(),
        ["prembly", "dojah"]
    );
    assert!(!format!("{callers:?}").contains("secret-value"));
    let none = |_: &str| None;
    let problems = s.validate(&["bvn_verify", "customer_verify"], &none);
    assert_eq!(
        problems,
        [
            "provider prembly: PREMBLY_API_KEY is not set or not a valid header value (export it; any non-empty value works with `okra-sandbox --provider prembly`)",
            "provider dojah: DOJAH_APP_ID is not set or not a valid header value (export it; any non-empty value works with `okra-sandbox --provider dojah`)",
            "provider dojah: DOJAH_SECRET_KEY is not set or not a valid header value (export it; any non-empty value works with `okra-sandbox --provider dojah`)",
            "customer_verify: no provider of provider.order (prembly, dojah) sells it",
        ]
    );
    let bad = settings(
        r#"
        [provider]
        order = ["smile", "dojah", "dojah"]
        [provider.mono]
        [provider.dojah]
        price = { customer_verify = 1 }
        "#,
    );
    let problems = bad.validate(&[], &all);
    assert_eq!(
        problems,
        [
            "provider.order: unknown provider `smile` (expected okra, prembly, dojah)",
            "provider.order: `dojah` is listed twice",
            "provider.dojah.price.customer_verify: dojah does not sell customer_verify (it sells bvn_verify, nin_verify, nuban_verify, nuban_name_verify, rc_verify, tin_verify)",
            "[provider.mono]: unknown provider (expected okra, prembly, dojah)",
        ]
    );
    // Unknown keys are refused by serde, with the key's name.
    use figment::providers::Format as _;
    let e = figment::Figment::from(figment::providers::Toml::string(
        "[provider.prembly]\nbase_ur = \"x\"\n",
    ))
    .extract_inner::<ProviderSettings>("provider")
    .unwrap_err();
    assert!(e.to_string().contains("base_ur"), "{e}");
    // No section: Okra alone, as today.
    assert_eq!(ProviderSettings::default().order(), ["okra"]);
    // A secret with a line break cannot become a header: refused at start-up.
    let broken = |k: &str| (k == "OKRA_SECRET_KEY").then(|| "a\nb".to_string());
    assert_eq!(ProviderSettings::default().validate(&[], &broken).len(), 1);
}

#[test]
fn only_a_certain_try_later_lets_the_next_provider_take_over() {
    let job = bvn(BVN);
    let p = prembly(false);
    let read = |status, body: Value| p.read(&job, &raw(status, &body));
    assert!(certainly_unavailable(&read(
        200,
        json!({"response_code": "02"})
    )));
    assert!(certainly_unavailable(
        &dojah().read(&job, &raw(424, &json!({"error": "NIBSS down"})))
    ));
    let refused = Err(OkraError::Transport {
        timeout: false,
        connect: true,
        message: "connection refused".into(),
    });
    assert!(certainly_unavailable(&refused));
    // May have been done and charged: stays with this provider.
    let cut = Err(OkraError::Transport {
        timeout: true,
        connect: false,
        message: "timed out".into(),
    });
    assert!(!certainly_unavailable(&cut));
    assert!(!certainly_unavailable(&read(
        503,
        json!({"detail": "unavailable"})
    )));
    assert!(!certainly_unavailable(&read(
        200,
        json!({"response_code": "01"})
    )));
    assert!(!certainly_unavailable(&read(
        500,
        json!({"response_code": "99"})
    )));
}
