//! Okra's failures, classified (defaults from Okra's error page; every row can be overridden in
//! `[classification]`). A known Okra `type` decides over the HTTP status.
//!
//! | matched by | class | action |
//! |---|---|---|
//! | HTTP 503 | `okra_timeout` | retry after at least `retry.okra_timeout_delay` |
//! | HTTP 429, type `RATE_LIMIT` | `rate_limited` | retry after max(`retry.rate_limit_delay`, Retry-After) capped by `retry.max_rate_limit_delay`, no attempt spent, the account is throttled |
//! | HTTP 500, 502, 504, other 5xx, 408 | `server_error` | retry with backoff |
//! | connect/reset/TLS error, client timeout | `server_error` | retry with backoff |
//! | 2xx body that cannot be read | `malformed_body` | retry with backoff |
//! | body over `okra.max_body` | `oversized_body` | retry with backoff |
//! | HTTP 3xx (never followed) | `unexpected_redirect` | pause (circuit breaker) |
//! | HTTP 401 / 403 | `unauthorized` / `forbidden` | pause (circuit breaker) |
//! | type `PLAN`, `EXPIRED`, `ENV` | the type, lower-cased | pause (circuit breaker) |
//! | HTTP 400 / 404 / 422 | `bad_request` / `not_found` / `unprocessable` | terminal |
//! | other 4xx | `client_error` | terminal |
//! | type `FLAGGED_USER`, `SUSPENDED`, `NO_RECORD_ID` | the type, lower-cased | terminal |
//! | error body with a 2xx status and no known type | `okra_error` | terminal |
//! | other types (`EMPTY_QUEUE`, `SLA`, `KILL`, ...) | decided by the HTTP status | |
//!
//! A success whose profile is not the documented shape (`malformed_body`, retry) or names
//! another identifier (`mismatched_profile`, terminal) is judged in [`super::profile`].

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{ClassificationSettings, RuleSettings};
use crate::error::QueueError;
use crate::okra::client::OkraError;
use crate::policy::JobError;

/// What a class of failure does to the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Retry with exponential backoff.
    Retry,
    /// Dead letter now.
    Terminal,
    /// Retry after the rate-limit wait without spending an attempt; the fleet stops calling.
    RateLimited,
    /// Retry after Okra's "short delay"; a BVN verify looks for the profile first.
    OkraTimeout,
    /// The circuit breaker: the failure is the account's, not the job's (every job would fail
    /// the same way). The queue pauses with a reason; the job goes back without spending an
    /// attempt.
    Pause,
}

impl Action {
    fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "retry" => Self::Retry,
            "terminal" => Self::Terminal,
            "rate_limited" => Self::RateLimited,
            "okra_timeout" => Self::OkraTimeout,
            "pause" => Self::Pause,
            other => {
                return Err(format!(
                    "unknown action `{other}` (expected retry, terminal, rate_limited, okra_timeout or pause)"
                ));
            }
        })
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Class recorded with the attempt.
    pub class: String,
    /// What happens.
    pub action: Action,
}

fn rule(class: &str, action: Action) -> Rule {
    Rule {
        class: class.into(),
        action,
    }
}

/// The delays the table's actions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delays {
    /// Minimum wait after a 429.
    pub rate_limit: Duration,
    /// Minimum wait after a 503.
    pub okra_timeout: Duration,
    /// Longest wait a 429's `Retry-After` can impose.
    pub max_rate_limit: Duration,
}

/// The classification table.
#[derive(Debug, Clone)]
pub struct Classifier {
    by_status: HashMap<u16, Rule>,
    by_type: HashMap<String, Rule>,
    server_error: Rule,
    client_error: Rule,
    success_error: Rule,
    transport: Rule,
    bad_body: Rule,
    redirect: Rule,
    oversized: Rule,
}

impl Default for Classifier {
    fn default() -> Self {
        use Action::*;
        let by_status = HashMap::from([
            (503, rule("okra_timeout", OkraTimeout)),
            (429, rule("rate_limited", RateLimited)),
            (408, rule("server_error", Retry)),
            (400, rule("bad_request", Terminal)),
            (401, rule("unauthorized", Pause)),
            (403, rule("forbidden", Pause)),
            (404, rule("not_found", Terminal)),
            (422, rule("unprocessable", Terminal)),
        ]);
        let mut by_type: HashMap<String, Rule> = [
            ("FLAGGED_USER", Terminal),
            ("SUSPENDED", Terminal),
            ("NO_RECORD_ID", Terminal),
            ("PLAN", Pause),
            ("EXPIRED", Pause),
            ("ENV", Pause),
        ]
        .into_iter()
        .map(|(t, a)| (t.to_string(), rule(&t.to_ascii_lowercase(), a)))
        .collect();
        by_type.insert("RATE_LIMIT".into(), rule("rate_limited", RateLimited));
        Self {
            by_status,
            by_type,
            server_error: rule("server_error", Retry),
            client_error: rule("client_error", Terminal),
            success_error: rule("okra_error", Terminal),
            transport: rule("server_error", Retry),
            bad_body: rule("malformed_body", Retry),
            redirect: rule("unexpected_redirect", Pause),
            oversized: rule("oversized_body", Retry),
        }
    }
}

impl Classifier {
    /// The default table with the configured overrides.
    pub fn from_settings(s: &ClassificationSettings) -> Result<Self, QueueError> {
        let mut c = Self::default();
        let parse = |where_: &str, r: &RuleSettings| -> Result<Rule, QueueError> {
            if r.class.trim().is_empty() {
                return Err(QueueError::Config(format!(
                    "classification.{where_}: class is empty"
                )));
            }
            Ok(Rule {
                class: r.class.clone(),
                action: Action::parse(&r.action)
                    .map_err(|e| QueueError::Config(format!("classification.{where_}: {e}")))?,
            })
        };
        for (key, r) in &s.status {
            let rule = parse(&format!("status.{key}"), r)?;
            match key.as_str() {
                "5xx" => c.server_error = rule,
                "4xx" => c.client_error = rule,
                "2xx" => c.success_error = rule,
                code => {
                    let code: u16 = code.parse().ok().filter(|c| (100..600).contains(c)).ok_or_else(|| {
                        QueueError::Config(format!(
                            "classification.status: `{code}` is not an HTTP status, `2xx`, `4xx` or `5xx`"
                        ))
                    })?;
                    c.by_status.insert(code, rule);
                }
            }
        }
        for (key, r) in &s.okra_type {
            c.by_type
                .insert(key.to_ascii_uppercase(), parse(&format!("type.{key}"), r)?);
        }
        if let Some(r) = &s.transport {
            c.transport = parse("transport", r)?;
        }
        if let Some(r) = &s.bad_body {
            c.bad_body = parse("bad_body", r)?;
        }
        Ok(c)
    }

    /// True when `class` is the class of a row whose action is `okra_timeout` (so a BVN verify
    /// that failed with it looks for the profile before paying for a second verify).
    pub fn is_okra_timeout_class(&self, class: &str) -> bool {
        self.by_status
            .values()
            .chain(self.by_type.values())
            .chain([
                &self.server_error,
                &self.client_error,
                &self.success_error,
                &self.transport,
                &self.bad_body,
                &self.redirect,
                &self.oversized,
            ])
            .any(|r| r.action == Action::OkraTimeout && r.class == class)
    }

    /// The class given to calls that got no answer (connect, reset, timeout).
    pub fn transport_class(&self) -> &str {
        &self.transport.class
    }

    /// The row that matches a failure.
    pub fn rule(&self, e: &OkraError) -> &Rule {
        match e {
            OkraError::Transport { .. } => &self.transport,
            OkraError::BadBody { .. } => &self.bad_body,
            OkraError::Redirect { .. } => &self.redirect,
            OkraError::Oversized { .. } => &self.oversized,
            OkraError::Api { status, body, .. } => {
                if let Some(r) = body.error_type.as_ref().and_then(|t| self.by_type.get(t)) {
                    return r;
                }
                if let Some(r) = self.by_status.get(status) {
                    return r;
                }
                match status {
                    500..=599 => &self.server_error,
                    400..=499 => &self.client_error,
                    _ => &self.success_error,
                }
            }
        }
    }

    /// The job error for a failure, carrying everything Okra said.
    pub fn job_error(&self, e: &OkraError, delays: &Delays) -> (JobError, Action) {
        let rule = self.rule(e);
        let message = e.to_string();
        let je = match rule.action {
            Action::Terminal => JobError::terminal(&rule.class, message),
            Action::Retry => JobError::retryable(&rule.class, message),
            // Not the job's fault: back to ready at once, the attempt given back.
            Action::Pause => JobError::retryable(&rule.class, message).without_attempt(),
            Action::OkraTimeout => {
                JobError::retryable(&rule.class, message).with_delay(delays.okra_timeout)
            }
            Action::RateLimited => {
                let wait = match e {
                    OkraError::Api {
                        retry_after: Some(ra),
                        ..
                    } => delays.rate_limit.max(*ra),
                    _ => delays.rate_limit,
                }
                .min(delays.max_rate_limit.max(delays.rate_limit));
                JobError::retryable(&rule.class, message)
                    .with_delay(wait)
                    .without_attempt()
            }
        };
        let je = match e {
            OkraError::Api {
                status,
                body,
                excerpt,
                ..
            } => je
                .http_status(*status)
                .upstream(
                    body.error_type.clone(),
                    body.code.clone(),
                    body.method.clone(),
                )
                .body(excerpt),
            OkraError::BadBody {
                status, excerpt, ..
            } => je.http_status(*status).body(excerpt),
            OkraError::Redirect { status, .. } | OkraError::Oversized { status, .. } => {
                je.http_status(*status)
            }
            OkraError::Transport { .. } => je,
        };
        (je, rule.action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::okra::client::{ErrorBody, read_answer};
    use crate::policy::ErrorAction;

    const DELAYS: Delays = Delays {
        rate_limit: Duration::from_secs(60),
        okra_timeout: Duration::from_secs(2),
        max_rate_limit: Duration::from_secs(600),
    };

    #[test]
    fn retry_after_is_capped_and_account_failures_pause() {
        let (je, action) = Classifier::default().job_error(&api(429, None, Some(86_400)), &DELAYS);
        assert_eq!(action, Action::RateLimited);
        assert_eq!(
            je.action,
            ErrorAction::Retry {
                delay: Some(Duration::from_secs(600)),
                spend_attempt: false
            }
        );
        for (e, class) in [
            (api(401, None, None), "unauthorized"),
            (api(403, None, None), "forbidden"),
            (api(200, Some("PLAN"), None), "plan"),
            (api(200, Some("EXPIRED"), None), "expired"),
            (api(200, Some("ENV"), None), "env"),
            (
                OkraError::Redirect {
                    status: 301,
                    location: None,
                },
                "unexpected_redirect",
            ),
        ] {
            let (je, action) = Classifier::default().job_error(&e, &DELAYS);
            assert_eq!((je.class(), action), (class, Action::Pause));
            assert!(!je.is_terminal(), "{class}: back to ready, not dead");
        }
        // Input problems of one job never pause anything.
        for e in [
            api(400, None, None),
            api(422, None, None),
            api(200, Some("FLAGGED_USER"), None),
            api(200, Some("SUSPENDED"), None),
            api(200, Some("NO_RECORD_ID"), None),
        ] {
            assert_eq!(
                Classifier::default().job_error(&e, &DELAYS).1,
                Action::Terminal
            );
        }
    }

    fn classify(status: u16, body: &str) -> (JobError, Action) {
        let e = read_answer(status, body.as_bytes(), None).unwrap_err();
        Classifier::default().job_error(&e, &DELAYS)
    }

    fn api(status: u16, error_type: Option<&str>, retry_after: Option<u64>) -> OkraError {
        OkraError::Api {
            status,
            body: Box::new(ErrorBody {
                error_type: error_type.map(str::to_string),
                ..ErrorBody::default()
            }),
            excerpt: String::new(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn the_default_table() {
        let c = Classifier::default();
        let class = |e: OkraError| (c.rule(&e).class.clone(), c.rule(&e).action);
        assert_eq!(
            class(api(503, None, None)),
            ("okra_timeout".into(), Action::OkraTimeout)
        );
        assert_eq!(
            class(api(429, None, None)),
            ("rate_limited".into(), Action::RateLimited)
        );
        assert_eq!(
            class(api(200, Some("RATE_LIMIT"), None)).1,
            Action::RateLimited
        );
        for s in [500, 502, 504, 599, 408] {
            assert_eq!(
                class(api(s, None, None)),
                ("server_error".into(), Action::Retry),
                "{s}"
            );
        }
        assert_eq!(
            class(api(404, None, None)),
            ("not_found".into(), Action::Terminal)
        );
        assert_eq!(
            class(api(418, None, None)),
            ("client_error".into(), Action::Terminal)
        );
        assert_eq!(
            class(api(200, Some("FLAGGED_USER"), None)),
            ("flagged_user".into(), Action::Terminal)
        );
        // a known type decides over the status
        assert_eq!(
            class(api(503, Some("SUSPENDED"), None)),
            ("suspended".into(), Action::Terminal)
        );
        // other types go by the status
        assert_eq!(class(api(502, Some("SLA"), None)).0, "server_error");
        assert_eq!(class(api(200, Some("EMPTY_QUEUE"), None)).0, "okra_error");
        let t = OkraError::Transport {
            timeout: true,
            message: "timed out".into(),
        };
        assert_eq!(class(t), ("server_error".into(), Action::Retry));
    }

    #[test]
    fn job_errors_carry_delays_and_details() {
        let (je, _) = classify(
            503,
            r#"{"status":"error","message":"Our data source has returned a timeout response. "}"#,
        );
        assert_eq!(
            je.action,
            ErrorAction::Retry {
                delay: Some(Duration::from_secs(2)),
                spend_attempt: true
            }
        );
        assert_eq!(je.failure.http_status, Some(503));
        let e = api(429, None, Some(120));
        let (je, action) = Classifier::default().job_error(&e, &DELAYS);
        assert_eq!(action, Action::RateLimited);
        assert_eq!(
            je.action,
            ErrorAction::Retry {
                delay: Some(Duration::from_secs(120)),
                spend_attempt: false
            }
        );
        let (je, _) = classify(
            200,
            r#"{"status":"error","message":"flagged","type":"FLAGGED_USER","code":"F1","method":"verify"}"#,
        );
        assert!(je.is_terminal());
        assert_eq!(je.class(), "flagged_user");
        assert_eq!(je.failure.error_type.as_deref(), Some("FLAGGED_USER"));
        assert_eq!(je.failure.code.as_deref(), Some("F1"));
        assert!(je.failure.body.as_deref().unwrap().contains("flagged"));
    }

    #[test]
    fn overrides_replace_rows() {
        let mut s = ClassificationSettings::default();
        s.status.insert(
            "404".into(),
            RuleSettings {
                class: "not_yet".into(),
                action: "retry".into(),
            },
        );
        s.okra_type.insert(
            "dupLICATED_QUEUE".into(),
            RuleSettings {
                class: "duplicate".into(),
                action: "retry".into(),
            },
        );
        let c = Classifier::from_settings(&s).unwrap();
        assert_eq!(c.rule(&api(404, None, None)).action, Action::Retry);
        assert_eq!(
            c.rule(&api(400, Some("DUPLICATED_QUEUE"), None)).class,
            "duplicate"
        );
        s.status.insert(
            "9xx".into(),
            RuleSettings {
                class: "x".into(),
                action: "retry".into(),
            },
        );
        assert!(Classifier::from_settings(&s).is_err());
        let mut s = ClassificationSettings::default();
        s.status.insert(
            "500".into(),
            RuleSettings {
                class: "x".into(),
                action: "explode".into(),
            },
        );
        assert!(
            Classifier::from_settings(&s)
                .unwrap_err()
                .to_string()
                .contains("unknown action")
        );
    }
}
