//! Okra identity jobs: the job types, the HTTP client, the failure classification and masking
//! of personal identifiers. Okra shut down in 2025; its documents are a frozen spec, every base
//! URL is configuration, and `okra-sandbox` stands in for the API.

pub mod classify;
pub mod client;
pub mod jobs;
pub mod mask;
pub mod profile;
pub mod result;

pub use classify::{Action, Classifier, Delays, Rule};
pub use client::{ErrorBody, OkraClient, OkraError, Reply, SecretKey, profile_of};
pub use jobs::{KINDS, OkraJob};
pub use profile::{ProfileError, checked_lookup, checked_profile};
pub use result::OkraResult;
