//! Reading script and pipeline replies: text and numbers out of Redis values.

use redis::Value;

use crate::error::{QueueError, Result};

pub(super) fn text(v: Option<&Value>) -> Result<String> {
    match v {
        Some(Value::BulkString(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
        Some(Value::SimpleString(s)) => Ok(s.clone()),
        Some(Value::VerbatimString { text, .. }) => Ok(text.clone()),
        Some(Value::Int(n)) => Ok(n.to_string()),
        Some(Value::Nil) => Ok(String::new()),
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
