//! Settings: built-in defaults, then a TOML file (`config/default.toml`, or `--config PATH`),
//! then environment variables, then command-line flags.
//!
//! Every key can be set from the environment as `OKQ_<SECTION>__<KEY>`, e.g.
//! `OKQ_REDIS__URL=redis://10.0.0.5:6379` or `OKQ_WORKER__CONCURRENCY=200`. Durations are
//! written like `"2s"`, `"500ms"`, `"1h 30m"`. The Okra secret key is never read from a file:
//! it comes from `OKRA_SECRET_KEY`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::backend::WorkerOptions;
use crate::error::QueueError;
use crate::ident::IndexKey;
use crate::policy::RetryPolicy;
use crate::queue::QueueConfig;
use crate::rdb::{AccountLimit, RedisSettings};

/// Where the settings file is looked for when no `--config` is given.
pub const DEFAULT_CONFIG_PATH: &str = "config/default.toml";

/// All settings of okra-queue's binaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// How to reach Redis.
    pub redis: RedisSettings,
    /// The queue.
    pub queue: QueueSettings,
    /// Retry budget and delays.
    pub retry: RetrySettings,
    /// Dead-letter limits.
    pub dead: DeadSettings,
    /// Worker processes.
    pub worker: WorkerSettings,
    /// The Okra API.
    pub okra: OkraSettings,
    /// Overrides of the failure classification.
    pub classification: ClassificationSettings,
    /// Logging.
    pub log: LogSettings,
}

/// `[queue]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// Queue name; all its keys share the hash tag `{name}`.
    pub name: String,
    /// How long completed jobs keep their record and result.
    #[serde(with = "humantime_serde")]
    pub completed_retention: Duration,
    /// How long an idempotency key blocks duplicates.
    #[serde(with = "humantime_serde")]
    pub idempotency_ttl: Duration,
    /// Attempt-history entries kept per job.
    pub history_cap: usize,
    /// Events kept in the queue's stream, about (0 = none written).
    pub events_max: u64,
    /// Key of the identity index (at least 16 bytes; a secret). Unset: jobs are not indexed.
    pub index_key: Option<IndexKey>,
}

impl Default for QueueSettings {
    fn default() -> Self {
        let q = QueueConfig::new("identity");
        Self {
            name: q.name,
            completed_retention: q.completed_retention,
            idempotency_ttl: q.idempotency_ttl,
            history_cap: q.history_cap,
            events_max: q.events_max,
            index_key: q.index_key,
        }
    }
}

/// `[retry]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySettings {
    /// Attempt budget per job.
    pub max_attempts: u32,
    /// First backoff ceiling (full jitter below it).
    #[serde(with = "humantime_serde")]
    pub base_delay: Duration,
    /// Backoff growth per attempt.
    pub factor: f64,
    /// Longest backoff ceiling.
    #[serde(with = "humantime_serde")]
    pub max_delay: Duration,
    /// No retry is scheduled later than this after enqueue (or requeue).
    #[serde(with = "humantime_serde")]
    pub retry_window: Duration,
    /// Minimum wait after Okra answers 429 (Retry-After wins when longer).
    #[serde(with = "humantime_serde")]
    pub rate_limit_delay: Duration,
    /// Minimum wait after Okra's 503 timeout.
    #[serde(with = "humantime_serde")]
    pub okra_timeout_delay: Duration,
    /// Longest wait a 429's `Retry-After` can impose on the fleet.
    #[serde(with = "humantime_serde")]
    pub max_rate_limit_delay: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        let p = RetryPolicy::default();
        Self {
            max_attempts: p.max_attempts,
            base_delay: p.base_delay,
            factor: p.factor,
            max_delay: p.max_delay,
            retry_window: p.retry_window,
            rate_limit_delay: Duration::from_secs(60),
            okra_timeout_delay: Duration::from_secs(2),
            max_rate_limit_delay: Duration::from_secs(600),
        }
    }
}

/// `[dead]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadSettings {
    /// Most dead letters kept (oldest trimmed first); 0 = no cap.
    pub max: u64,
    /// Dead letters older than this are trimmed; "0s" = never.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for DeadSettings {
    fn default() -> Self {
        let q = QueueConfig::new("x");
        Self {
            max: q.dead_max,
            ttl: q.dead_ttl,
        }
    }
}

/// `[worker]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerSettings {
    /// Jobs one process runs at once.
    pub concurrency: usize,
    /// Most jobs claimed per round trip.
    pub batch: usize,
    /// Lease (visibility timeout), extended while a job runs.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// Longest an idle worker waits before looking again.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often expired leases are taken back.
    #[serde(with = "humantime_serde")]
    pub reap_interval: Duration,
    /// How often dead letters and completed jobs are trimmed.
    #[serde(with = "humantime_serde")]
    pub trim_interval: Duration,
    /// How long running jobs may finish after SIGTERM before they are given back.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Prometheus endpoint (`host:port`); empty = none.
    pub metrics_addr: String,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        let w = WorkerOptions::default();
        Self {
            concurrency: w.concurrency,
            batch: w.batch,
            lease: w.lease,
            poll_interval: w.poll_interval,
            reap_interval: w.reap_interval,
            trim_interval: w.trim_interval,
            shutdown_grace: w.shutdown_grace,
            metrics_addr: String::new(),
        }
    }
}

/// `[okra]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OkraSettings {
    /// API base URL (Okra's sandbox was `https://api.okra.ng/v2/sandbox`; `okra-sandbox` runs
    /// locally).
    pub base_url: String,
    /// Client timeout per request (above Okra's own 60 s, so its 503 arrives first).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Fleet-wide limit: Okra calls per minute across every worker process (0 = none).
    pub requests_per_minute: u32,
    /// Send `"testing": true` in every request body.
    pub testing: bool,
    /// Largest answer body read (bytes); a larger one is class `oversized_body` and its
    /// connection is dropped.
    pub max_body: usize,
    /// The Okra account (one secret key): every queue with the same account shares one rate
    /// limit and one 429 throttle.
    pub account: String,
    /// Pause the queue after this many consecutive `not_found` failures of different jobs with
    /// no success between them (a wrong base URL or path); 0 = off.
    pub drain_guard: u32,
}

impl Default for OkraSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.okra.ng/v2".into(),
            timeout: Duration::from_secs(90),
            requests_per_minute: 60,
            testing: false,
            max_body: 1024 * 1024,
            account: "default".into(),
            drain_guard: 20,
        }
    }
}

/// One classification override: what a status or an Okra `type` means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSettings {
    /// Class recorded on the attempt and the dead letter.
    pub class: String,
    /// `retry`, `terminal`, `rate_limited`, `okra_timeout` or `pause` (the circuit breaker).
    pub action: String,
}

/// `[classification]`: overrides keyed by HTTP status (`"404"`, `"5xx"`, `"4xx"`) or by Okra
/// `type` (`FLAGGED_USER`), plus `transport` and `bad_body`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClassificationSettings {
    /// By HTTP status.
    pub status: BTreeMap<String, RuleSettings>,
    /// By Okra error `type`.
    #[serde(rename = "type")]
    pub okra_type: BTreeMap<String, RuleSettings>,
    /// Connect, reset, TLS errors and client timeouts.
    pub transport: Option<RuleSettings>,
    /// A 2xx answer whose body cannot be read.
    pub bad_body: Option<RuleSettings>,
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

impl Settings {
    /// Loads defaults, then `path` (or `config/default.toml` if it exists), then
    /// `OKQ_<SECTION>__<KEY>` environment variables. Flags and `REDIS_URL` / `OKQ_QUEUE` are
    /// applied on top by the binaries.
    pub fn load(path: Option<&Path>) -> Result<Self, QueueError> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
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
        let settings: Settings = fig
            .extract()
            .map_err(|e| QueueError::Config(flatten_figment_error(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), QueueError> {
        self.queue_config().validate()?;
        self.worker_options()
            .validate()
            .map_err(QueueError::Config)?;
        if !(self.okra.base_url.starts_with("http://")
            || self.okra.base_url.starts_with("https://"))
        {
            return Err(QueueError::Config(format!(
                "okra.base_url must start with http:// or https://, got `{}`",
                self.okra.base_url
            )));
        }
        if self.okra.timeout.is_zero() {
            return Err(QueueError::Config("okra.timeout must be positive".into()));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(QueueError::Config(format!(
                "log.format must be `pretty` or `json`, got `{}`",
                self.log.format
            )));
        }
        crate::okra::Classifier::from_settings(&self.classification)?;
        Ok(())
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.retry.max_attempts,
            base_delay: self.retry.base_delay,
            factor: self.retry.factor,
            max_delay: self.retry.max_delay,
            retry_window: self.retry.retry_window,
        }
    }

    /// The queue's shared settings; `okra.requests_per_minute` becomes the claim rate limit
    /// (with a one-second guard on the window so calls counted upstream never bunch up).
    pub fn queue_config(&self) -> QueueConfig {
        QueueConfig {
            name: self.queue.name.clone(),
            retry: self.policy(),
            dead_max: self.dead.max,
            dead_ttl: self.dead.ttl,
            completed_retention: self.queue.completed_retention,
            idempotency_ttl: self.queue.idempotency_ttl,
            history_cap: self.queue.history_cap,
            events_max: self.queue.events_max,
            index_key: self.queue.index_key.clone(),
            rate_limit: None,
            account: Some(AccountLimit {
                name: self.okra.account.clone(),
                limit: self.okra.requests_per_minute,
                window: Duration::from_secs(61),
            }),
        }
    }

    /// The worker options.
    pub fn worker_options(&self) -> WorkerOptions {
        WorkerOptions {
            concurrency: self.worker.concurrency,
            batch: self.worker.batch.min(self.worker.concurrency.max(1)),
            lease: self.worker.lease,
            poll_interval: self.worker.poll_interval,
            reap_interval: self.worker.reap_interval,
            trim_interval: self.worker.trim_interval,
            shutdown_grace: self.worker.shutdown_grace,
        }
    }
}

/// figment's errors span lines; one line reads better in a CLI.
fn flatten_figment_error(e: figment::Error) -> String {
    e.into_iter()
        .map(|e| {
            let path = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(path)) => format!(" (from {})", path.display()),
                    _ => format!(" (from {})", m.name),
                })
                .unwrap_or_default();
            if path.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("{path}: {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
// figment's `Jail` closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
        let q = Settings::default().queue_config();
        assert_eq!(q.name, "identity");
        let account = q.account.unwrap();
        assert_eq!((account.name.as_str(), account.limit), ("default", 60));
        assert!(q.rate_limit.is_none());
    }

    #[test]
    fn durations_and_overrides_parse() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                r#"
                [retry]
                base_delay = "500ms"
                okra_timeout_delay = "2s"
                [worker]
                concurrency = 7
                [classification.status."404"]
                class = "not_found"
                action = "retry"
                "#,
            )?;
            jail.set_env("OKQ_QUEUE__NAME", "kyc");
            jail.set_env("OKQ_RETRY__MAX_ATTEMPTS", "3");
            let s = Settings::load(Some(Path::new("c.toml"))).unwrap();
            assert_eq!(s.retry.base_delay, Duration::from_millis(500));
            assert_eq!(s.worker.concurrency, 7);
            assert_eq!(s.queue.name, "kyc");
            assert_eq!(s.retry.max_attempts, 3);
            assert_eq!(s.classification.status["404"].action, "retry");
            Ok(())
        });
    }

    #[test]
    fn bad_values_get_clear_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("c.toml", "[worker]\nlease = \"soon\"\n")?;
            let e = Settings::load(Some(Path::new("c.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("worker.lease"), "{e}");
            assert!(e.contains("/c.toml)"), "names the file: {e}");
            jail.create_file("d.toml", "[wroker]\nlease = \"1s\"\n")?;
            let e = Settings::load(Some(Path::new("d.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("wroker"), "{e}");
            let e = Settings::load(Some(Path::new("missing.toml")))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not found"), "{e}");
            Ok(())
        });
    }

    #[test]
    fn queue_events_index_key_and_redis_tls_come_from_the_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OKQ_QUEUE__EVENTS_MAX", "0");
            jail.set_env("OKQ_QUEUE__INDEX_KEY", "an-index-key-of-16+");
            jail.set_env("OKQ_REDIS__TLS_CA", "/etc/okq/ca.pem");
            let s = Settings::load(None).unwrap();
            assert_eq!(s.queue.events_max, 0);
            assert_eq!(s.queue_config().events_max, 0);
            assert!(s.queue_config().index_key.is_some());
            assert_eq!(
                s.redis.tls_ca.as_deref(),
                Some(Path::new("/etc/okq/ca.pem"))
            );
            jail.set_env("OKQ_QUEUE__INDEX_KEY", "short");
            let e = Settings::load(None).unwrap_err().to_string();
            assert!(e.contains("index_key") && e.contains("16 bytes"), "{e}");
            assert!(!e.contains("short\""), "the key is not echoed: {e}");
            Ok(())
        });
    }
}
