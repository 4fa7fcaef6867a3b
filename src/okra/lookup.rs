//! What a free lookup's answer means after an attempt whose charge is uncertain. Two mistakes
//! are possible and both pay twice: taking "no such identity" from a path that is not a lookup
//! at all (a 404 from a misconfigured route), and taking it while the uncertain call may still
//! be finishing at the provider (Okra: a timed-out verify "eventually finishes successfully").
//! So an absence is definite only when its shape is one a lookup gives (an empty identity list,
//! a 204, or a 404 with the provider's error envelope from a route that has answered with a
//! profile before), and only once `okra.answer_deadline` has passed since the uncertain call
//! started. Everything else is reported, never guessed.

use std::time::Duration;

use serde_json::Value;

use super::client::{OkraError, Reply};
use super::jobs::OkraJob;
use super::profile::checked_lookup;

/// A lookup's answer: the profile, or some kind of nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The profile of the job's identifier.
    Profile(Value),
    /// No profile: what kind of nothing decides whether it is definite.
    Nothing(Nothing),
}

/// The shape of a lookup's "nothing", before the route's history and the clock are consulted.
#[derive(Debug, Clone, PartialEq)]
pub enum Nothing {
    /// A lookup's own way of saying it has no such identity (an empty list, a 204).
    Empty(&'static str),
    /// A 404 with the provider's error envelope: "no such identity" if the route is a lookup
    /// (it has answered with a profile before), "no such path" otherwise.
    NotFound(String),
    /// Anything else: what it answered, and why that is no answer.
    Failed(String),
}

/// Reads a lookup's reply for `job`.
pub fn read(job: &OkraJob, reply: &Result<Reply, OkraError>) -> Answer {
    let nothing = match reply {
        Ok(Reply::Data(data)) => match checked_lookup(job, data) {
            Ok(Some(profile)) => return Answer::Profile(profile),
            Ok(None) => Nothing::Empty("an empty identity list"),
            Err(e) => Nothing::Failed(e.to_string()),
        },
        Ok(Reply::NoContent) => Nothing::Empty("204 No Content"),
        Err(
            e @ OkraError::Api {
                status: 404, body, ..
            },
        ) if body.enveloped => Nothing::NotFound(e.to_string()),
        Err(e @ OkraError::Api { status: 404, .. }) => Nothing::Failed(format!(
            "{e}, without the provider's error envelope: the path may not exist (check okra.lookup with `okra-admin check lookups`)"
        )),
        Err(e) => Nothing::Failed(e.to_string()),
    };
    Answer::Nothing(nothing)
}

/// What the lookup settles.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A definite absence: paying is safe.
    Absent,
    /// An absence that came too early: the uncertain call may still finish. Look again in
    /// `wait` (no attempt spent).
    TooEarly {
        /// Until the answer deadline.
        wait: Duration,
        /// What the lookup answered.
        what: String,
    },
    /// Not a definite answer: what it answered and why it was not taken as one.
    Unresolved(String),
}

/// Whether the lookup's nothing is a definite absence. `proven`: the route has answered with
/// a profile before; `since`: when the uncertain call started at the latest, `now` (both ms,
/// Redis time); `deadline`: `okra.answer_deadline`.
pub fn absence(
    nothing: Nothing,
    proven: bool,
    since: u64,
    now: u64,
    deadline: Duration,
) -> Verdict {
    let what = match nothing {
        Nothing::Failed(why) => return Verdict::Unresolved(why),
        Nothing::NotFound(what) if !proven => {
            return Verdict::Unresolved(format!(
                "{what}; not taken as \"no such identity\" because this route has never answered with a profile, so the 404 may mean the path does not exist (check okra.lookup with `okra-admin check lookups`)"
            ));
        }
        Nothing::NotFound(what) => what,
        Nothing::Empty(what) => what.to_string(),
    };
    let due = since.saturating_add(deadline.as_millis() as u64);
    if now < due {
        return Verdict::TooEarly {
            wait: Duration::from_millis(due - now),
            what,
        };
    }
    Verdict::Absent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okra::client::read_answer;

    const DEADLINE: Duration = Duration::from_secs(120);

    fn job() -> OkraJob {
        OkraJob::new("bvn_verify", &[("bvn", "22212345678")]).unwrap()
    }

    fn answer(status: u16, body: &str) -> Answer {
        read(&job(), &read_answer(status, body.as_bytes(), None))
    }

    fn nothing(status: u16, body: &str) -> Nothing {
        match answer(status, body) {
            Answer::Nothing(n) => n,
            other => panic!("{other:?}"),
        }
    }

    const ENVELOPE: &str =
        r#"{"status": "error", "message": "No identity found for this BVN", "data": null}"#;

    #[test]
    fn profiles_and_empty_lists() {
        let found = answer(
            200,
            r#"{"status":"success","data":{"identity":[{"bvn":"22212345678"}]}}"#,
        );
        assert!(matches!(found, Answer::Profile(p) if p["bvn"] == "22212345678"));
        assert_eq!(
            nothing(200, r#"{"status":"success","data":{"identity":[]}}"#),
            Nothing::Empty("an empty identity list")
        );
        assert_eq!(
            read(&job(), &Ok(Reply::NoContent)),
            Answer::Nothing(Nothing::Empty("204 No Content"))
        );
        // Somebody else's profile is no answer.
        assert!(matches!(
            nothing(
                200,
                r#"{"status":"success","data":{"identity":[{"bvn":"22299999999"}]}}"#
            ),
            Nothing::Failed(_)
        ));
    }

    #[test]
    fn a_404_is_an_absence_only_with_the_envelope_on_a_proven_route() {
        let not_found = nothing(404, ENVELOPE);
        assert!(matches!(&not_found, Nothing::NotFound(m) if m.contains("No identity found")));
        assert_eq!(
            absence(not_found.clone(), true, 0, 120_000, DEADLINE),
            Verdict::Absent
        );
        match absence(not_found, false, 0, 120_000, DEADLINE) {
            Verdict::Unresolved(why) => assert!(why.contains("never answered with a profile")),
            other => panic!("{other:?}"),
        }
        for bare in [
            "<html><h1>404 Not Found</h1></html>",
            "",
            r#"{"detail":"nope"}"#,
        ] {
            match absence(nothing(404, bare), true, 0, 120_000, DEADLINE) {
                Verdict::Unresolved(why) => assert!(why.contains("envelope"), "{why}"),
                other => panic!("{bare}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_absence_before_the_deadline_waits_for_it() {
        let empty = Nothing::Empty("an empty identity list");
        assert_eq!(
            absence(empty.clone(), false, 10_000, 40_000, DEADLINE),
            Verdict::TooEarly {
                wait: Duration::from_millis(90_000),
                what: "an empty identity list".into()
            }
        );
        assert_eq!(
            absence(empty, false, 10_000, 130_000, DEADLINE),
            Verdict::Absent
        );
        assert!(matches!(
            absence(nothing(404, ENVELOPE), true, 10_000, 20_000, DEADLINE),
            Verdict::TooEarly { .. }
        ));
    }

    #[test]
    fn other_answers_stay_unresolved() {
        for (status, body) in [
            (
                500,
                r#"{"status":"error","message":"Something went wrong"}"#,
            ),
            (200, "<html>"),
            (503, ""),
        ] {
            assert!(matches!(
                absence(nothing(status, body), true, 0, u64::MAX, DEADLINE),
                Verdict::Unresolved(_)
            ));
        }
    }
}
