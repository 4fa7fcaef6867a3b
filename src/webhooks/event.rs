//! An event's body, built at send time from the job as stored (its sealed result opened with
//! the worker's keys): `{"type", "timestamp", "data": {"queue", "job_id", "kind", "metadata",
//! "provider", "result" | "failure"}}`. Thin events (the default) carry no result and no
//! failure message: nothing of a person leaves unless the endpoint asked for full events.

use serde_json::{Value, json};

use super::{EventType, Reference};
use crate::job::JobRecord;

/// The body of event `r` about job `rec` of `queue`.
pub fn body(r: &Reference, queue: &str, rec: &JobRecord, full: bool) -> Value {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(r.at_ms);
    let mut data = json!({
        "queue": queue,
        "job_id": rec.id,
        "kind": rec.meta.kind,
        // The app's reference stored with the job (the gateway's `metadata`), opened like
        // the payload.
        "metadata": rec.metadata().unwrap_or(Value::Null),
        "provider": provider(&rec.meta.kind, rec.result.as_ref()),
    });
    let fields = data.as_object_mut().expect("an object");
    match r.event {
        EventType::Completed if full => {
            fields.insert("result".into(), rec.result.clone().unwrap_or(Value::Null));
        }
        EventType::Completed => {}
        EventType::Dead | EventType::Retrying => {
            let f = rec.last_error.clone().unwrap_or_default();
            let mut failure = json!({
                "class": f.class,
                "attempt": f.attempt,
                "http_status": f.http_status,
                "error_type": f.error_type,
                "reason": f.reason,
            });
            if full {
                failure["message"] = Value::String(f.message);
            }
            fields.insert("failure".into(), failure);
        }
    }
    json!({
        "type": r.event.as_str(),
        "timestamp": humantime::format_rfc3339_millis(at).to_string(),
        "data": data,
    })
}

/// The upstream that answered: the result's own `provider` when it names one, else Okra for
/// the kind table's kinds.
fn provider(kind: &str, result: Option<&Value>) -> Value {
    // PROVIDERS: once every result names its provider (failover), that is the one answer.
    if let Some(p) = result
        .and_then(|r| r.get("provider"))
        .filter(|p| p.is_string())
    {
        return p.clone();
    }
    match crate::okra::kinds::find(kind) {
        Some(_) => Value::String("okra".into()),
        None => Value::Null,
    }
}
