//! The providers that sell the lookups Okra sold. A job says *what* to verify (its kind and
//! identifiers), never *who* verifies it: each provider's file holds all that is specific to
//! it (its authentication headers, how a job becomes its request, how its answer becomes the
//! common profile, and its code-to-class table as data), and reads every answer into the same
//! `Result<Reply, OkraError>` Okra's client gives, so the classifier, the retry policy and the
//! pay-once rules apply unchanged. Okra stays the reference provider: its classes are the
//! vocabulary every table maps onto.
//!
//! Adding a provider: its file here (a [`Spec`] and a [`Provider`]), one line in
//! [`PROVIDERS`], its module in `okra-sandbox`, and its table in `docs/providers.md` (a test
//! checks it is the code's).

pub mod call;
pub mod common;
pub mod dojah;
pub mod okra;
pub mod prembly;
pub mod route;
pub mod settings;

use std::sync::Arc;

use serde_json::Value;

use super::client::{OkraError, Raw, Reply};
use super::jobs::OkraJob;
use super::rule::Action;
pub use call::Caller;
pub use route::{Picked, Route};
pub use settings::{ProviderConf, ProviderSettings, Secret, Secrets, Uncertain};

/// Every provider, by name: the first is the default (no `[provider]` section).
pub const PROVIDERS: &[&Spec] = &[&okra::SPEC, &prembly::SPEC, &dojah::SPEC];

/// The provider called `name`.
pub fn spec(name: &str) -> Option<&'static Spec> {
    PROVIDERS.iter().copied().find(|s| s.name == name)
}

/// What a provider charges for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Billing {
    /// Only answers that carry a record (Okra, Prembly's wallet "when successfully executed",
    /// Dojah by default: its documents do not say).
    SuccessOnly,
    /// Every answered call, failures too (Mono).
    FailuresToo,
}

/// Whether one call cost money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charged {
    /// Charged.
    Yes,
    /// Not charged.
    No,
    /// Perhaps: the request may have been done without its answer reaching us (the pay-once
    /// rule decides what happens next).
    Unknown,
}

/// What the static facts of a provider are: everything `validate()` and the docs need
/// without building it.
#[derive(Debug)]
pub struct Spec {
    /// Its name in `[provider] order`.
    pub name: &'static str,
    /// Base URL when `[provider.NAME] base_url` is not set.
    pub base_url: &'static str,
    /// Environment variables of its secrets: (name, required).
    pub secrets: &'static [(&'static str, bool)],
    /// The kinds it sells.
    pub kinds: Sells,
    /// What it charges for.
    pub billing: Billing,
    /// Its code-to-class table, for answers the reader does not take as a record.
    pub table: &'static [Row],
    /// How it authenticates, in words (the docs).
    pub auth: &'static str,
    /// Whether it has a free lookup that settles an uncertain attempt.
    pub free_lookup: bool,
    /// Builds it from its settings and secrets (all present: `validate()` checked).
    pub build: fn(&ProviderConf, &Secrets) -> Arc<dyn Provider>,
}

/// The kinds a provider sells.
#[derive(Debug, Clone, Copy)]
pub enum Sells {
    /// Every kind of the kind table (Okra, whose API the table was written from).
    Every,
    /// Only these.
    Only(&'static [&'static str]),
}

impl Spec {
    /// Whether it sells `kind`.
    pub fn sells(&self, kind: &str) -> bool {
        match self.kinds {
            Sells::Every => crate::okra::kinds::find(kind).is_some(),
            Sells::Only(kinds) => kinds.contains(&kind),
        }
    }

    /// The kinds it sells, in the kind table's order.
    pub fn kinds(&self) -> Vec<&'static str> {
        crate::okra::kinds::names()
            .filter(|k| self.sells(k))
            .collect()
    }
}

/// What a row of a provider's table matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matched {
    /// The provider's own outcome code in the body (Prembly's `response_code`), any status.
    Code(&'static str),
    /// An HTTP status, when the body names no code.
    Status(u16),
    /// An HTTP status whose error text contains this (lower case): the provider tells it
    /// only in words (Dojah's "BVN not found").
    Text(u16, &'static str),
    /// A record that carries a watch-list flag set to `YES`.
    WatchListed,
}

/// One row of a provider's table: what its answer says, and what it means here.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// What it matches.
    pub matched: Matched,
    /// What the provider's documents call it.
    pub says: &'static str,
    /// The class (Okra's vocabulary where one exists).
    pub class: &'static str,
    /// What happens.
    pub action: Action,
    /// Whether the provider charges for it.
    pub charged: bool,
}

impl Row {
    /// The row matching an answer's code, else its status and error text.
    pub fn find(
        table: &'static [Row],
        code: Option<&str>,
        status: u16,
        text: &str,
    ) -> Option<&'static Row> {
        if let Some(code) = code {
            return table
                .iter()
                .find(|r| matches!(r.matched, Matched::Code(c) if c == code));
        }
        let lower = text.to_ascii_lowercase();
        table
            .iter()
            .find(|r| matches!(r.matched, Matched::Text(s, t) if s == status && lower.contains(t)))
            .or_else(|| table.iter().find(|r| r.matched == Matched::Status(status)))
    }
}

/// The HTTP method of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET, the job's fields in the query (Dojah).
    Get,
    /// POST with a JSON body (Okra, Prembly).
    Post,
}

/// A request built for a job. Its `Debug` shows the names of headers, query fields and body
/// fields, never their values: they hold secrets and a person's identifiers.
#[derive(Clone)]
pub struct Request {
    /// GET or POST.
    pub method: Method,
    /// The path, after the base URL.
    pub path: String,
    /// Query fields (GET).
    pub query: Vec<(&'static str, String)>,
    /// The JSON body (POST).
    pub body: Option<Value>,
    /// Headers from the provider's secrets.
    pub headers: Vec<(&'static str, Secret)>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body: Vec<&str> = self
            .body
            .as_ref()
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field(
                "query",
                &self.query.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            )
            .field("body", &body)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One provider, built with its secrets and settings.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Its static facts.
    fn spec(&self) -> &'static Spec;
    /// The request for a job; `Err` (one line) for a kind it does not sell: never sent.
    fn request(&self, job: &OkraJob) -> Result<Request, String>;
    /// Reads an answer into a reply (the common profile inside `{"identity": ...}`, or a
    /// company's record) or a classified error.
    fn read(&self, job: &OkraJob, raw: &Raw) -> Result<Reply, OkraError>;
    /// The free lookup that settles an uncertain attempt for `job`, if it has one.
    fn lookup(&self, _job: &OkraJob) -> Option<Request> {
        None
    }
}

/// Whether a call cost money, by the provider's billing rule and what its answer said.
pub fn charged(billing: Billing, result: &Result<Reply, OkraError>) -> Charged {
    match result {
        Ok(Reply::Data(_)) => Charged::Yes,
        Ok(Reply::NoContent) => Charged::No,
        Err(e) if e.uncertain() => Charged::Unknown,
        Err(OkraError::Api { body, .. }) => match (&body.named, billing) {
            (Some(n), _) => {
                if n.charged {
                    Charged::Yes
                } else {
                    Charged::No
                }
            }
            (None, Billing::FailuresToo) => Charged::Yes,
            (None, Billing::SuccessOnly) => Charged::No,
        },
        Err(_) => Charged::No,
    }
}

/// The spend ledger's name for paid calls of `kind` at `provider`: the bare kind at Okra (its
/// rows predate providers), `prembly/bvn_verify` at another. [`ledger_split`] reads it back.
pub fn ledger_kind(provider: &str, kind: &str) -> String {
    if provider == okra::SPEC.name {
        kind.to_string()
    } else {
        format!("{provider}/{kind}")
    }
}

/// The provider and the kind of a ledger name written by [`ledger_kind`].
pub fn ledger_split(name: &str) -> (&str, &str) {
    name.split_once('/').unwrap_or((okra::SPEC.name, name))
}

/// Whether a call's failure says the provider is *certainly* unavailable and did nothing
/// (so the job's next attempt may go to the next provider without any risk of paying twice):
/// its own "try later" (class `unavailable`: Prembly `02`, Dojah 424) or a connection that was
/// never made. Never an uncertain failure (a timeout, a gateway's 502/503/504): that attempt
/// stays with the provider that may have charged for it.
pub fn certainly_unavailable(result: &Result<Reply, OkraError>) -> bool {
    match result {
        Err(OkraError::Transport { connect, .. }) => *connect,
        Err(e @ OkraError::Api { body, .. }) => {
            !e.uncertain()
                && body
                    .named
                    .as_ref()
                    .is_some_and(|n| n.rule.class == "unavailable" && !n.charged)
        }
        _ => false,
    }
}

/// An action as `[classification]` writes it.
pub fn action_name(a: Action) -> &'static str {
    match a {
        Action::Retry => "retry",
        Action::Terminal => "terminal",
        Action::RateLimited => "rate_limited",
        Action::OkraTimeout => "okra_timeout",
        Action::Pause => "pause",
    }
}

/// A provider's table as Markdown (`docs/providers.md` holds exactly this; a test checks).
pub fn docs_table(spec: &Spec) -> String {
    let mut out = String::from("| answer | class | action | charged |\n|---|---|---|---|\n");
    for r in spec.table {
        let matched = match r.matched {
            Matched::Code(c) => format!("`response_code` {c}"),
            Matched::Status(s) => format!("HTTP {s}"),
            Matched::Text(s, t) => format!("HTTP {s}, error text contains \"{t}\""),
            Matched::WatchListed => "a record with its watch-list flag `YES`".into(),
        };
        out.push_str(&format!(
            "| {matched}: {} | `{}` | {} | {} |\n",
            r.says,
            r.class,
            action_name(r.action),
            if r.charged { "yes" } else { "no" }
        ));
    }
    out.push_str("| anything else: 401, 403, 429, other 4xx and 5xx, bodies that are not JSON or not the documented shape, no answer | as Okra's table ([Failure classification](jobs.md#failure-classification)) | | |\n");
    out
}

#[cfg(test)]
mod tests;
