//! Reading script and pipeline replies: text and numbers out of Redis values.

use std::borrow::Cow;

use redis::Value;

use crate::error::{QueueError, Result};

pub(super) fn text(v: Option<&Value>) -> Result<String> {
    match v {
        Some(v) => text_ref(v).map(Cow::into_owned),
        None => Err(QueueError::Protocol("expected text, got None".into())),
    }
}

/// [`text`], borrowed from the reply where it can be (no copy of a stored value to compare).
pub(super) fn text_ref(v: &Value) -> Result<Cow<'_, str>> {
    match v {
        // Checked the fast way first: a lossy read of valid text costs several times more.
        Value::BulkString(b) => {
            Ok(std::str::from_utf8(b).map_or_else(|_| String::from_utf8_lossy(b), Cow::Borrowed))
        }
        Value::SimpleString(s) => Ok(Cow::Borrowed(s)),
        Value::VerbatimString { text, .. } => Ok(Cow::Borrowed(text)),
        Value::Int(n) => Ok(Cow::Owned(n.to_string())),
        Value::Nil => Ok(Cow::Borrowed("")),
        other => Err(QueueError::Protocol(format!(
            "expected text, got {other:?}"
        ))),
    }
}

pub(super) fn int(v: Option<&Value>) -> Result<u64> {
    match v {
        Some(Value::Int(n)) => Ok((*n).max(0) as u64),
        Some(Value::BulkString(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .map(|f| f.max(0.0) as u64)
            .ok_or_else(|| QueueError::Protocol("expected a number".into())),
        other => Err(QueueError::Protocol(format!(
            "expected a number, got {other:?}"
        ))),
    }
}
