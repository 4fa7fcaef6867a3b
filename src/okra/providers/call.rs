//! One provider's calls over HTTP: its request for a job, sent with the pooled client Okra's
//! uses (redirects never followed, the body read up to `okra.max_body`), its answer read by
//! its own reader.

use std::sync::Arc;
use std::time::Duration;

use super::{Method, Provider, ProviderConf, Request};
use crate::okra::client::{OkraError, Reply, exchange};
use crate::okra::jobs::OkraJob;

/// Calls one provider.
#[derive(Debug, Clone)]
pub struct Caller {
    http: reqwest::Client,
    base: String,
    max_body: usize,
    provider: Arc<dyn Provider>,
    conf: ProviderConf,
}

impl Caller {
    /// A caller of `provider` at `conf.base_url` (its own when empty), with the client timeout
    /// and body limit of `[okra]`.
    pub fn new(
        provider: Arc<dyn Provider>,
        conf: ProviderConf,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Self, String> {
        let base = if conf.base_url.trim().is_empty() {
            provider.spec().base_url
        } else {
            conf.base_url.trim()
        }
        .trim_end_matches('/')
        .to_string();
        Ok(Self {
            http: crate::okra::client::http_client(timeout)?,
            base,
            max_body,
            provider,
            conf,
        })
    }

    /// The provider.
    pub fn provider(&self) -> &dyn Provider {
        &*self.provider
    }

    /// Its name.
    pub fn name(&self) -> &'static str {
        self.provider.spec().name
    }

    /// Its settings (`uncertain`, prices).
    pub fn conf(&self) -> &ProviderConf {
        &self.conf
    }

    /// Its base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The paid call for `job`. A kind the provider does not sell is never sent (start-up
    /// refuses it first; here it is class `not_sold`, terminal, status 0: nothing answered).
    pub async fn call(&self, job: &OkraJob) -> Result<Reply, OkraError> {
        let request = self.provider.request(job).map_err(|why| OkraError::Api {
            status: 0,
            body: Box::new(crate::okra::client::ErrorBody {
                message: Some(why),
                named: Some(crate::okra::client::Named {
                    provider: self.name(),
                    rule: crate::okra::rule::Rule {
                        class: "not_sold".into(),
                        action: crate::okra::rule::Action::Terminal,
                    },
                    charged: false,
                }),
                ..Default::default()
            }),
            excerpt: String::new(),
            retry_after: None,
        })?;
        self.send(job, &request).await
    }

    /// The free lookup for `job`, if the provider has one.
    pub async fn lookup(&self, job: &OkraJob) -> Option<Result<Reply, OkraError>> {
        let request = self.provider.lookup(job)?;
        Some(self.send(job, &request).await)
    }

    /// Sends a request built for `job` and reads the answer.
    pub async fn send(&self, job: &OkraJob, r: &Request) -> Result<Reply, OkraError> {
        let mut url = reqwest::Url::parse(&format!("{}{}", self.base, r.path)).map_err(|e| {
            // Nothing was sent: certain.
            OkraError::Transport {
                timeout: false,
                connect: true,
                message: format!("{}: the base URL and path make no URL: {e}", self.name()),
            }
        })?;
        if !r.query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(r.query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let mut b = match r.method {
            Method::Get => self.http.get(url),
            Method::Post => self.http.post(url),
        };
        b = b.header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &r.headers {
            b = b.header(*name, value.expose());
        }
        if let Some(body) = &r.body {
            b = b.json(body);
        }
        let raw = exchange(b, self.max_body).await?;
        self.provider.read(job, &raw)
    }
}
