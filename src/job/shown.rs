//! What of a job record may reach a log line or an error message: a record written by another
//! producer can hold any text in any field, an identifier included.

/// The start of a decoding error written by this crate's own `Deserialize` (a job checked
/// against the kind table): it names rules and fields, never a value, so it is kept whole.
pub const RULE_PREFIX: &str = "invalid job: ";

/// What a JSON decoding error says, without any value from the input (an identifier, maybe):
/// serde quotes the value for an unknown variant or field, a wrong type and a bad value, so
/// only the rule and the schema's own names are kept (a missing or duplicate field, the
/// expected variants), with the line and column when the error has them. For logs, dead
/// letters and `enqueue --file`'s per-line errors.
pub fn json_error_rule(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    if let Some(rule) = text.strip_prefix(RULE_PREFIX) {
        // A message of our own decoders, value-free by construction: kept whole.
        return rule.to_string();
    }
    // The schema's own part of a message: a field it names (` `field` `), or what it expected.
    let ours = |prefix: &str| -> Option<String> {
        let rest = text.strip_prefix(prefix)?;
        let end = rest[1..].find('`')? + 2;
        Some(format!("{prefix}{}", &rest[..end]))
    };
    // serde puts what it expected last (`…, expected one of `a`, `b``), after the value.
    let expected = text.rfind(", expected ").map(|i| {
        text[i + 2..]
            .split(" at line ")
            .next()
            .unwrap_or("")
            .to_string()
    });
    let with_expected = |what: &str| match &expected {
        Some(x) if !x.is_empty() => format!("{what} ({x})"),
        _ => what.to_string(),
    };
    let what = match e.classify() {
        Category::Data if text.starts_with("missing field `") => {
            ours("missing field ").unwrap_or_else(|| "a required field is missing".into())
        }
        Category::Data if text.starts_with("duplicate field `") => {
            ours("duplicate field ").unwrap_or_else(|| "a field appears twice".into())
        }
        Category::Data if text.starts_with("unknown variant") => with_expected("unknown variant"),
        Category::Data if text.starts_with("unknown field") => with_expected("unknown field"),
        Category::Data if text.starts_with("invalid type") => {
            with_expected("a value of the wrong type")
        }
        Category::Data => "a value of the wrong type or range".into(),
        Category::Io => "read error".into(),
        Category::Syntax => "not JSON".into(),
        Category::Eof => "truncated JSON".into(),
    };
    if e.line() == 0 {
        what
    } else {
        format!("{what} at line {} column {}", e.line(), e.column())
    }
}

/// A job's kind as a log line shows it: control characters (a newline would start a forged
/// line) escaped, runs of six digits or more (an identifier put there) as `*`, at most 64
/// characters. A record written by another producer can hold any text there.
pub fn kind_for_log(kind: &str) -> String {
    const MAX: usize = 64;
    let mut out = String::with_capacity(kind.len().min(MAX));
    let mut digits = String::new();
    let flush = |digits: &mut String, out: &mut String| {
        if digits.len() >= 6 {
            out.extend(std::iter::repeat_n('*', digits.len()));
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in kind.chars().take(MAX) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut digits, &mut out);
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    flush(&mut digits, &mut out);
    if kind.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// A job's kind as a metric label: a kind name (lowercase letters, digits and `_`, at most 64
/// characters, no run of six digits or more) as it is, anything else `invalid`. A forged
/// record's kind could hold an identifier, and `/metrics` is no place for one.
pub fn kind_for_metrics(kind: &str) -> &str {
    let mut digits = 0;
    let plain = !kind.is_empty()
        && kind.len() <= 64
        && kind.chars().all(|c| {
            digits = if c.is_ascii_digit() { digits + 1 } else { 0 };
            (c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') && digits < 6
        });
    if plain { kind } else { "invalid" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_in_metrics_are_names_or_invalid() {
        assert_eq!(kind_for_metrics("bvn_verify"), "bvn_verify");
        assert_eq!(kind_for_metrics("probe2"), "probe2");
        for forged in ["22212345678", "bvn_22212345678", "x\ny", "Kind", ""] {
            assert_eq!(kind_for_metrics(forged), "invalid", "{forged}");
        }
    }

    #[test]
    fn kinds_in_logs_cannot_start_a_line() {
        assert_eq!(kind_for_log("bvn_verify"), "bvn_verify");
        let k = kind_for_log("x\n2026-01-01 INFO forged\r");
        assert!(!k.contains('\n') && !k.contains('\r'), "{k}");
        assert_eq!(k, "x\\n2026-01-01 INFO forged\\r");
        assert_eq!(kind_for_log(&"k".repeat(100)).chars().count(), 65);
        // An identifier put in the kind stays out of the log; short numbers stay.
        assert_eq!(kind_for_log("bvn_22234567890"), "bvn_***********");
        assert_eq!(kind_for_log("v2_kyc12345"), "v2_kyc12345");
    }

    #[test]
    fn json_errors_name_the_rule_never_the_value() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
        #[allow(dead_code)]
        enum J {
            BvnVerify { bvn: String },
        }
        let secret = "22234567890";
        for (text, rule) in [
            (
                r#"{"kind":"22234567890"}"#,
                "unknown variant (expected `bvn_verify`)",
            ),
            (
                r#"{"kind":"bvn_verify","bvn":22234567890}"#,
                "a value of the wrong type (expected a string)",
            ),
            (
                r#"{"kind":"bvn_verify","bvn":"1","22234567890":1}"#,
                "unknown field (expected `bvn`)",
            ),
            (r#"{"kind":"bvn_verify"}"#, "missing field `bvn`"),
            (
                r#"{"kind":"bvn_verify","bvn":"22234567890""#,
                "truncated JSON",
            ),
        ] {
            let e = serde_json::from_str::<J>(text).unwrap_err();
            let w = json_error_rule(&e);
            assert!(!w.contains(secret), "{w}");
            assert!(w.starts_with(rule), "{w}");
            let v: serde_json::Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(_) => continue,
            };
            let w = json_error_rule(&serde_json::from_value::<J>(v).unwrap_err());
            assert!(!w.contains(secret) && !w.contains(" at line "), "{w}");
        }
    }
}
