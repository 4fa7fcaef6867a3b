//! The binaries' settings, composed from the types they configure: built-in defaults, then a
//! TOML file (`config/default.toml`, or `--config PATH`), then environment variables, then
//! command-line flags.
//!
//! Each section of the file deserializes straight into the type it configures (`[redis]` into
//! [`RedisSettings`], `[queue]` into [`QueueConfig`], `[retry]` into [`RetryPolicy`] and the
//! Okra [`Delays`], `[dead]` into [`DeadLimits`], `[worker]` into [`WorkerOptions`] and the
//! worker's [`WorkerEndpoints`], `[okra]` into [`OkraSettings`], `[match]` into
//! [`MatchSettings`], ...): [`SECTIONS`] lists which
//! parts read which section, and is what unknown keys are checked against.
//!
//! Every key can be set from the environment as `OKQ_<SECTION>__<KEY>`, e.g.
//! `OKQ_REDIS__URL=redis://10.0.0.5:6379` or `OKQ_WORKER__CONCURRENCY=200`. Durations are
//! written like `"2s"`, `"500ms"`, `"1h 30m"`. The Okra secret key is never read from a file:
//! it comes from `OKRA_SECRET_KEY`.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::backend::WorkerOptions;
use crate::error::QueueError;
use crate::gateway::GatewaySettings;
use crate::okra::providers::{PROVIDERS, ProviderSettings};
use crate::okra::{ClassificationSettings, Classifier, Delays, MatchSettings, OkraSettings};
use crate::policy::RetryPolicy;
use crate::queue::{DeadLimits, QueueConfig};
use crate::rdb::RedisSettings;
use crate::seal::{SealSettings, Sealer};
use crate::telemetry::TelemetrySettings;

/// Where the settings file is looked for when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

/// All settings of okra-queue's binaries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// How to reach Redis (`[redis]`).
    pub redis: RedisSettings,
    /// The queue (`[queue]`); [`Settings::queue_config`] adds the retry policy, the dead-letter
    /// limits and the Okra account.
    pub queue: QueueConfig,
    /// Retry budget and backoff (`[retry]`).
    pub retry: RetryPolicy,
    /// The waits Okra's answers impose (`[retry]`, beside the policy).
    pub delays: Delays,
    /// Dead-letter limits (`[dead]`).
    pub dead: DeadLimits,
    /// How a worker process runs (`[worker]`).
    pub worker: WorkerOptions,
    /// What `okra-worker` serves over HTTP (`[worker]`, beside its options).
    pub endpoints: WorkerEndpoints,
    /// The Okra API (`[okra]`).
    pub okra: OkraSettings,
    /// Which identity providers, in which order (`[provider]`); none: Okra alone.
    pub provider: ProviderSettings,
    /// Overrides of the failure classification (`[classification]`).
    pub classification: ClassificationSettings,
    /// Matching a record against what the customer typed (`[match]`).
    pub matching: MatchSettings,
    /// Logging (`[log]`).
    pub log: LogSettings,
    /// Sealing at rest (`[seal]`).
    pub seal: SealSettings,
    /// Traces and their export (`[telemetry]`).
    pub telemetry: TelemetrySettings,
    /// The HTTP gateway (`[gateway]`).
    pub gateway: GatewaySettings,
    /// Webhook deliveries (`[webhooks]`).
    pub webhooks: crate::webhooks::WebhookSettings,
    /// The keys of `seal.keys_file`, read and checked by [`Settings::load`].
    pub sealer: Option<std::sync::Arc<Sealer>>,
}

/// What `okra-worker` serves over HTTP and how its process runs (`[worker]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerEndpoints {
    /// Prometheus endpoint (`host:port`); empty = none.
    pub metrics_addr: String,
    /// Threads the process runs its jobs on. One (the default) is enough for thousands of
    /// Okra jobs a second and spends far less CPU per job than many (no cross-thread wake-ups);
    /// scale out with more processes. 0 = one per core.
    pub threads: usize,
}

impl Default for WorkerEndpoints {
    fn default() -> Self {
        Self {
            metrics_addr: String::new(),
            threads: 1,
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: String,
    /// `RUST_LOG`-style filter.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
    }
}

/// The keys a type takes, from its defaults (every field serializes, `None` as null).
fn keys_of<T: Serialize + Default>() -> Vec<String> {
    match serde_json::to_value(T::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Every section of a settings file with the keys its parts take.
pub static SECTIONS: std::sync::LazyLock<Vec<(&'static str, Vec<String>)>> =
    std::sync::LazyLock::new(|| {
        vec![
            ("redis", keys_of::<RedisSettings>()),
            ("queue", keys_of::<QueueConfig>()),
            (
                "retry",
                [keys_of::<RetryPolicy>(), keys_of::<Delays>()].concat(),
            ),
            ("dead", keys_of::<DeadLimits>()),
            (
                "worker",
                [keys_of::<WorkerOptions>(), keys_of::<WorkerEndpoints>()].concat(),
            ),
            ("okra", keys_of::<OkraSettings>()),
            (
                "provider",
                keys_of::<ProviderSettings>()
                    .into_iter()
                    .chain(PROVIDERS.iter().map(|p| p.name.to_string()))
                    .collect(),
            ),
            ("classification", keys_of::<ClassificationSettings>()),
            ("match", keys_of::<MatchSettings>()),
            ("log", keys_of::<LogSettings>()),
            ("seal", keys_of::<SealSettings>()),
            ("telemetry", keys_of::<TelemetrySettings>()),
            ("gateway", keys_of::<GatewaySettings>()),
            ("webhooks", keys_of::<crate::webhooks::WebhookSettings>()),
        ]
    });

impl Settings {
    /// Loads defaults, then `path` (or `config/default.toml` if it exists), then
    /// `OKQ_<SECTION>__<KEY>` environment variables. Flags and `REDIS_URL` / `OKQ_QUEUE` are
    /// applied on top by the binaries. Every problem is reported, one per line's worth, `; `
    /// between them.
    pub fn load(path: Option<&Path>) -> Result<Self, QueueError> {
        let mut fig = Figment::new();
        match path {
            Some(p) if !p.exists() => {
                return Err(QueueError::Config(format!(
                    "config file {} not found",
                    p.display()
                )));
            }
            Some(p) => fig = fig.merge(Toml::file(p)),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                fig = fig.merge(Toml::file(DEFAULT_CONFIG_PATH))
            }
            None => {}
        }
        // `OKQ_CONFIG` names the file and `OKQ_QUEUE` is the binaries' `--queue`: neither is a
        // setting (settings are `OKQ_<SECTION>__<KEY>`).
        fig = fig.merge(
            Env::prefixed("OKQ_")
                .ignore(&["config", "queue"])
                .split("__"),
        );
        let mut problems = unknown_keys(&fig);
        let mut part = |section: &str| -> Option<Figment> {
            // A section that is not a table is a problem of its own; its parts keep defaults.
            match fig.find_value(section) {
                Ok(v) if v.as_dict().is_none() => {
                    problems.push(format!(
                        "{section}: expected a table{}",
                        source(&fig, section)
                    ));
                    None
                }
                _ => Some(fig.focus(section)),
            }
        };
        let hooks = part("webhooks");
        let (
            redis,
            queue,
            retry,
            dead,
            worker,
            okra,
            provider,
            classification,
            matching,
            log,
            seal,
            telemetry,
        ) = (
            part("redis"),
            part("queue"),
            part("retry"),
            part("dead"),
            part("worker"),
            part("okra"),
            part("provider"),
            part("classification"),
            part("match"),
            part("log"),
            part("seal"),
            part("telemetry"),
        );
        let gateway = part("gateway");
        let mut read = Reader {
            problems: &mut problems,
        };
        let mut settings = Settings {
            redis: read.part(&redis, "redis"),
            queue: read.part(&queue, "queue"),
            retry: read.part(&retry, "retry"),
            delays: read.part(&retry, "retry"),
            dead: read.part(&dead, "dead"),
            worker: read.part(&worker, "worker"),
            endpoints: read.part(&worker, "worker"),
            okra: read.part(&okra, "okra"),
            provider: read.part(&provider, "provider"),
            classification: read.part(&classification, "classification"),
            matching: read.part(&matching, "match"),
            log: read.part(&log, "log"),
            seal: read.part(&seal, "seal"),
            telemetry: read.part(&telemetry, "telemetry"),
            gateway: read.part(&gateway, "gateway"),
            webhooks: read.part(&hooks, "webhooks"),
            sealer: None,
        };
        // An empty value (`OKQ_SEAL__KEYS_FILE=`) turns sealing off, like an unset one.
        settings.seal.keys_file = settings
            .seal
            .keys_file
            .take()
            .filter(|p| !p.as_os_str().is_empty());
        if let Some(path) = settings.seal.keys_file.clone() {
            match Sealer::from_file(&path) {
                Ok(s) => settings.sealer = Some(std::sync::Arc::new(s)),
                Err(e) => problems.push(e),
            }
        }
        // The TLS files, as the seal keys: read at load (the URL may still come from a flag).
        problems.extend(settings.redis.check_files());
        problems.extend(settings.problems());
        if problems.is_empty() {
            Ok(settings)
        } else {
            problems.dedup();
            Err(QueueError::Config(problems.join("; ")))
        }
    }

    /// Checks every value; the error lists every problem, `; ` between them.
    pub fn validate(&self) -> Result<(), QueueError> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(QueueError::Config(problems.join("; ")))
        }
    }

    /// Every value that does not make sense, one message each (a section reports its first).
    pub fn problems(&self) -> Vec<String> {
        let message = |e: QueueError| match e {
            QueueError::Config(m) => m,
            other => other.to_string(),
        };
        let mut problems = Vec::new();
        if let Err(e) = self.queue_config().validate() {
            problems.push(message(e));
        }
        if let Err(e) = self.worker.validate() {
            problems.push(e);
        }
        if let Err(e) = self.okra.validate() {
            problems.push(e);
        }
        problems.extend(self.telemetry.problems());
        if let Err(e) = self.matching.validate() {
            problems.push(e);
        }
        problems.extend(self.webhooks.validate().err());
        // Names, URLs and prices here; secrets where a binary needs them (`okra-worker`).
        problems.extend(self.provider.validate(&[], &|_| Some("set".into())));
        problems.extend(self.gateway.validate().err());
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            problems.push(format!(
                "log.format must be `pretty` or `json`, got `{}`",
                self.log.format
            ));
        }
        if let Err(e) = Classifier::from_settings(&self.classification) {
            problems.push(message(e));
        }
        if !self.okra.reuse_window.is_zero() && self.queue.index_key.is_none() {
            problems.push(
                "okra.reuse_window needs queue.index_key: the reuse store is keyed by the keyed hash of each identifier, never the number".into(),
            );
        }
        problems
    }

    /// What a configuration can still get wrong once flags changed it: the Redis URL and the
    /// TLS files it names (read, and holding PEM). Empty when sound.
    pub fn check(&self) -> Vec<String> {
        self.redis.check()
    }

    /// The effective settings, one `section.key = value` line each, secrets masked (see
    /// [`masked`]); what `--check-config` prints.
    pub fn effective(&self) -> Vec<String> {
        let parts: [(&str, serde_json::Result<serde_json::Value>); 16] = [
            ("redis", serde_json::to_value(&self.redis)),
            ("queue", serde_json::to_value(&self.queue)),
            ("retry", serde_json::to_value(&self.retry)),
            ("retry", serde_json::to_value(self.delays)),
            ("dead", serde_json::to_value(&self.dead)),
            ("worker", serde_json::to_value(&self.worker)),
            ("worker", serde_json::to_value(&self.endpoints)),
            ("okra", serde_json::to_value(&self.okra)),
            ("provider", serde_json::to_value(&self.provider)),
            ("classification", serde_json::to_value(&self.classification)),
            ("match", serde_json::to_value(&self.matching)),
            ("log", serde_json::to_value(&self.log)),
            ("seal", serde_json::to_value(&self.seal)),
            ("telemetry", serde_json::to_value(&self.telemetry)),
            ("gateway", serde_json::to_value(&self.gateway)),
            ("webhooks", serde_json::to_value(&self.webhooks)),
        ];
        let mut lines = Vec::new();
        for (section, value) in parts {
            let Ok(serde_json::Value::Object(map)) = value else {
                continue;
            };
            for (key, v) in map {
                let shown = masked(&key, v);
                lines.push(format!("{section}.{key} = {shown}"));
            }
        }
        lines
    }

    /// The queue's shared settings: `[queue]` with the retry policy, the dead-letter limits and
    /// the Okra account (whose `requests_per_minute` is the claim rate limit).
    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            retry: self.retry.clone(),
            dead: self.dead.clone(),
            account: Some(self.okra.account_limit()),
            rate_limit: None,
            seal: self.sealer.clone(),
            ..self.queue.clone()
        }
    }
}

/// A setting as `--check-config` shows it: a key that names a secret (`index_key`, a
/// password, a token, a secret) as `(set, masked)`, and in every string, list and table
/// the password of any URL or address with credentials (`redis.url`, `redis.sentinels`, a
/// cluster's seed list, a base URL): `user:***@host`. Paths (TLS files, the keys file) are
/// shown: they are not secrets.
fn masked(key: &str, v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let secret = ["index_key", "password", "secret", "token"]
        .iter()
        .any(|s| key.contains(s));
    match v {
        Value::Null => Value::Null,
        _ if secret => Value::String("(set, masked)".into()),
        Value::String(text) => Value::String(
            text.split(',')
                .map(without_password)
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|i| masked(key, i)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.clone(), masked(&k, v)))
                .collect(),
        ),
        other => other,
    }
}

/// One URL or `[user:password@]host:port` with its password (or lone credential) masked;
/// text without credentials unchanged.
fn without_password(part: &str) -> String {
    let start = part.find("://").map_or(0, |i| i + 3);
    let Some(at) = part[start..].rfind('@') else {
        return part.to_string();
    };
    let creds = &part[start..start + at];
    // A path with an `@` in it is not a URL with credentials.
    if creds.contains('/') {
        return part.to_string();
    }
    let masked = match creds.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".into(),
    };
    format!("{}{masked}{}", &part[..start], &part[start + at..])
}

/// `--check-config` of a binary: every problem of a configuration (`loaded` is what
/// [`Settings::load`] and the binary's flags made of it; `more` adds the binary's own checks,
/// given the settings when they loaded),
/// or, when there is none, the effective settings. Returns whether it is sound and the text to
/// print (problems one per line).
pub fn check_report(
    loaded: Result<Settings, QueueError>,
    more: impl FnOnce(Option<&Settings>) -> Vec<String>,
) -> (bool, String) {
    let problems: Vec<String> = match &loaded {
        Err(QueueError::Config(list)) => list.split("; ").map(str::to_string).collect(),
        Err(e) => vec![e.to_string()],
        Ok(s) => s.check(),
    }
    .into_iter()
    .chain(more(loaded.as_ref().ok()))
    .collect();
    match loaded {
        Ok(s) if problems.is_empty() => {
            let mut text = String::from("configuration OK; effective settings (secrets masked):\n");
            for line in s.effective() {
                text.push_str("  ");
                text.push_str(&line);
                text.push('\n');
            }
            (true, text)
        }
        _ => {
            let n = problems.len();
            let mut text = format!(
                "{n} problem{} in the configuration:\n",
                if n == 1 { "" } else { "s" }
            );
            for p in problems {
                text.push_str("  - ");
                text.push_str(&p);
                text.push('\n');
            }
            (false, text)
        }
    }
}

/// `--check-config [--connect]` of a binary: the report of [`check_report`], after connecting
/// to Redis (and checking the server) when `connect` is set; printed to stdout when sound, to
/// stderr (every problem, one per line) otherwise. Returns whether it is sound.
pub async fn run_check(
    loaded: Result<Settings, QueueError>,
    more: impl FnOnce(Option<&Settings>) -> Vec<String>,
    connect: bool,
) -> bool {
    let settings = loaded.as_ref().ok().cloned();
    let (mut sound, mut text) = check_report(loaded, more);
    if sound
        && connect
        && let Some(s) = settings
    {
        match crate::queue::Queue::connect(&s.redis, s.queue_config()).await {
            Ok(_) => text.push_str(&format!("Redis at {} answers\n", s.redis.display_url())),
            Err(e) => {
                sound = false;
                text = format!("1 problem in the configuration:\n  - redis: {e}\n");
            }
        }
    }
    if sound {
        print!("{text}");
    } else {
        eprint!("{text}");
    }
    sound
}

/// Reads the parts of the sections, collecting every problem.
struct Reader<'a> {
    problems: &'a mut Vec<String>,
}

impl Reader<'_> {
    fn part<T: DeserializeOwned + Default>(&mut self, fig: &Option<Figment>, section: &str) -> T {
        let Some(fig) = fig else {
            return T::default();
        };
        fig.extract::<T>().unwrap_or_else(|e| {
            self.problems.extend(flatten_figment_error(e, section));
            T::default()
        })
    }
}

/// Keys no part of their section takes, and sections nobody reads.
fn unknown_keys(fig: &Figment) -> Vec<String> {
    let Ok(figment::value::Value::Dict(_, root)) = fig.extract::<figment::value::Value>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (section, value) in &root {
        let Some((_, keys)) = SECTIONS.iter().find(|(s, _)| s == section) else {
            out.push(format!(
                "unknown section `{section}` (expected one of {}){}",
                SECTIONS
                    .iter()
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
                    .join(", "),
                source(fig, section)
            ));
            continue;
        };
        if let Some(dict) = value.as_dict() {
            for key in dict.keys() {
                if !keys.contains(key) {
                    out.push(format!(
                        "{section}.{key}: unknown key (expected one of {}){}",
                        keys.join(", "),
                        source(fig, &format!("{section}.{key}"))
                    ));
                }
            }
        }
    }
    out
}

/// ` (from FILE)`, or ` (from <provider>)`, for the value at `path`.
fn source(fig: &Figment, path: &str) -> String {
    fig.find_metadata(path)
        .map(|m| match &m.source {
            Some(figment::Source::File(file)) => format!(" (from {})", file.display()),
            _ => format!(" (from {})", m.name),
        })
        .unwrap_or_default()
}

/// figment's errors span lines; one line each reads better in a CLI. `section` is prefixed
/// to the paths (the parts are read from their focused section).
fn flatten_figment_error(e: figment::Error, section: &str) -> Vec<String> {
    e.into_iter()
        .map(|e| {
            let path = std::iter::once(section.to_string())
                .chain(e.path.iter().cloned())
                .collect::<Vec<_>>()
                .join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(path)) => format!(" (from {})", path.display()),
                    _ => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            format!("{path}: {}{source}", e.kind)
        })
        .collect()
}

#[cfg(test)]
mod tests;
