//! Okra identity jobs: the job types, the HTTP client, the failure classification, masking of
//! personal identifiers, the match of a record against what the customer typed, and their
//! settings. Okra shut down in 2025; its documents are a
//! frozen spec, every base URL is configuration, and `okra-sandbox` stands in for the API.

pub mod classify;
pub mod client;
pub mod erase;
pub mod jobs;
pub mod kinds;
pub mod lookup;
pub mod mask;
pub mod matching;
pub mod pay_once;
pub mod profile;
pub mod providers;
pub mod result;
pub mod rule;
pub mod settings;

pub use classify::{Action, Classifier, Rule};
pub use client::{ErrorBody, OkraClient, OkraError, Reply, SecretKey, profile_of};
pub use jobs::OkraJob;
pub use kinds::{KINDS, Kind};
pub use matching::{Decision, MatchAnswer, MatchRequest, MatchSettings};
pub use profile::{ProfileError, checked_lookup, checked_profile};
pub use result::OkraResult;
pub use settings::{ClassificationSettings, Delays, OkraSettings, RuleSettings, WithoutLookup};
