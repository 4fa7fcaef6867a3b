//! Request bodies, read by hand from JSON so every refusal names its field and rule (serde's
//! own messages quote the value, which may be a person's identifier) and so one bad item of a
//! batch refuses that item only.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use okra_queue::EnqueueOptions;
use okra_queue::okra::OkraJob;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::problem::{ApiError, Kind};

/// Longest idempotency key, in bytes.
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Most jobs in one batch.
pub const BATCH_MAX: usize = 1000;

/// One job to enqueue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // the document's schema; bodies are read by `parse_job`
pub struct EnqueueRequest {
    /// The job in its wire format (the README's "Jobs on the wire"), e.g.
    /// `{"kind": "bvn_verify", "bvn": "22212345678"}`.
    #[schema(value_type = Object)]
    pub job: Value,
    /// Run no earlier than this from now: a duration such as `30s`, `5m`, `1h 30m`.
    #[schema(example = "30s")]
    pub delay: Option<String>,
    /// The attempt budget (default: the fleet's `retry.max_attempts`).
    #[schema(minimum = 1)]
    pub max_attempts: Option<u32>,
    /// Never reuse a stored answer for this job.
    pub fresh: Option<bool>,
    /// The app's own reference (a JSON object, at most 1 KB): stored with the job, sealed at
    /// rest on a sealed queue, echoed in results and webhooks. Keep identifiers out of it.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// In a batch: the item's idempotency key (a single enqueue sends the
    /// `Idempotency-Key` header instead; both must agree when both are given).
    pub idempotency_key: Option<String>,
}

/// Up to 1,000 jobs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BatchRequest {
    /// The jobs, each as for a single enqueue.
    #[schema(max_items = 1000)]
    pub jobs: Vec<EnqueueRequest>,
}

/// A job read from a request, ready to enqueue.
pub struct Parsed {
    pub job: OkraJob,
    pub options: EnqueueOptions,
    /// SHA-256 of the item's canonical JSON (without its idempotency key), when it has a key.
    pub fingerprint: String,
}

fn invalid(field: &str, rule: impl Into<String>) -> ApiError {
    ApiError::new(Kind::InvalidRequest, rule).field(field)
}

/// A field name as safe to show: a short lowercase word, else "a field".
fn shown_name(name: &str) -> String {
    if !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    {
        format!("`{name}`")
    } else {
        "a field".into()
    }
}

/// The body axum read within `gateway.max_body`, or the refusal every route gives (413): a
/// chunked body declares no length for the front door to check, so it is cut off while read.
pub fn read(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|_| {
        ApiError::new(
            Kind::TooLarge,
            "the body exceeds gateway.max_body, or could not be read",
        )
    })
}

/// The body as JSON, after checking its content type.
pub fn json_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            Kind::UnsupportedMediaType,
            "send the body with `Content-Type: application/json`",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            Kind::MalformedJson,
            format!(
                "the body is not valid JSON: {}",
                okra_queue::job::json_error_rule(&e)
            ),
        )
    })
}

/// An object's fields, refusing any not in `known`.
fn object(v: Value, what: &str, known: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(m) = v else {
        return Err(invalid(what, format!("{what} must be a JSON object")));
    };
    if let Some(k) = m.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(invalid(
            what,
            format!(
                "{what} has an unknown field {} (known: {})",
                shown_name(k),
                known.join(", ")
            ),
        ));
    }
    Ok(m)
}

/// Checks an idempotency key: 1 to 255 visible ASCII characters.
pub fn check_idempotency_key(key: &str, field: &str) -> Result<(), ApiError> {
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_MAX
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(invalid(
            field,
            format!("{field} must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"),
        ));
    }
    Ok(())
}

/// JSON with every object's keys sorted, so key order does not change a fingerprint.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&m[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

const FIELDS: [&str; 6] = [
    "job",
    "delay",
    "max_attempts",
    "fresh",
    "metadata",
    "idempotency_key",
];

/// One job of a request; `header_key` is the `Idempotency-Key` header (single enqueues).
pub fn parse_job(v: Value, header_key: Option<&str>) -> Result<Parsed, ApiError> {
    let mut m = object(v, "body", &FIELDS)?;
    let body_key = match m.remove("idempotency_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k),
        Some(_) => {
            return Err(invalid(
                "idempotency_key",
                "idempotency_key must be a string",
            ));
        }
    };
    if let Some(k) = &body_key {
        check_idempotency_key(k, "idempotency_key")?;
    }
    let key = match (header_key, body_key) {
        (Some(h), Some(b)) if h != b => {
            return Err(invalid(
                "idempotency_key",
                "idempotency_key differs from the Idempotency-Key header",
            ));
        }
        (Some(h), _) => Some(h.to_string()),
        (None, b) => b,
    };
    // Only a keyed request needs its body's fingerprint (most jobs carry no key).
    let fingerprint = match &key {
        Some(_) => {
            let digest = Sha256::digest(canonical(&Value::Object(m.clone())).as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        }
        None => String::new(),
    };
    let job = m
        .remove("job")
        .ok_or_else(|| invalid("job", "missing field `job`"))?;
    let job = OkraJob::from_json(job)
        .map_err(|e| ApiError::new(Kind::InvalidJob, format!("job: {e}")).field("job"))?;
    let mut options = EnqueueOptions {
        idempotency_key: key,
        ..EnqueueOptions::default()
    };
    match m.remove("delay") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) => {
            let d: Duration = humantime::parse_duration(d.trim()).map_err(|_| {
                invalid(
                    "delay",
                    "delay must be a duration such as \"30s\" or \"5m\"",
                )
            })?;
            options.delay = (!d.is_zero()).then_some(d);
        }
        Some(_) => return Err(invalid("delay", "delay must be a string such as \"30s\"")),
    }
    match m.remove("max_attempts") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_u64() {
            Some(n @ 1..=1000) => options.max_attempts = Some(n as u32),
            _ => {
                return Err(invalid(
                    "max_attempts",
                    "max_attempts must be a whole number from 1 to 1000",
                ));
            }
        },
    }
    match m.remove("fresh") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => options.fresh = b,
        Some(_) => return Err(invalid("fresh", "fresh must be true or false")),
    }
    match m.remove("metadata") {
        None | Some(Value::Null) => {}
        Some(v @ Value::Object(_)) => options.metadata = Some(v.to_string()),
        Some(_) => return Err(invalid("metadata", "metadata must be a JSON object")),
    }
    options.check().map_err(|e| {
        invalid(
            if e.contains("metadata") {
                "metadata"
            } else {
                "delay"
            },
            e,
        )
    })?;
    Ok(Parsed {
        job,
        options,
        fingerprint,
    })
}

/// A batch's items (each parsed on its own: a bad one refuses that item only).
pub fn parse_batch(v: Value) -> Result<Vec<Result<Parsed, ApiError>>, ApiError> {
    let mut m = object(v, "body", &["jobs"])?;
    let Some(Value::Array(jobs)) = m.remove("jobs") else {
        return Err(invalid("jobs", "jobs must be an array of jobs"));
    };
    if jobs.is_empty() || jobs.len() > BATCH_MAX {
        return Err(invalid(
            "jobs",
            format!("jobs must hold 1 to {BATCH_MAX} jobs"),
        ));
    }
    Ok(jobs.into_iter().map(|j| parse_job(j, None)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_key_order_and_the_key() {
        let a =
            serde_json::json!({"job": {"kind": "bvn_verify", "bvn": "22212345678"}, "delay": "1s"});
        let b = serde_json::json!({"delay": "1s", "idempotency_key": "k", "job": {"bvn": "22212345678", "kind": "bvn_verify"}});
        // The same body, keyed by the header or by its field: one fingerprint.
        let (a, b) = (
            parse_job(a, Some("k")).unwrap(),
            parse_job(b, None).unwrap(),
        );
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.len(), 64);
    }

    #[test]
    fn refusals_name_the_field_never_the_value() {
        let bad = serde_json::json!({"job": {"kind": "bvn_verify", "bvn": "2221234567X"}});
        let e = parse_job(bad, None).err().unwrap();
        assert_eq!(e.1.field.as_deref(), Some("job"));
        assert!(!e.1.detail.contains("2221234567X"), "{}", e.1.detail);
        let e = parse_job(serde_json::json!({"job": {}, "22212345678": 1}), None)
            .err()
            .unwrap();
        assert!(!e.1.detail.contains("22212345678"), "{}", e.1.detail);
    }
}
