//! A job of a bulk enqueue as a producer hands it over: kind, payload text, options.

use crate::ident::IdType;
use crate::job::{EnqueueOptions, Job};

/// One job of a bulk enqueue whose payload is already JSON (from a file, another producer).
#[derive(Debug, Clone)]
pub struct RawJob {
    /// Job kind.
    pub kind: String,
    /// Payload JSON text.
    pub payload: String,
    /// Options.
    pub options: EnqueueOptions,
    /// The identifier it verifies, for the identity index (see [`Job::identity`]).
    pub identity: Option<(IdType, String)>,
}

impl RawJob {
    /// A job from its kind and payload JSON, not indexed by identity.
    pub fn new(
        kind: impl Into<String>,
        payload: impl Into<String>,
        options: EnqueueOptions,
    ) -> Self {
        Self {
            kind: kind.into(),
            payload: payload.into(),
            options,
            identity: None,
        }
    }

    /// A typed job, validated and serialized, with its identity.
    pub fn of<J: Job>(job: &J, options: EnqueueOptions) -> std::result::Result<Self, String> {
        job.validate()?;
        options.check()?;
        Ok(Self {
            kind: job.kind().to_string(),
            payload: serde_json::to_string(job).map_err(|e| e.to_string())?,
            options,
            identity: job.identity().map(|(t, v)| (t, v.to_string())),
        })
    }
}
