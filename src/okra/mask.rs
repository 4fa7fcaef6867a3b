//! Masking of personal identifiers (BVN, NIN, account and phone numbers) in logs and CLI output.
//! Operators see the last four digits unless they ask to reveal.

use serde_json::Value;

/// Keys whose values are personal identifiers.
const SENSITIVE_KEYS: [&str; 8] = [
    "bvn",
    "nin",
    "nuban",
    "phone",
    "phone_number",
    "phones",
    "mobile",
    "account_number",
];

/// `22234567890` → `*******7890`.
pub fn mask_id(value: &str) -> String {
    let n = value.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep: String = value.chars().skip(n - 4).collect();
    format!("{}{keep}", "*".repeat(n - 4))
}

/// Masks every value under a sensitive key (strings, numbers, arrays of them), and long digit
/// runs in every other string.
pub fn mask_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if SENSITIVE_KEYS.contains(&k.to_ascii_lowercase().as_str()) {
                    mask_all(v);
                } else {
                    mask_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::String(s) => *s = mask_text(s),
        _ => {}
    }
}

fn mask_all(value: &mut Value) {
    match value {
        Value::String(s) => *s = mask_id(s),
        Value::Number(n) => *value = Value::String(mask_id(&n.to_string())),
        Value::Array(items) => items.iter_mut().for_each(mask_all),
        Value::Object(_) => mask_json(value),
        _ => {}
    }
}

/// Masks every run of 10 or more digits in free text (BVN, NIN, NUBAN and phone numbers are
/// 10 to 13 digits), e.g. inside error messages and response bodies.
pub fn mask_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 10 {
            out.push_str(&mask_id(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Masks a JSON text; text that is not JSON is masked as free text.
pub fn mask_json_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            mask_json(&mut v);
            v.to_string()
        }
        Err(_) => mask_text(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identifiers_keep_their_last_four_digits() {
        assert_eq!(mask_id("22234567890"), "*******7890");
        assert_eq!(mask_id("123"), "***");
    }

    #[test]
    fn json_is_masked_by_key_and_digit_runs() {
        let mut v = json!({
            "kind": "bvn_verify",
            "bvn": "22234567890",
            "identity": {"phone": ["2347088793567"], "fullname": "GAVIN BELSON", "dob": "1979-09-27"},
            "message": "BVN 22234567890 not found"
        });
        mask_json(&mut v);
        assert_eq!(v["bvn"], "*******7890");
        assert_eq!(v["identity"]["phone"][0], "*********3567");
        assert_eq!(v["identity"]["fullname"], "GAVIN BELSON");
        assert_eq!(v["identity"]["dob"], "1979-09-27");
        assert_eq!(v["message"], "BVN *******7890 not found");
    }

    #[test]
    fn free_text_keeps_short_numbers() {
        assert_eq!(mask_text("http 503 after 60 s"), "http 503 after 60 s");
        assert_eq!(mask_text("nuban 0123456789."), "nuban ******6789.");
    }
}
