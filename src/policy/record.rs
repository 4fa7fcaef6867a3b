//! The last step of the retry lifecycle: an ended attempt and its outcome become the write
//! that records them, one `outcome.lua` entry fenced by the claim's [`Lease`]. [`attempt`] is
//! the one entrance (the worker that ran the job, the reaper that takes back an expired lease,
//! and a job that cannot be decoded all use it), and it always asks the policy. Metrics and
//! logs come later, from what the script says it applied (the acker), never from what was
//! merely asked for.

use std::time::Duration;

use super::{Budget, Decision, Outcome, RetryPolicy};
use crate::ident::IndexKey;
use crate::job::{Failure, HistoryEntry, HistoryKind, JobMeta, Lease, truncate};
use crate::rdb::{OutcomeEntry, Transition, index_members};
use crate::seal::{Column, Place, Sealer};

const MESSAGE_MAX: usize = 2048;
const HISTORY_MESSAGE_MAX: usize = 512;

/// Who is recording an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// The worker that ran the attempt (fenced by its token).
    Worker,
    /// A reaper taking back an expired lease (fenced by the token and the deadline).
    Reaper,
}

/// An attempt that has ended, with everything the policy and the write need.
#[derive(Debug, Clone)]
pub(crate) struct Attempt<'a> {
    /// The claim it ran under.
    pub lease: Lease,
    /// The job's kind (`unknown` when its metadata does not decode).
    pub kind: &'a str,
    /// Attempts spent, this one included.
    pub attempt: u32,
    /// The budget in force.
    pub max_attempts: u32,
    /// Start of the job's retry window (Redis ms).
    pub window_start: u64,
    /// Redis time now (ms).
    pub now: u64,
    /// How long it ran (a reaper cannot know).
    pub ran: Option<Duration>,
    /// This process (`host:pid:suffix`).
    pub node: &'a str,
    /// Who records it.
    pub writer: Writer,
    /// The queue, and its keys when it seals: the result and every message are sealed for
    /// this job before they leave the process.
    pub seal: (&'a str, Option<&'a Sealer>),
    /// The identity index's key: what the answer or failure carries is indexed under it (see
    /// [`IndexKey::carried`]), so erasing a person reaches answers that name them.
    pub index: Option<&'a IndexKey>,
    /// The job's own identity-index entry (already indexed).
    pub ix: Option<&'a str>,
}

impl<'a> Attempt<'a> {
    /// An attempt of a job whose metadata is `meta` (`None` when it does not decode: the
    /// fleet's budget and a window starting now apply), under `policy`, in `queue` whose keys
    /// are `sealer` (required: no write can forget to seal).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn of(
        lease: Lease,
        meta: Option<&'a JobMeta>,
        attempt: u32,
        policy: &RetryPolicy,
        now: u64,
        ran: Option<Duration>,
        node: &'a str,
        writer: Writer,
        (queue, sealer): (&'a str, Option<&'a Sealer>),
    ) -> Self {
        Self {
            lease,
            kind: meta.map_or("unknown", |m| m.kind.as_str()),
            attempt,
            max_attempts: meta.map_or(policy.max_attempts, |m| m.budget(policy.max_attempts)),
            window_start: meta.map_or(now, |m| m.window_start),
            now,
            ran,
            node,
            writer,
            seal: (queue, sealer),
            index: None,
            ix: meta.and_then(|m| m.ix.as_deref()),
        }
    }

    /// Indexes what the outcome carries under `key` (see [`Attempt::index`]).
    pub(crate) fn indexing(mut self, key: Option<&'a IndexKey>) -> Self {
        self.index = key;
        self
    }
}

/// The one entrance: the policy decides what `outcome` means for the job, and the decision
/// becomes its write.
pub(crate) fn attempt(policy: &RetryPolicy, a: Attempt<'_>, outcome: Outcome) -> OutcomeEntry {
    let decision = policy.decide(
        outcome,
        Budget {
            attempts: a.attempt,
            max_attempts: a.max_attempts,
            window_start: a.window_start,
            now: a.now,
        },
    );
    let mut history = HistoryEntry {
        attempt: a.attempt,
        worker: Some(a.node.to_string()),
        duration_ms: a.ran.map(|d| d.as_millis() as u64),
        ..HistoryEntry::default()
    };
    let mut entry = OutcomeEntry {
        lease: a.lease,
        transition: Transition::Complete,
        delay_ms: 0,
        refund: false,
        history: HistoryEntry::default(),
        data: String::new(),
        dims: Vec::new(),
        fence: a.writer == Writer::Reaper,
        kind: a.kind.to_string(),
        reason: None,
        carried: Vec::new(),
    };
    let failure = match decision {
        Decision::Complete(result) => {
            entry.data = result;
            None
        }
        Decision::Retry {
            delay,
            refund,
            failure,
        } => {
            // Capped again where it is written: no due time past MAX_DELAY reaches Redis.
            let delay = delay.min(crate::job::MAX_DELAY);
            history.retry_in_ms = Some(delay.as_millis() as u64);
            entry.transition = Transition::Retry;
            entry.delay_ms = delay.as_millis() as u64;
            entry.refund = refund;
            Some(failure)
        }
        Decision::Dead(failure) => {
            entry.transition = Transition::Dead;
            entry.dims = index_members(a.kind, &failure);
            Some(failure)
        }
    };
    history.outcome = entry.transition.history();
    let (queue, sealer) = a.seal;
    let seal = |column: Column, text: &str| match sealer {
        Some(s) => s.seal(&Place::job(queue, &entry.lease.id, column), text),
        None => text.to_string(),
    };
    let mut carried = |text: &str| {
        if let Some(key) = a.index {
            entry.carried = key.carried_besides(text, a.ix);
        }
    };
    if let Some(mut f) = failure {
        f.attempt = a.attempt;
        carried(&format!(
            "{}\n{}",
            f.message,
            f.body.as_deref().unwrap_or("")
        ));
        entry.reason = f.reason.clone();
        let message = truncate(&f.message, MESSAGE_MAX);
        history.class = Some(f.class.clone());
        history.message = Some(seal(
            Column::HistoryMessage,
            truncate(message, HISTORY_MESSAGE_MAX),
        ));
        history.http_status = f.http_status;
        history.error_type = f.error_type.clone();
        f.message = seal(Column::ErrorMessage, message);
        f.body = f.body.map(|b| seal(Column::ErrorBody, &b));
        entry.data = serde_json::to_string(&f).unwrap_or_else(|_| "{}".into());
    } else if entry.transition == Transition::Complete {
        let data = std::mem::take(&mut entry.data);
        carried(&data);
        entry.data = match sealer {
            Some(_) => seal(Column::Result, &data),
            None => data,
        };
    }
    entry.history = history;
    entry
}

/// Gives a claimed job back to the head of the ready list with its attempt refunded
/// (unstarted at shutdown, or unfinished when the grace period ended). Not an attempt that
/// ended: nothing is decided.
pub(crate) fn release(lease: Lease, node: &str) -> OutcomeEntry {
    OutcomeEntry {
        lease,
        transition: Transition::Release,
        delay_ms: 0,
        refund: true,
        history: HistoryEntry {
            outcome: HistoryKind::Released,
            class: Some("shutdown".into()),
            worker: Some(node.to_string()),
            ..HistoryEntry::default()
        },
        data: String::new(),
        dims: Vec::new(),
        fence: false,
        kind: String::new(),
        reason: None,
        carried: Vec::new(),
    }
}

/// The failure of a job whose payload is sealed with a key this worker lacks (or does not
/// open): terminal, without calling anything; the letter waits for the key to come back.
pub(crate) fn unreadable_payload(why: String) -> Outcome {
    Outcome::Terminal(Failure {
        class: "unreadable_payload".into(),
        message: format!("the payload cannot be opened: {why}"),
        ..Failure::default()
    })
}

/// The failure of a job the worker could not even decode: terminal, so the policy sends it
/// to the dead letters at once.
pub(crate) fn invalid_payload(message: String, body: &str) -> Outcome {
    Outcome::Terminal(Failure {
        class: "invalid_payload".into(),
        message,
        body: Some(crate::job::excerpt(body)),
        ..Failure::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt_of(writer: Writer, n: u32) -> Attempt<'static> {
        Attempt {
            lease: Lease::claimed("j".into(), 7, false),
            kind: "bvn_verify",
            attempt: n,
            max_attempts: 3,
            window_start: 1_000,
            now: 2_000,
            ran: Some(Duration::from_millis(12)),
            node: "host:1:abc",
            writer,
            seal: ("q", None),
            index: None,
            ix: None,
        }
    }

    #[test]
    fn every_decision_becomes_its_write() {
        let p = RetryPolicy::default();
        let ok = attempt(
            &p,
            attempt_of(Writer::Worker, 1),
            Outcome::Success(serde_json::json!({"a": 1}).to_string()),
        );
        assert_eq!(ok.transition, Transition::Complete);
        assert_eq!(ok.history.outcome, HistoryKind::Success);
        assert_eq!(ok.data, r#"{"a":1}"#);
        assert!(!ok.fence);

        let failure = Failure {
            class: "server_error".into(),
            message: "boom".into(),
            http_status: Some(500),
            ..Failure::default()
        };
        let retry = Outcome::Retry {
            failure: failure.clone(),
            delay: None,
            spend_attempt: true,
        };
        let r = attempt(&p, attempt_of(Writer::Reaper, 1), retry.clone());
        assert_eq!(r.transition, Transition::Retry);
        assert!(r.fence, "a reaper's write is fenced by the deadline too");
        assert_eq!(r.history.class.as_deref(), Some("server_error"));
        assert_eq!(r.class(), "server_error");

        let d = attempt(&p, attempt_of(Writer::Worker, 3), retry);
        assert_eq!(d.transition, Transition::Dead);
        assert_eq!(d.reason.as_deref(), Some("attempts_exhausted"));
        assert!(d.dims.iter().any(|x| x.as_str() == "s|500"));

        // A payload that cannot be decoded goes through the policy too: terminal, dead now.
        let bad = attempt(
            &p,
            attempt_of(Writer::Worker, 1),
            invalid_payload("payload does not decode".into(), "{}"),
        );
        assert_eq!(bad.transition, Transition::Dead);
        assert_eq!(bad.reason.as_deref(), Some("terminal"));
    }

    #[test]
    fn with_keys_the_result_and_every_message_are_sealed() {
        let p = RetryPolicy::default();
        let keys = Sealer::parse("k1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        let ok = attempt(
            &p,
            Attempt {
                seal: ("q", Some(&keys)),
                ..attempt_of(Writer::Worker, 1)
            },
            Outcome::Success(serde_json::json!({"bvn": "22234567890"}).to_string()),
        );
        assert!(ok.data.starts_with("sealed1:k1:"), "{}", ok.data);
        let place = Place::job("q", "j", Column::Result);
        assert_eq!(
            keys.open(&place, &ok.data).unwrap(),
            r#"{"bvn":"22234567890"}"#
        );
        let failed = attempt(
            &p,
            Attempt {
                seal: ("q", Some(&keys)),
                ..attempt_of(Writer::Worker, 3)
            },
            Outcome::Terminal(Failure {
                class: "flagged_user".into(),
                message: "BVN 22234567890 is flagged".into(),
                body: Some(r#"{"bvn":"22234567890"}"#.into()),
                http_status: Some(200),
                ..Failure::default()
            }),
        );
        assert!(!failed.data.contains("22234567890"), "{}", failed.data);
        assert!(
            failed.data.contains(r#""class":"flagged_user""#),
            "readable: {}",
            failed.data
        );
        let f: Failure = serde_json::from_str(&failed.data).unwrap();
        let open =
            |c: Column, t: &str| keys.open(&Place::job("q", "j", c), t).unwrap().into_owned();
        assert_eq!(
            open(Column::ErrorMessage, &f.message),
            "BVN 22234567890 is flagged"
        );
        assert_eq!(
            open(Column::ErrorBody, f.body.as_deref().unwrap()),
            r#"{"bvn":"22234567890"}"#
        );
        let m = failed.history.message.unwrap();
        assert_eq!(
            open(Column::HistoryMessage, &m),
            "BVN 22234567890 is flagged"
        );
    }

    #[test]
    fn a_release_refunds_and_decides_nothing() {
        let r = release(Lease::claimed("j".into(), 1, false), "n");
        assert!(r.refund);
        assert_eq!(r.class(), "");
        assert_eq!(r.history.outcome, HistoryKind::Released);
    }
}
