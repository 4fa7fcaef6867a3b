//! The comparison, table by table, on real-shaped Nigerian names, dates and phones.

use serde_json::{Value, json};

use super::*;

use Decision::{Match as M, NoMatch as N, Review as R};

fn settings() -> MatchSettings {
    MatchSettings::default()
}

/// A request from the fields given (empty: not given).
fn request(fields: &[(&str, &str)]) -> MatchRequest {
    let map: Map<String, Value> = fields
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let r = MatchRequest::try_from(Value::Object(map)).unwrap();
    r.validate().unwrap();
    r
}

/// What the customer typed (first / middle / last) against what the record holds (Okra's
/// identity fields; a record written `*FULL NAME` has only a full name).
const NAMES: [([&str; 3], [&str; 3], Decision); 42] = [
    (["Gavin", "", "Belson"], ["GAVIN", "", "BELSON"], M),
    (
        ["Olúwaṣeun", "", "Adébáyọ̀"],
        ["OLUWASEUN", "", "ADEBAYO"],
        M,
    ),
    (
        [" oluwaseun  ", "", "  adebayo "],
        ["OLUWASEUN", "", "ADEBAYO"],
        M,
    ),
    (["Belson", "", "Gavin"], ["GAVIN", "", "BELSON"], M),
    (["Adaeze", "", "Ade-Ojo"], ["ADAEZE", "", "ADEOJO"], M),
    (["Adaeze", "", "Ade Ojo"], ["ADAEZE", "", "ADE-OJO"], M),
    (["Ya'u", "", "Bello"], ["YAU", "", "BELLO"], M),
    (["Gavin", "T.", "Belson"], ["GAVIN", "TUNDE", "BELSON"], M),
    (["G.", "", "Belson"], ["GAVIN", "", "BELSON"], M),
    (["Mohammed", "", "Bello"], ["MUHAMMAD", "", "BELLO"], M),
    (["Ibraheem", "", "Musa"], ["IBRAHIM", "", "MUSA"], M),
    (["Aishat", "", "Abubakr"], ["AISHA", "", "ABUBAKAR"], M),
    (["Micheal", "", "Okonkwo"], ["MICHAEL", "", "OKONKWO"], M),
    (["Chukwuemeka", "", "Obi"], ["CHUKWU EMEKA", "", "OBI"], M),
    (
        ["Alhaji Usman", "", "Danjuma"],
        ["UTHMAN", "", "DANJUMA"],
        M,
    ),
    (["Ɗanjuma", "", "Ƙabir"], ["DANJUMA", "", "KABIR"], M),
    (
        ["Gavin Tunde", "", "Belson"],
        ["GAVIN", "TUNDE", "BELSON"],
        M,
    ),
    (["Ụchechukwu", "", "Nwọsu"], ["UCHECHUKWU", "", "NWOSU"], M),
    (["Fatimah", "", "Sulaiman"], ["FATIMA", "", "SULEIMAN"], M),
    (["Khadijat", "", "Yusuff"], ["HADIZA", "", "YUSUF"], M),
    (["Gavin", "", "Belson"], ["*GAVIN BELSON", "", ""], M),
    (
        ["Dr. Ngozi", "", "Okonjo-Iweala"],
        ["NGOZI", "", "OKONJO IWEALA"],
        M,
    ),
    (
        ["Funmilayo", "Ọlábísí", "Ransome-Kuti"],
        ["FUNMILAYO", "OLABISI", "RANSOME KUTI"],
        M,
    ),
    (["Ngozi", "", "Okafur"], ["NGOZI", "", "OKAFOR"], R),
    (["Tunde", "", "Adeyami"], ["TUNDE", "", "ADEYEMI"], R),
    (["Emeka", "", "Nwachuku"], ["EMEKA", "", "NWACHUKWU"], R),
    (["Chinedu", "", "Balogon"], ["CHINEDU", "", "BALOGUN"], R),
    (["Gavin", "", "Bellson"], ["GAVIN", "", "BELSON"], R),
    (["Ngzoi", "", "Eze"], ["NGOZI", "", "EZE"], R),
    (["Olumide", "", "Bello"], ["OLAMIDE", "", "BELLO"], R),
    (["Gavin", "Tunde", "Belson"], ["GAVIN", "", "BELSON"], R),
    (["Adebola", "", "Okafor"], ["ADEBAYO", "", "OKAFOR"], N),
    (["Oluwaseyi", "", "Bello"], ["OLUWASEUN", "", "BELLO"], N),
    (["Tunji", "", "Bello"], ["TUNDE", "", "BELLO"], N),
    (["Babatunji", "", "Bello"], ["BABATUNDE", "", "BELLO"], N),
    (["Kevin", "", "Belson"], ["GAVIN", "", "BELSON"], N),
    (["Gavin", "", "Smith"], ["GAVIN", "", "BELSON"], N),
    (["Gavin", "", "Gavin"], ["GAVIN", "", "BELSON"], N),
    (["Gavin", "Femi", "Belson"], ["GAVIN", "TUNDE", "BELSON"], N),
    (["Chidi", "", "Okonjo"], ["CHIDI", "", "OKONKWO"], N),
    (["Gavin", "", "Okafor"], ["*GAVIN BELSON", "", ""], N),
    (["Gavin Xavier", "", "Belson"], ["GAVIN", "", "BELSON"], N),
];

/// Dates of birth typed against the record's, in the providers' shapes.
const DATES: [(&str, &str, Status); 13] = [
    ("1979-09-27", "1979-09-27", Status::Match),
    ("27-Sep-1979", "1979-09-27", Status::Match),
    ("27-September-1979", "1979-09-27", Status::Match),
    ("27/09/1979", "27-Sep-1979", Status::Match),
    ("27/09/1979", "1979-09-27T00:00:00Z", Status::Match),
    ("1979-09-27", "27-09-1979", Status::Match),
    ("1979-09-27", "27-Sep-79", Status::Match),
    ("02-Aug-1904", "2-Aug-1904", Status::Match),
    ("1997-05-16", "16-May-1997", Status::Match),
    ("1979-09-28", "1979-09-27", Status::NoMatch),
    ("1980-09-27", "1979-09-27", Status::NoMatch),
    ("05/03/1980", "1980-05-03", Status::Partial),
    ("1979-09-27", "", Status::NotChecked),
];

/// Phones typed against the record's (Okra: a list; others: one or two numbers).
fn phones() -> Vec<(&'static str, Value, Status)> {
    vec![
        (
            "08031234567",
            json!({"phone": ["2348031234567"]}),
            Status::Match,
        ),
        (
            "+234 803 123 4567",
            json!({"phone": "08031234567"}),
            Status::Match,
        ),
        (
            "234-803-123-4567",
            json!({"phoneNumber": "+2348031234567"}),
            Status::Match,
        ),
        (
            "0803 123 4567",
            json!({"phoneNumber1": "07030500002", "phoneNumber2": "08031234567"}),
            Status::Match,
        ),
        (
            "08031234567",
            json!({"phone": [2348031234567_u64]}),
            Status::Match,
        ),
        (
            "08031234568",
            json!({"phone": ["08031234567"]}),
            Status::NoMatch,
        ),
        (
            "07031234567",
            json!({"phone": ["08031234567"]}),
            Status::NoMatch,
        ),
        ("08031234567", json!({"phone": []}), Status::NotChecked),
    ]
}

const GENDERS: [(&str, &str, Status); 5] = [
    ("M", "Male", Status::Match),
    ("female", "F", Status::Match),
    ("Male", "f", Status::NoMatch),
    ("F", "M", Status::NoMatch),
    ("F", "", Status::NotChecked),
];

fn record(names: [&str; 3]) -> Value {
    match names[0].strip_prefix('*') {
        Some(full) => json!({"fullname": full}),
        None => json!({"firstname": names[0], "middlename": names[1], "lastname": names[2]}),
    }
}

#[test]
fn names_dates_phones_and_genders_from_the_table() {
    let s = settings();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (typed, names, want) in NAMES {
        let r = request(&[
            ("first_name", typed[0]),
            ("middle_name", typed[1]),
            ("last_name", typed[2]),
        ]);
        let got = compare(&r, Some(&record(names)), &s);
        cases += 1;
        if got.decision != want {
            failures.push(format!("{typed:?} vs {names:?}: {got:?}"));
        }
    }
    for (typed, dob, want) in DATES {
        let profile = if dob.is_empty() {
            json!({})
        } else {
            json!({ "dob": dob })
        };
        let got = compare(&request(&[("date_of_birth", typed)]), Some(&profile), &s);
        cases += 1;
        if got.fields.date_of_birth.map(|f| f.status) != Some(want) {
            failures.push(format!("{typed} vs {dob}: {got:?}"));
        }
    }
    for (typed, profile, want) in phones() {
        let got = compare(&request(&[("phone", typed)]), Some(&profile), &s);
        cases += 1;
        if got.fields.phone.map(|f| f.status) != Some(want) {
            failures.push(format!("{typed} vs {profile}: {got:?}"));
        }
    }
    for (typed, recorded, want) in GENDERS {
        let got = compare(
            &request(&[("gender", typed)]),
            Some(&json!({ "gender": recorded })),
            &s,
        );
        cases += 1;
        if got.fields.gender.map(|f| f.status) != Some(want) {
            failures.push(format!("{typed} vs {recorded}: {got:?}"));
        }
    }
    assert!(cases >= 60, "{cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_one_letter_typo_is_partial_with_its_score() {
    let r = request(&[("first_name", "Ngozi"), ("last_name", "Okafur")]);
    let a = compare(&r, Some(&record(["NGOZI", "", "OKAFOR"])), &settings());
    assert_eq!(a.decision, Decision::Review);
    let last = a.fields.last_name.unwrap();
    assert_eq!((last.status, last.score), (Status::Partial, Some(0.83)));
    assert_eq!(a.fields.first_name.unwrap().status, Status::Match);
    // The result says how each field fared, never what it holds.
    let text = serde_json::to_string(&a).unwrap();
    assert_eq!(
        text,
        r#"{"decision":"review","fields":{"first_name":{"status":"match","score":1.0},"last_name":{"status":"partial","score":0.83}}}"#
    );
}

#[test]
fn a_whole_request_against_an_okra_profile() {
    // The shape okra-sandbox (and Okra's documents) answer with.
    let profile = json!({
        "fullname": "GAVIN BELSON", "firstname": "GAVIN", "middlename": "", "lastname": "BELSON",
        "dob": "1979-09-27", "gender": "M", "phone": ["2347088793567"],
    });
    let typed = |last: &str, dob: &str| {
        request(&[
            ("first_name", "Gavin"),
            ("last_name", last),
            ("date_of_birth", dob),
            ("phone", "+234 708 879 3567"),
            ("gender", "Male"),
        ])
    };
    let s = settings();
    let decide = |r: MatchRequest| compare(&r, Some(&profile), &s).decision;
    assert_eq!(decide(typed("Belson", "27-Sep-1979")), Decision::Match);
    assert_eq!(decide(typed("Belsen", "27/09/1979")), Decision::Review);
    assert_eq!(decide(typed("Belson", "28/09/1979")), Decision::NoMatch);
    // No profile (a 204: an account with no BVN attached): nothing could be checked.
    let none = compare(&typed("Belson", "1979-09-27"), None, &s);
    assert_eq!(none.decision, Decision::Review);
    assert_eq!(none.fields.phone.unwrap().status, Status::NotChecked);
}

#[test]
fn thresholds_come_from_the_settings() {
    let r = request(&[("last_name", "Okafur")]);
    let p = record(["NGOZI", "", "OKAFOR"]);
    let strict = MatchSettings {
        partial_threshold: 0.9,
        ..settings()
    };
    assert_eq!(compare(&r, Some(&p), &strict).decision, Decision::NoMatch);
    let lenient = MatchSettings {
        match_threshold: 0.8,
        ..settings()
    };
    assert_eq!(compare(&r, Some(&p), &lenient).decision, Decision::Match);
    assert!(
        MatchSettings {
            partial_threshold: 0.99,
            ..settings()
        }
        .validate()
        .unwrap_err()
        .contains("partial_threshold")
    );
    settings().validate().unwrap();
}

#[test]
fn a_providers_own_verdicts_map_onto_the_same_answer() {
    // Dojah's BVN validation: a status and a confidence (0-100) per field.
    let dojah = json!({"entity": {
        "bvn": {"value": "22234567890", "status": true},
        "first_name": {"confidence_value": 100, "status": true},
        "last_name": {"confidence_value": 86, "status": false},
        "date_of_birth": {"status": true},
    }});
    let s = settings();
    let field = |name: &str| {
        let f = &dojah["entity"][name];
        FieldResult::from_provider(
            f["status"].as_bool().unwrap_or(false),
            f["confidence_value"].as_f64().map(|c| c / 100.0),
            &s,
        )
    };
    let answer = MatchAnswer::decide(MatchFields {
        first_name: Some(field("first_name")),
        last_name: Some(field("last_name")),
        date_of_birth: Some(field("date_of_birth")),
        ..MatchFields::default()
    });
    assert_eq!(answer.decision, Decision::Review);
    assert_eq!(answer.fields.last_name.unwrap().status, Status::Partial);
    assert_eq!(
        FieldResult::from_provider(false, Some(0.4), &s).status,
        Status::NoMatch
    );
}

#[test]
fn requests_are_refused_by_field_and_rule_never_by_value() {
    let refuse = |v: Value| -> String {
        match MatchRequest::try_from(v) {
            Err(e) => e,
            Ok(r) => r.validate().unwrap_err(),
        }
    };
    let cases = [
        (json!({}), "match needs at least one of"),
        (json!({"first_name": "  "}), "match needs at least one of"),
        (
            json!({"date_of_birth": "31/02/1985"}),
            "match.date_of_birth is not a date",
        ),
        (
            json!({"date_of_birth": "09/27/1985"}),
            "match.date_of_birth is not a date",
        ),
        (
            json!({"phone": "+447911123456"}),
            "match.phone is not a Nigerian phone number",
        ),
        (
            json!({"phone": 8031234567_u64}),
            "invalid type: not text, expected text for match.phone",
        ),
        (
            json!({"gender": "Mle"}),
            "match.gender must be M, F, Male or Female",
        ),
        (
            json!({"last_name": "1234"}),
            "match.last_name has no letters",
        ),
        (
            json!({"last_name": "B".repeat(101)}),
            "match.last_name is longer than 100 characters",
        ),
        (
            json!({"surname": "Belson"}),
            "unknown field `surname` in `match`",
        ),
        (
            json!("Gavin Belson"),
            "invalid type: not an object, expected an object for `match`",
        ),
    ];
    for (value, want) in cases {
        let got = refuse(value.clone());
        assert!(got.starts_with(want), "{value}: {got}");
        for secret in ["Belson", "1985", "7911", "8031234567", "Mle", "1234"] {
            assert!(!got.contains(secret), "{got}");
        }
    }
    let r = request(&[("last_name", "Belson"), ("phone", "08031234567")]);
    assert_eq!(
        format!("{r:?}"),
        r#"MatchRequest { given: ["last_name", "phone"] }"#
    );
}

#[test]
fn jobs_carry_the_request_in_their_wire_format() {
    use crate::job::Job;
    use crate::okra::OkraJob;
    let line = json!({"kind": "nuban_verify", "nuban": "0123456789", "bank": "b1",
        "match": {"last_name": "Belson", "date_of_birth": "27/09/1979"}});
    let job = OkraJob::from_json(line.clone()).unwrap();
    assert_eq!(serde_json::to_value(&job).unwrap(), line, "round trip");
    assert_eq!(
        job.match_request().unwrap().last_name.as_deref(),
        Some("Belson")
    );
    assert!(
        !job.body().to_string().contains("Belson"),
        "not sent to Okra"
    );
    let plain = OkraJob::from_json(json!({"kind": "bvn_verify", "bvn": "22234567890"})).unwrap();
    assert!(plain.match_request().is_none());
    assert!(
        !serde_json::to_string(&plain).unwrap().contains("match"),
        "a job without one is written as before"
    );
    let e = OkraJob::from_json(json!({"kind": "bvn_verify", "bvn": "22234567890",
        "match": {"date_of_birth": "1985-02-30"}}))
    .unwrap_err();
    assert!(e.contains("match.date_of_birth is not a date"), "{e}");
    assert!(!e.contains("1985"), "{e}");
    let e = OkraJob::from_json(json!({"kind": "bvn_verify", "bvn": "22234567890",
        "match": {"phone": 8031234567_u64}}))
    .unwrap_err();
    assert_eq!(
        e,
        "a value of the wrong type (expected text for match.phone)"
    );
    let e = OkraJob::from_json(json!({"kind": "rc_verify", "rc_number": "RC1",
        "company_name": "Acme", "match": {"last_name": "Belson"}}))
    .unwrap_err();
    assert!(e.starts_with("unknown field"), "{e}");
    assert!(job.validate().is_ok());
}

#[test]
fn the_readme_example_answers_as_the_readme_says() {
    let r = request(&[
        ("first_name", "Olúwaseun"),
        ("last_name", "Adeboyo"),
        ("middle_name", "F."),
        ("date_of_birth", "27/09/1979"),
        ("phone", "+234 803 123 4567"),
        ("gender", "Female"),
    ]);
    let profile = json!({"firstname": "OLUWASEUN", "middlename": "FUNMILAYO",
        "lastname": "ADEBAYO", "dob": "1979-09-27", "phone": ["2348031234567"], "gender": "F"});
    let answer = serde_json::to_value(compare(&r, Some(&profile), &settings())).unwrap();
    let one = json!({"status": "match", "score": 1.0});
    assert_eq!(
        answer,
        json!({"decision": "review", "fields": {"first_name": one,
            "last_name": {"status": "partial", "score": 0.86}, "middle_name": one,
            "date_of_birth": one, "phone": one, "gender": one}})
    );
}
