//! `make bench`, match requests: what the comparison costs a worker per job, for a typical
//! 6-field request (first, middle and last name, date of birth, phone, gender) against an
//! Okra-shaped profile, measured in this process (the rest of a job is in `benches/okra.rs`).
//! Three requests: everything right but written as customers write it (accents, another
//! order, other date and phone formats), a one-letter typo (a partial), and another person;
//! then what the worker does per job (the comparison and the result without the profile,
//! `keep_profile = false`), and the check at enqueue.
//!
//! Knob (environment): `BENCH_MATCH_N` (comparisons per round, default 100000; 5 rounds, the
//! median is printed).

use std::hint::black_box;
use std::time::Instant;

use okra_queue::okra::matching::compare;
use okra_queue::okra::{MatchRequest, MatchSettings, OkraResult};
use serde_json::json;

fn request(first: &str, middle: &str, last: &str, dob: &str, phone: &str) -> MatchRequest {
    MatchRequest {
        first_name: Some(first.into()),
        middle_name: Some(middle.into()),
        last_name: Some(last.into()),
        date_of_birth: Some(dob.into()),
        phone: Some(phone.into()),
        gender: Some("Female".into()),
    }
}

/// Nanoseconds per call of `f`: the median of 5 rounds of `n` calls.
fn ns_per_call(n: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..n {
                f();
            }
            started.elapsed().as_nanos() as f64 / n as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[2]
}

fn main() {
    let n: usize = std::env::var("BENCH_MATCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let profile = json!({
        "id": "5da6000000000000000000544", "fullname": "OLUWASEUN ADEBAYO-OGUNLESI",
        "firstname": "OLUWASEUN", "middlename": "FUNMILAYO", "lastname": "ADEBAYO-OGUNLESI",
        "bvn": "22234567890", "dob": "27-Sep-1979", "gender": "F",
        "phone": ["2348031234567", "07030500002"], "email": [],
        "address": ["4 AKANNI BASHORUN, LEKKI LAGOS"], "verified": true,
    });
    let settings = MatchSettings::default();
    let cases = [
        (
            "match",
            request(
                "Olúwaṣeun",
                "F.",
                "Adébáyọ̀ Ogunlesi",
                "1979-09-27",
                "+234 803 123 4567",
            ),
        ),
        (
            "review",
            request(
                "Oluwaseun",
                "Funmilayo",
                "Adebayo-Ogunlsei",
                "27/09/1979",
                "0803-123-4567",
            ),
        ),
        (
            "no_match",
            request("Adaeze", "Ngozi", "Okafor", "1985-01-12", "08099999999"),
        ),
    ];
    println!(
        "match requests: the comparison per job (6 fields, Okra-shaped profile), {n} per round"
    );
    for (want, r) in &cases {
        let answer = compare(r, Some(&profile), &settings);
        assert_eq!(
            serde_json::to_value(answer.decision).unwrap(),
            json!(want),
            "{answer:?}"
        );
        let ns = ns_per_call(n, || {
            black_box(compare(black_box(r), Some(black_box(&profile)), &settings));
        });
        println!("  compare, decision {want:<8}  {ns:>8.0} ns per comparison");
    }
    let private = MatchSettings {
        keep_profile: false,
        ..MatchSettings::default()
    };
    let (_, typical) = &cases[1];
    let result = OkraResult::found("/products/kyc/bvn-verify", profile.clone());
    let ns = ns_per_call(n, || {
        let r = black_box(result.clone()).answer_match(Some(typical), &private);
        black_box(serde_json::to_string(&r).unwrap());
    });
    let baseline = ns_per_call(n, || {
        black_box(serde_json::to_string(&black_box(result.clone())).unwrap());
    });
    println!(
        "  worker per job: answer and drop the profile, then write the result  {ns:>8.0} ns (writing the result with its profile, no match: {baseline:.0} ns)"
    );
    let ns = ns_per_call(n, || {
        black_box(black_box(typical).validate()).unwrap();
    });
    println!("  enqueue: check a 6-field request  {ns:>8.0} ns");
}
