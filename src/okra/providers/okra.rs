//! Okra, the reference provider (and the default): its requests are the jobs' own paths and
//! bodies with the secret key as a Bearer token, its answers are read by the client's
//! `read_answer` (the reference every other reader copies), its table is `classify::TABLE`,
//! and its free lookups are `okra.lookup`.

use std::sync::Arc;

use super::{Billing, Method, Provider, ProviderConf, Request, Secret, Secrets, Sells, Spec};
use crate::okra::OkraJob;
use crate::okra::client::{OkraError, Raw, Reply, read_answer};
use crate::okra::settings::OkraSettings;

/// Okra.
pub const SPEC: Spec = Spec {
    name: "okra",
    base_url: "https://api.okra.ng/v2",
    secrets: &[("OKRA_SECRET_KEY", true)],
    kinds: Sells::Every,
    billing: Billing::SuccessOnly,
    // Its classes are the vocabulary: `classify::TABLE` is its table.
    table: &[],
    auth: "`Authorization: Bearer $OKRA_SECRET_KEY`",
    free_lookup: true,
    build,
};

/// Okra with its secret key and its `[okra]` settings (the free lookups, `testing`).
#[derive(Debug)]
pub struct Okra {
    key: Secret,
    settings: OkraSettings,
}

fn build(_conf: &ProviderConf, secrets: &Secrets) -> Arc<dyn Provider> {
    let key = secrets
        .get("OKRA_SECRET_KEY")
        .cloned()
        .unwrap_or_else(|| Secret::new(""));
    Arc::new(Okra::new(key, OkraSettings::default()))
}

impl Okra {
    /// Okra with this key and these settings.
    pub fn new(key: Secret, settings: OkraSettings) -> Self {
        Self { key, settings }
    }

    fn post(&self, path: &str, mut body: serde_json::Value) -> Request {
        if self.settings.testing
            && let Some(map) = body.as_object_mut()
        {
            map.insert("testing".into(), serde_json::Value::Bool(true));
        }
        Request {
            method: Method::Post,
            path: path.into(),
            query: vec![],
            body: Some(body),
            headers: vec![(
                "Authorization",
                Secret::new(format!("Bearer {}", self.key.expose())),
            )],
        }
    }
}

impl Provider for Okra {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn request(&self, job: &OkraJob) -> Result<Request, String> {
        Ok(self.post(job.path(), job.body()))
    }

    fn read(&self, _job: &OkraJob, raw: &Raw) -> Result<Reply, OkraError> {
        if raw.status == 204 {
            return Ok(Reply::NoContent);
        }
        read_answer(raw.status, &raw.body, raw.retry_after)
    }

    fn lookup(&self, job: &OkraJob) -> Option<Request> {
        use crate::job::Job as _;
        let path = self.settings.lookup_for(job.kind())?;
        Some(self.post(path, job.body()))
    }
}
