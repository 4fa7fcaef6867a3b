//! Match requests end to end (issue 28): a job that carries what the customer typed completes,
//! through the real `okra-worker` and `okra-sandbox`, with the decision and each field's
//! verdict; with `[match] keep_profile = false` nothing of the person is left at rest.

use std::collections::BTreeSet;

use okra_queue::okra::MatchRequest;
use serde_json::{Value, json};

use super::seal_kit::{
    CANARY, everything_in_redis, files_under, key_file, key_line, persisting_redis, sealed_env,
    sealed_queue,
};
use super::*;
use crate::common::cli::{admin, admin_with_stdin};

/// What okra-sandbox holds about an identifier (its `fn profile`, src/bin/okra-sandbox).
struct Person {
    first: &'static str,
    last: &'static str,
    /// `19YY-0M-1D`.
    dob: String,
    gender: &'static str,
    /// `23470XXXXXXXX`.
    phone: String,
}

fn sandbox_person(identifier: &str) -> Person {
    const FIRST: [&str; 8] = [
        "GAVIN", "ADAEZE", "TUNDE", "NGOZI", "EMEKA", "FUNMI", "BAYO", "CHIOMA",
    ];
    const LAST: [&str; 8] = [
        "BELSON", "OKAFOR", "ADEYEMI", "EZE", "BALOGUN", "NWOSU", "BELLO", "ADEBAYO",
    ];
    let seed: usize = identifier.bytes().map(usize::from).sum();
    Person {
        first: FIRST[seed % 8],
        last: LAST[(seed / 8) % 8],
        dob: format!("19{:02}-0{}-1{}", 60 + seed % 40, 1 + seed % 9, seed % 10),
        gender: if seed % 2 == 0 { "M" } else { "F" },
        phone: format!("23470{:08}", seed * 7919 % 100_000_000),
    }
}

/// BVNs from `from` on whose sandbox person has a surname of six letters or more (so one
/// swapped pair of letters is a partial, 0.83 or more), each a different person.
fn bvns_with_long_surnames(from: u64, n: usize) -> Vec<String> {
    (from..)
        .map(|i| format!("{i:011}"))
        .filter(|b| sandbox_person(b).last.len() >= 6)
        .take(n)
        .collect()
}

impl Person {
    /// As a customer types it: `Gavin`, `Belson`.
    fn typed(name: &str) -> String {
        let lower = name.to_lowercase();
        let mut c = lower.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default()
    }

    /// The date as `14-Mar-1975` (the record says `1975-03-14`).
    fn dob_typed(&self, year_shift: i32) -> String {
        const MON: [&str; 9] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
        ];
        let (y, m, d) = (&self.dob[..4], &self.dob[5..7], &self.dob[8..10]);
        let year: i32 = y.parse::<i32>().unwrap() + year_shift;
        format!("{d}-{}-{year}", MON[m.parse::<usize>().unwrap() - 1])
    }

    /// The phone as `+234 70X XXX XXXX` (the record says `23470XXXXXXXX`).
    fn phone_typed(&self) -> String {
        let p = &self.phone[3..];
        format!("+234 {} {} {}", &p[..3], &p[3..6], &p[6..])
    }

    /// Everything the customer could type right.
    fn request(&self) -> MatchRequest {
        MatchRequest {
            first_name: Some(Self::typed(self.first)),
            last_name: Some(Self::typed(self.last)),
            date_of_birth: Some(self.dob_typed(0)),
            phone: Some(self.phone_typed()),
            gender: Some(if self.gender == "M" { "Male" } else { "Female" }.into()),
            ..MatchRequest::default()
        }
    }

    /// The strings of this person that must never be readable: names (5 letters or more, so
    /// random base64 cannot hold them by chance) as the record and the customer write them,
    /// the date and the phone in every form used.
    fn secrets(&self, bvn: &str, into: &mut BTreeSet<String>) {
        for name in [self.first, self.last] {
            if name.len() >= 5 {
                into.insert(name.to_string());
                into.insert(Self::typed(name));
            }
        }
        into.insert(format!("{} {}", self.first, self.last));
        into.insert(self.dob.clone());
        into.insert(self.dob_typed(0));
        into.insert(self.phone.clone());
        into.insert(self.phone[3..].to_string());
        into.insert(self.phone_typed());
        into.insert(bvn.to_string());
    }
}

/// The surname with two letters in its middle swapped: one edit.
fn one_typo(surname: &str) -> String {
    let mut c: Vec<char> = Person::typed(surname).chars().collect();
    c.swap(2, 3);
    c.into_iter().collect()
}

fn job_with(bvn: &str, request: MatchRequest) -> OkraJob {
    OkraJob::new("bvn_verify", &[("bvn", bvn)])
        .and_then(|j| j.with_match(request))
        .unwrap()
}

fn match_of(r: &JobRecord) -> Value {
    assert_eq!(r.state, JobState::Completed, "{r:#?}");
    r.result.as_ref().unwrap()["match"].clone()
}

#[tokio::test]
async fn match_requests_complete_with_their_decision_through_the_worker_and_the_sandbox() {
    let server = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::start(dir.path(), &[]);
    let queue = producer(&server, "match").await;
    let spec = WorkerSpec {
        queue: "match",
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);
    let bvns = bvns_with_long_surnames(22_270_000_000, 4);
    let people: Vec<Person> = bvns.iter().map(|b| sandbox_person(b)).collect();

    // Everything right (through the library), in the customer's spelling and formats.
    let matching = enqueue(&queue, job_with(&bvns[0], people[0].request())).await;
    // A one-letter typo in the surname (through `okra-admin enqueue` and its flags).
    let p = &people[1];
    let gender = if p.gender == "M" { "male" } else { "female" };
    let partial = admin(
        &server,
        "match",
        &[
            "enqueue",
            "bvn_verify",
            "--bvn",
            &bvns[1],
            "--match-first-name",
            &Person::typed(p.first),
            "--match-last-name",
            &one_typo(p.last),
            "--match-dob",
            &p.dob,
            "--match-phone",
            &format!("0{}", &p.phone[3..]),
            "--match-gender",
            gender,
        ],
    )
    .ok()
    .out
    .trim()
    .to_string();
    // Another date of birth (a line of `okra-admin enqueue --file -`).
    let mut other = people[2].request();
    other.date_of_birth = Some(people[2].dob_typed(1));
    let line = json!({"kind": "bvn_verify", "bvn": bvns[2], "match": other});
    let filed = admin_with_stdin(
        &server,
        "match",
        &["--json", "enqueue", "--file", "-"],
        &format!("{line}\n"),
    )
    .ok()
    .json();
    let no_match = filed["ids"][0].as_str().unwrap().to_string();
    // A NIN job asks too.
    let nin = "33270001234";
    let by_nin = enqueue(
        &queue,
        OkraJob::new("nin_verify", &[("nin", nin)])
            .and_then(|j| {
                j.with_match(MatchRequest {
                    last_name: Some(Person::typed(sandbox_person(nin).last)),
                    ..MatchRequest::default()
                })
            })
            .unwrap(),
    )
    .await;
    let log = || worker.log_text();

    let r = finished(&queue, &matching, &log()).await;
    let m = match_of(&r);
    assert_eq!(m["decision"], "match", "{m}");
    for field in [
        "first_name",
        "last_name",
        "date_of_birth",
        "phone",
        "gender",
    ] {
        assert_eq!(m["fields"][field]["status"], "match", "{field}: {m}");
    }
    let profile = &r.result.as_ref().unwrap()["profile"];
    assert_eq!(
        profile["lastname"], people[0].last,
        "keep_profile is on by default"
    );

    let m = match_of(&finished(&queue, &partial, &log()).await);
    assert_eq!(m["decision"], "review", "{m}");
    assert_eq!(m["fields"]["last_name"]["status"], "partial", "{m}");
    let score = m["fields"]["last_name"]["score"].as_f64().unwrap();
    assert!((0.8..0.95).contains(&score), "{m}");
    for field in ["first_name", "date_of_birth", "phone", "gender"] {
        assert_eq!(m["fields"][field]["status"], "match", "{field}: {m}");
    }

    let m = match_of(&finished(&queue, &no_match, &log()).await);
    assert_eq!(m["decision"], "no_match", "{m}");
    assert_eq!(m["fields"]["date_of_birth"]["status"], "no_match", "{m}");
    assert_eq!(m["fields"]["last_name"]["status"], "match", "{m}");

    let m = match_of(&finished(&queue, &by_nin, &log()).await);
    assert_eq!(
        m,
        json!({"decision": "match", "fields": {"last_name": {"status": "match", "score": 1.0}}})
    );

    // The answer never quotes what was typed; nor do the logs.
    let text = serde_json::to_string(&m).unwrap();
    for p in &people {
        assert!(!text.contains(&Person::typed(p.last)));
    }
    let mut secrets = BTreeSet::new();
    for (b, p) in bvns.iter().zip(&people) {
        p.secrets(b, &mut secrets);
    }
    let logs = log();
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|s| logs.contains(s.as_str()))
        .collect();
    assert!(leaked.is_empty(), "in the worker's log: {leaked:?}");

    // A request okra-admin refuses names the field and the rule, never the value.
    let refused = admin(
        &server,
        "match",
        &[
            "enqueue",
            "bvn_verify",
            "--bvn",
            &bvns[3],
            "--match-dob",
            "31/02/1985",
        ],
    );
    assert_ne!(refused.code, 0);
    assert!(
        refused.err.contains("match.date_of_birth is not a date"),
        "{}",
        refused.err
    );
    assert!(!refused.err.contains("1985"), "{}", refused.err);
}

#[tokio::test]
async fn with_keep_profile_off_nothing_of_the_person_is_at_rest_after_the_job() {
    let server = persisting_redis();
    let dir = tempfile::tempdir().unwrap();
    let keys = key_file(dir.path(), "keys", &[key_line("k1")]);
    let sandbox = Sandbox::start(dir.path(), &[]);
    // Sealing on (what the customer typed is sealed with the payload), reuse on (a paid
    // profile would otherwise be stored for reuse), keep_profile off.
    let queue = sealed_queue(&server, "private", Some(&keys)).await;
    let mut env = sealed_env(Some(&keys));
    env.push(("OKQ_MATCH__KEEP_PROFILE", "false".into()));
    let spec = WorkerSpec {
        queue: "private",
        env,
        ..WorkerSpec::default()
    };
    let worker = start_worker(dir.path(), 1, &server.url(), &sandbox.url, &spec);

    let bvns = bvns_with_long_surnames(22_280_000_000, 3);
    let people: Vec<Person> = bvns.iter().map(|b| sandbox_person(b)).collect();
    let mut typo = people[1].request();
    typo.last_name = Some(one_typo(people[1].last));
    let mut other = people[2].request();
    other.date_of_birth = Some(people[2].dob_typed(-1));
    let mut ids = Vec::new();
    for (bvn, request) in bvns.iter().zip([people[0].request(), typo, other]) {
        ids.push(enqueue(&queue, job_with(bvn, request)).await);
    }
    // The same person again, once the first answer is in: paid again, as nothing was kept.
    finished(&queue, &ids[0], &worker.log_text()).await;
    ids.push(enqueue(&queue, job_with(&bvns[0], people[0].request())).await);

    let mut secrets = BTreeSet::new();
    for (b, p) in bvns.iter().zip(&people) {
        p.secrets(b, &mut secrets);
    }
    let mut decisions = Vec::new();
    for id in &ids {
        // Read as the app reads it (opened with the keys): the answer, not the profile.
        let r = finished(&queue, id, &worker.log_text()).await;
        let result = r.result.clone().unwrap();
        decisions.push(result["match"]["decision"].as_str().unwrap().to_string());
        assert!(result["profile"].is_null(), "{result}");
        let text = result.to_string();
        let upper = text.to_uppercase();
        let kept: Vec<&String> = secrets
            .iter()
            .filter(|s| upper.contains(&s.to_uppercase()))
            .collect();
        assert!(kept.is_empty(), "the result keeps {kept:?}: {text}");
    }
    assert_eq!(decisions, ["match", "review", "no_match", "match"]);
    assert_eq!(
        sandbox.calls("bvn-verify", &bvns[0]).await,
        2,
        "no profile in the reuse store to reuse"
    );

    // At rest: no reuse entry at all, and none of the person's strings in any Redis value,
    // the RDB or the AOF.
    let reuse = redis_cli(server.port, &["KEYS", "*reuse:*"]);
    assert!(reuse.trim().is_empty(), "the reuse store holds {reuse}");
    let stored = everything_in_redis(&server).await;
    assert!(stored.contains(CANARY), "the search sees plain values");
    redis_cli(server.port, &["SAVE"]);
    let files = files_under(server.dir());
    assert!(files.iter().any(|(p, _)| p.ends_with("dump.rdb")));
    assert!(
        files
            .iter()
            .any(|(p, t)| p.to_string_lossy().contains(".aof") && t.contains(CANARY)),
        "the AOF is searched"
    );
    let mut found = Vec::new();
    for s in &secrets {
        if stored.contains(s.as_str()) {
            found.push(format!("{s} in a Redis value"));
        }
        for (path, text) in &files {
            if text.contains(s.as_str()) {
                found.push(format!("{s} in {}", path.display()));
            }
        }
    }
    assert!(found.is_empty(), "readable at rest: {found:?}");
}
