//! What an Okra job leaves as its result: the verified profile, where it came from and when,
//! and, for a job with a match request, whether the profile matches what the customer typed.
//! `okra-worker` writes it with this type, so apps read it back with the same one:
//! `queue.wait(id, t).await?.result_as::<OkraResult>()`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::okra::matching::{self, MatchAnswer, MatchRequest, MatchSettings};

/// The result of a completed Okra job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OkraResult {
    /// The endpoint that answered (`/products/kyc/bvn-verify`, `/identity/getByBvn`, ...).
    pub source: String,
    /// Its HTTP status (200, or 204 for an account with no BVN attached).
    pub http_status: u16,
    /// The profile, checked to name the identifier the job asked about; `None` for a 204, and
    /// for a job with a match request under `[match] keep_profile = false`.
    pub profile: Option<Value>,
    /// `free` when the profile came from a free lookup (`getByBvn`, ...) instead of a second
    /// paid verify (after an attempt whose charge was uncertain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,
    /// When Okra verified the profile (Redis ms): this job's paid call, or, for a reused
    /// profile, the earlier one it reuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<u64>,
    /// For `"source": "reuse"`: the endpoint whose answer (paid for within
    /// `okra.reuse_window`) is reused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused_from: Option<String>,
    /// A remark for a result without a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// `match`: for a job with a match request, the decision and each field's verdict (never
    /// the values). Boxed: most results have none.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matching: Option<Box<MatchAnswer>>,
    /// The provider that answered (`okra`, `prembly`, `dojah`); for a reused profile, the one
    /// that answered first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

impl OkraResult {
    /// A profile from `source`.
    pub fn found(source: &str, profile: Value) -> Self {
        Self {
            source: source.to_string(),
            http_status: 200,
            profile: Some(profile),
            lookup: None,
            note: None,
            verified_at: None,
            reused_from: None,
            matching: None,
            provider: None,
        }
    }

    /// This result handed to a later job for the same person: `"source": "reuse"`, with the
    /// endpoint that answered and when.
    pub fn reused(self) -> Self {
        Self {
            reused_from: Some(self.source),
            source: "reuse".into(),
            ..self
        }
    }

    /// This result as the job that asked `request` leaves it: with the answer to its match
    /// request, computed from the profile; and, under `[match] keep_profile = false`, without
    /// the profile (used here, in memory, and dropped). A job without a match request keeps
    /// its result as it is.
    pub fn answer_match(self, request: Option<&MatchRequest>, settings: &MatchSettings) -> Self {
        let Some(request) = request else {
            return Self {
                matching: None,
                ..self
            };
        };
        let answer = Box::new(matching::compare(request, self.profile.as_ref(), settings));
        if settings.keeps_profile(Some(request)) {
            return Self {
                matching: Some(answer),
                ..self
            };
        }
        let note = match self.profile {
            Some(_) => Some("profile not kept ([match] keep_profile = false)".to_string()),
            None => self.note,
        };
        Self {
            profile: None,
            note,
            matching: Some(answer),
            ..self
        }
    }
}
