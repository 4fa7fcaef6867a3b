//! Okra's failures, classified. The default table is written once, in [`TABLE`]: the
//! classifier is built from it, and the README's table is its rendering ([`readme_table`],
//! checked by a test). A known Okra `type` decides over the HTTP status; every row can be
//! overridden in `[classification]`.
//!
//! A success whose profile is not the documented shape (`malformed_body`, retry) or names
//! another identifier (`mismatched_profile`, terminal) is judged in [`super::profile`].

use std::collections::HashMap;

pub use super::rule::{Action, Rule};
use super::settings::{ClassificationSettings, Delays, RuleSettings};
use crate::error::QueueError;
use crate::okra::client::OkraError;
use crate::policy::JobError;

/// What a rule of the default table matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// One HTTP status.
    Status(u16),
    /// An Okra error `type`.
    Type(&'static str),
    /// Any other 5xx.
    Other5xx,
    /// Any other 4xx.
    Other4xx,
    /// An error body sent with a 2xx status and no known type.
    ErrorBody2xx,
    /// No answer: connect, reset, TLS error or client timeout.
    Transport,
    /// A 2xx body that cannot be read.
    BadBody,
    /// A 3xx (never followed).
    Redirect,
    /// A body over `okra.max_body`.
    Oversized,
}

/// One line of the default classification, as the README shows it, with the rules it stands
/// for (none for lines that describe what other parts decide).
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// What it matches, in words (the README's first column).
    pub matched_by: &'static str,
    /// The class, in words (the second column).
    pub class: &'static str,
    /// What happens (the third column).
    pub effect: &'static str,
    /// The classifier's rules: what they match, their class and action.
    pub rules: &'static [(Match, &'static str, Action)],
}

use Action::{OkraTimeout, Pause, RateLimited, Retry, Terminal};

/// The default classification (from Okra's error page), written once.
pub const TABLE: &[Entry] = &[
    Entry {
        matched_by: "HTTP 503",
        class: "`okra_timeout`",
        effect: "retry after at least `retry.okra_timeout_delay` (2 s); the charge is uncertain, so the next attempt looks first (see [What it costs](#what-it-costs))",
        rules: &[(Match::Status(503), "okra_timeout", OkraTimeout)],
    },
    Entry {
        matched_by: "HTTP 429, or type `RATE_LIMIT`",
        class: "`rate_limited`",
        effect: "retry after `max(retry.rate_limit_delay (60 s), Retry-After)`, capped by `retry.max_rate_limit_delay` (10 min), **no attempt spent**, and every queue on the Okra account stops calling Okra until then (`okra-admin queue unthrottle` lifts it)",
        rules: &[
            (Match::Status(429), "rate_limited", RateLimited),
            (Match::Type("RATE_LIMIT"), "rate_limited", RateLimited),
        ],
    },
    Entry {
        matched_by: "HTTP 500, 502, 504, other 5xx, 408",
        class: "`server_error`",
        effect: "retry with backoff; after a 502 or 504 (a gateway's answer) the charge is uncertain and the next attempt looks first",
        rules: &[
            (Match::Other5xx, "server_error", Retry),
            (Match::Status(408), "server_error", Retry),
        ],
    },
    Entry {
        matched_by: "connect / reset / TLS error, client timeout",
        class: "`server_error`",
        effect: "retry with backoff; unless the connection was refused the charge is uncertain and the next attempt looks first",
        rules: &[(Match::Transport, "server_error", Retry)],
    },
    Entry {
        matched_by: "a 2xx body that cannot be parsed, or whose profile is not the documented shape",
        class: "`malformed_body`",
        effect: "retry with backoff; Okra charged for the 2xx, so the charge counts as `uncertain` (the budget slot is kept) and the next attempt looks first",
        rules: &[(Match::BadBody, "malformed_body", Retry)],
    },
    Entry {
        matched_by: "a 2xx profile that names another identifier than the one asked about",
        class: "`mismatched_profile`",
        effect: "terminal; **never stored as a result**",
        rules: &[],
    },
    Entry {
        matched_by: "a body larger than `okra.max_body` (1 MiB)",
        class: "`oversized_body`",
        effect: "retry with backoff; reading stops and the connection is dropped; a 2xx was charged: counted `uncertain`, and the next attempt looks first",
        rules: &[(Match::Oversized, "oversized_body", Retry)],
    },
    Entry {
        matched_by: "HTTP 3xx (a redirect is never followed)",
        class: "`unexpected_redirect`",
        effect: "**pause** (circuit breaker)",
        rules: &[(Match::Redirect, "unexpected_redirect", Pause)],
    },
    Entry {
        matched_by: "HTTP 401, 403",
        class: "`unauthorized`, `forbidden`",
        effect: "**pause** (circuit breaker)",
        rules: &[
            (Match::Status(401), "unauthorized", Pause),
            (Match::Status(403), "forbidden", Pause),
        ],
    },
    Entry {
        matched_by: "type `PLAN`, `EXPIRED`, `ENV`",
        class: "`plan`, `expired`, `env`",
        effect: "**pause** (circuit breaker)",
        rules: &[
            (Match::Type("PLAN"), "plan", Pause),
            (Match::Type("EXPIRED"), "expired", Pause),
            (Match::Type("ENV"), "env", Pause),
        ],
    },
    Entry {
        matched_by: "HTTP 400, 404, 422",
        class: "`bad_request`, `not_found`, `unprocessable`",
        effect: "terminal (404s in a row trip the drain guard)",
        rules: &[
            (Match::Status(400), "bad_request", Terminal),
            (Match::Status(404), "not_found", Terminal),
            (Match::Status(422), "unprocessable", Terminal),
        ],
    },
    Entry {
        matched_by: "other 4xx",
        class: "`client_error`",
        effect: "terminal",
        rules: &[(Match::Other4xx, "client_error", Terminal)],
    },
    Entry {
        matched_by: "type `FLAGGED_USER`, `SUSPENDED`, `NO_RECORD_ID`",
        class: "the type, lower-cased (`flagged_user`, ...)",
        effect: "terminal",
        rules: &[
            (Match::Type("FLAGGED_USER"), "flagged_user", Terminal),
            (Match::Type("SUSPENDED"), "suspended", Terminal),
            (Match::Type("NO_RECORD_ID"), "no_record_id", Terminal),
        ],
    },
    Entry {
        matched_by: "an error body with a 2xx status and no known type",
        class: "`okra_error`",
        effect: "terminal",
        rules: &[(Match::ErrorBody2xx, "okra_error", Terminal)],
    },
    Entry {
        matched_by: "other types (`EMPTY_QUEUE`, `QUEUE_FAILED`, `SLA`, `KILL`, `DUPLICATED_QUEUE`, ...)",
        class: "decided by the HTTP status",
        effect: "",
        rules: &[],
    },
    Entry {
        matched_by: "undecodable payload, or one that breaks enqueue's rules (written by another producer)",
        class: "`invalid_payload`",
        effect: "terminal; Okra is never called; the message names the rule, never the value",
        rules: &[],
    },
    Entry {
        matched_by: "worker died holding the job",
        class: "`lease_expired`",
        effect: "retry with backoff (the charge is uncertain: the next attempt looks first); dead when attempts are spent",
        rules: &[],
    },
    Entry {
        matched_by: "after an uncertain attempt, a free lookup that finds no identity before `okra.answer_deadline` (2 min) has passed since the uncertain call started",
        class: "`awaiting_answer`",
        effect: "look again at the deadline, **no attempt spent**: Okra may still be finishing the call, and paying now could pay twice",
        rules: &[],
    },
    Entry {
        matched_by: "after an uncertain attempt, a free lookup that does not answer definitely (timeout, reset, 5xx, malformed, a 404 from a route that never answered with a profile or without the provider's error envelope), or a kind without a free lookup (`okra.without_lookup = \"hold\"`)",
        class: "`unresolved_charge`",
        effect: "retry, looking first again (spends an attempt); dead when attempts are spent, and at once for a kind without a lookup: Okra may have charged for an answer that never arrived. `okra-admin dlq requeue --class unresolved_charge` starts again with the lookup",
        rules: &[],
    },
];

/// The README's table: [`TABLE`] as Markdown.
pub fn readme_table() -> String {
    let mut out = String::from("| matched by | class | action |\n|---|---|---|\n");
    for e in TABLE {
        let row = format!("| {} | {} | {} |", e.matched_by, e.class, e.effect);
        // An empty cell is `| |`, as people write it.
        out.push_str(&row.replace("|  |", "| |"));
        out.push('\n');
    }
    out
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
    /// The classifier of [`TABLE`].
    fn default() -> Self {
        let blank = Rule {
            class: String::new(),
            action: Retry,
        };
        let mut c = Self {
            by_status: HashMap::new(),
            by_type: HashMap::new(),
            server_error: blank.clone(),
            client_error: blank.clone(),
            success_error: blank.clone(),
            transport: blank.clone(),
            bad_body: blank.clone(),
            redirect: blank.clone(),
            oversized: blank,
        };
        for (matched, class, action) in TABLE.iter().flat_map(|e| e.rules) {
            let rule = Rule {
                class: class.to_string(),
                action: *action,
            };
            match matched {
                Match::Status(s) => {
                    c.by_status.insert(*s, rule);
                }
                Match::Type(t) => {
                    c.by_type.insert(t.to_string(), rule);
                }
                Match::Other5xx => c.server_error = rule,
                Match::Other4xx => c.client_error = rule,
                Match::ErrorBody2xx => c.success_error = rule,
                Match::Transport => c.transport = rule,
                Match::BadBody => c.bad_body = rule,
                Match::Redirect => c.redirect = rule,
                Match::Oversized => c.oversized = rule,
            }
        }
        c
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

    /// The row that matches a failure. A class another provider's table named decides first.
    pub fn rule<'a>(&'a self, e: &'a OkraError) -> &'a Rule {
        match e {
            OkraError::Transport { .. } => &self.transport,
            OkraError::BadBody { .. } => &self.bad_body,
            OkraError::Redirect { .. } => &self.redirect,
            OkraError::Oversized { .. } => &self.oversized,
            OkraError::Api { status, body, .. } => {
                if let Some(named) = &body.named {
                    return &named.rule;
                }
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
                JobError::retryable(&rule.class, message).with_delay(delays.okra_timeout_delay)
            }
            Action::RateLimited => {
                let wait = match e {
                    OkraError::Api {
                        retry_after: Some(ra),
                        ..
                    } => delays.rate_limit_delay.max(*ra),
                    _ => delays.rate_limit_delay,
                }
                .min(delays.max_rate_limit_delay.max(delays.rate_limit_delay));
                JobError::retryable(&rule.class, message)
                    .with_delay(wait)
                    .without_attempt()
            }
        };
        // Okra may have done (and charged for) the work without its answer reaching us.
        let je = if e.uncertain() { je.uncertain() } else { je };
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
    use std::time::Duration;

    use super::*;
    use crate::okra::client::{ErrorBody, read_answer};
    use crate::policy::ErrorAction;

    const DELAYS: Delays = Delays {
        rate_limit_delay: Duration::from_secs(60),
        okra_timeout_delay: Duration::from_secs(2),
        max_rate_limit_delay: Duration::from_secs(600),
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
            connect: false,
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
