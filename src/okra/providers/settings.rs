//! `[provider]`: the order the providers are tried in, and each one's base URL, its rule
//! after an uncertain attempt, and its prices. Secrets come from the environment only, and
//! no `Debug`, `Display` or error ever shows one.
//!
//! ```toml
//! [provider]
//! order = ["prembly", "dojah"]   # the first is primary; the rest take over when it is unavailable
//! [provider.prembly]
//! base_url = "https://api.prembly.com/api/v1/verification/api"
//! uncertain = "hold"             # or "retry" (pay again); "hold" is the default
//! price = { bvn_verify = 100, nin_verify = 100 }   # naira per call
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{PROVIDERS, spec};

/// After an attempt whose charge is uncertain at a provider without a free lookup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Uncertain {
    /// Never pay twice: the job becomes a dead letter of class `unresolved_charge`.
    #[default]
    Hold,
    /// Pay again (counted `uncertain` in the ledger).
    Retry,
}

/// One provider's settings (`[provider.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConf {
    /// Base URL; empty: the provider's own (see `docs/providers.md`).
    pub base_url: String,
    /// After an uncertain attempt, when the provider has no free lookup.
    pub uncertain: Uncertain,
    /// Naira per call, by kind.
    pub price: BTreeMap<String, f64>,
    /// Keep the photo a provider sends (omitted by default).
    pub photo: bool,
}

/// `[provider]`: the order, and each provider's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// Provider names, primary first; empty: Okra alone (today's behaviour).
    pub order: Vec<String>,
    /// Certain "try later" answers in a row after which a provider is skipped (default 3).
    pub failover_after: u32,
    /// How long a skipped provider is skipped before one attempt probes it (default 30 s).
    pub probe_after: std::time::Duration,
    /// `[provider.NAME]` sections.
    pub providers: BTreeMap<String, ProviderConf>,
}

impl<'de> Deserialize<'de> for ProviderSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProviderSettings;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`order` and one table per provider")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = ProviderSettings::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "order" {
                        out.order = map.next_value()?;
                    } else if key == "failover_after" {
                        out.failover_after = map.next_value()?;
                    } else if key == "probe_after" {
                        let text: String = map.next_value()?;
                        out.probe_after = humantime::parse_duration(&text).map_err(|e| {
                            serde::de::Error::custom(format!("provider.probe_after: {e}"))
                        })?;
                    } else {
                        // Unknown names are reported by `validate`, with the others.
                        let conf: ProviderConf = map.next_value()?;
                        out.providers.insert(key, conf);
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for ProviderSettings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3 + self.providers.len()))?;
        m.serialize_entry("order", &self.order)?;
        m.serialize_entry("failover_after", &self.failover_after)?;
        m.serialize_entry(
            "probe_after",
            &humantime::format_duration(self.probe_after).to_string(),
        )?;
        for (name, conf) in &self.providers {
            m.serialize_entry(name, conf)?;
        }
        m.end()
    }
}

/// A secret from the environment. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(Arc::from(s.into()))
    }

    /// The value, for the one header it goes into.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The secrets read for one provider, by environment variable name.
#[derive(Debug, Clone, Default)]
pub struct Secrets(BTreeMap<&'static str, Secret>);

impl Secrets {
    /// Reads `names` through `env` (the process environment: `|k| std::env::var(k).ok()`);
    /// the names of required ones that are missing, blank or not fit for a header are the
    /// error (an optional one that is not fit is left out).
    pub fn read(
        names: &[(&'static str, bool)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<&'static str>> {
        let mut out = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, required) in names {
            match env(name).map(|v| v.trim().to_string()) {
                // A header cannot carry control characters: refused here, not at send.
                Some(v) if !v.is_empty() && !v.chars().any(|c| c.is_control()) => {
                    out.insert(*name, Secret::new(v));
                }
                _ if *required => missing.push(*name),
                _ => {}
            }
        }
        if missing.is_empty() {
            Ok(Self(out))
        } else {
            Err(missing)
        }
    }

    /// One secret.
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.0.get(name)
    }
}

impl Default for ProviderSettings {
    fn default() -> Self {
        Self {
            order: Vec::new(),
            failover_after: 3,
            probe_after: std::time::Duration::from_secs(30),
            providers: BTreeMap::new(),
        }
    }
}

impl ProviderSettings {
    /// The order, `["okra"]` when none is set.
    pub fn order(&self) -> Vec<&str> {
        if self.order.is_empty() {
            vec![PROVIDERS[0].name]
        } else {
            self.order.iter().map(String::as_str).collect()
        }
    }

    /// Whether a provider of the order sells `kind`: a job no provider sells is refused where
    /// it is enqueued with this configuration, never sent.
    pub fn sold(&self, kind: &str) -> Result<(), String> {
        if self
            .order()
            .into_iter()
            .filter_map(spec)
            .any(|s| s.sells(kind))
        {
            Ok(())
        } else {
            Err(format!(
                "no provider of provider.order ({}) sells {kind}",
                self.order().join(", ")
            ))
        }
    }

    /// One provider's settings (its defaults when it has no section).
    pub fn conf(&self, name: &str) -> ProviderConf {
        self.providers.get(name).cloned().unwrap_or_default()
    }

    /// The base URL of `name`: its setting, else its own.
    pub fn base_url(&self, name: &str) -> String {
        let set = self
            .providers
            .get(name)
            .map(|c| c.base_url.trim())
            .unwrap_or("");
        let url = if set.is_empty() {
            spec(name).map_or("", |s| s.base_url)
        } else {
            set
        };
        url.trim_end_matches('/').to_string()
    }

    /// Every problem, one line each: unknown names, a provider listed twice, a bad base URL,
    /// a missing secret, a price for a kind the provider does not sell, and a kind of
    /// `kinds` (what this worker serves) that no provider of the order sells.
    pub fn validate(&self, kinds: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let known = PROVIDERS
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(", ");
        let mut problems = Vec::new();
        for (i, name) in self.order.iter().enumerate() {
            if spec(name).is_none() {
                problems.push(format!(
                    "provider.order: unknown provider `{name}` (expected {known})"
                ));
            } else if self.order[..i].contains(name) {
                problems.push(format!("provider.order: `{name}` is listed twice"));
            }
        }
        for (name, conf) in &self.providers {
            let Some(s) = spec(name) else {
                problems.push(format!(
                    "[provider.{name}]: unknown provider (expected {known})"
                ));
                continue;
            };
            let url = conf.base_url.trim();
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "provider.{name}.base_url must start with http:// or https://"
                ));
            }
            for (kind, naira) in &conf.price {
                if !s.sells(kind) {
                    problems.push(format!(
                        "provider.{name}.price.{kind}: {name} does not sell {kind} (it sells {})",
                        s.kinds().join(", ")
                    ));
                } else if !naira.is_finite() || *naira < 0.0 {
                    problems.push(format!(
                        "provider.{name}.price.{kind} must be a number of naira, 0 or more"
                    ));
                }
            }
        }
        let order: Vec<&'static super::Spec> = self.order().into_iter().filter_map(spec).collect();
        for s in &order {
            if let Err(missing) = Secrets::read(s.secrets, env) {
                for var in missing {
                    problems.push(format!(
                        "provider {}: {var} is not set or not a valid header value (export it; any non-empty value works with `okra-sandbox --provider {}`)",
                        s.name, s.name
                    ));
                }
            }
        }
        for kind in kinds {
            if !order.is_empty() && !order.iter().any(|s| s.sells(kind)) {
                problems.push(format!(
                    "{kind}: no provider of provider.order ({}) sells it",
                    self.order().join(", ")
                ));
            }
        }
        problems
    }

    /// The providers of the order, built with their secrets and ready to call (primary
    /// first, with the client timeout and body limit of `[okra]`; Okra with its `[okra]`
    /// settings: `okra.base_url` unless `[provider.okra] base_url` is set, its free lookups,
    /// `testing`), as a [`super::Route`]; `validate()`'s lines when they cannot be.
    pub fn build(
        &self,
        okra: &crate::okra::OkraSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<super::Route, Vec<String>> {
        let problems = self.validate(&[], env);
        if !problems.is_empty() {
            return Err(problems);
        }
        let mut out = Vec::new();
        for name in self.order() {
            let s = spec(name).ok_or_else(|| vec![format!("unknown provider `{name}`")])?;
            let secrets = Secrets::read(s.secrets, env).map_err(|_| vec![name.to_string()])?;
            let mut conf = self.conf(name);
            let provider: Arc<dyn super::Provider> = if s.name == super::okra::SPEC.name {
                if conf.base_url.trim().is_empty() {
                    conf.base_url = okra.base_url.clone();
                }
                let key = secrets
                    .get("OKRA_SECRET_KEY")
                    .cloned()
                    .unwrap_or_else(|| Secret::new(""));
                Arc::new(super::okra::Okra::new(key, okra.clone()))
            } else {
                conf.base_url = self.base_url(name);
                (s.build)(&conf, &secrets)
            };
            out.push(
                super::Caller::new(provider, conf, okra.timeout, okra.max_body)
                    .map_err(|e| vec![e])?,
            );
        }
        Ok(super::Route::new(
            out,
            self.failover_after,
            self.probe_after,
        ))
    }
}
