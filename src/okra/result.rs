//! What an Okra job leaves as its result: the verified profile and where it came from.
//! `okra-worker` writes it with this type, so apps read it back with the same one:
//! `queue.wait(id, t).await?.result_as::<OkraResult>()`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The result of a completed Okra job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OkraResult {
    /// The endpoint that answered (`/products/kyc/bvn-verify`, `/identity/getByBvn`, ...).
    pub source: String,
    /// Its HTTP status (200, or 204 for an account with no BVN attached).
    pub http_status: u16,
    /// The profile, checked to name the identifier the job asked about; `None` for a 204.
    pub profile: Option<Value>,
    /// `free` when the profile came from the free `getByBvn` lookup instead of a second paid
    /// verify (after an attempt whose charge was uncertain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<String>,
    /// A remark for a result without a profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
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
        }
    }
}
