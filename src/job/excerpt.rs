//! What is kept of an upstream body (or of a payload that could not be decoded) on a failure.
//! Masking for people reads JSON by key (a profile's `firstName`, `address`); JSON cut at a
//! byte count is no longer JSON and could only be masked by shape, which leaves names and
//! addresses readable. So a JSON body that does not fit is shortened into smaller JSON, never
//! cut: long strings first (a photo's base64), then everything below the top level.

use serde_json::Value;

use super::{BODY_EXCERPT_MAX, truncate};

/// Longest string kept whole in a shortened JSON excerpt.
const STRING_MAX: usize = 200;

/// The excerpt of `text` kept on a failure: at most [`BODY_EXCERPT_MAX`] bytes; JSON stays
/// JSON (see the module doc); other text is cut on a character boundary.
pub fn excerpt(text: &str) -> String {
    if text.len() <= BODY_EXCERPT_MAX {
        return text.to_string();
    }
    let Ok(mut v) = serde_json::from_str::<Value>(text) else {
        return truncate(text, BODY_EXCERPT_MAX).to_string();
    };
    shorten_strings(&mut v);
    let fits = |v: &Value| Some(v.to_string()).filter(|s| s.len() <= BODY_EXCERPT_MAX);
    if let Some(s) = fits(&v) {
        return s;
    }
    match &mut v {
        Value::Object(map) => map.values_mut().for_each(flatten),
        Value::Array(items) => items.iter_mut().for_each(flatten),
        _ => {}
    }
    fits(&v).unwrap_or_else(|| {
        serde_json::json!({ "left_out": format!("a JSON answer of {} bytes", text.len()) })
            .to_string()
    })
}

fn shorten_strings(v: &mut Value) {
    match v {
        Value::String(s) if s.len() > STRING_MAX => {
            *s = format!("({} bytes left out)", s.len());
        }
        Value::Array(items) => items.iter_mut().for_each(shorten_strings),
        Value::Object(map) => map.values_mut().for_each(shorten_strings),
        _ => {}
    }
}

/// A nested object or list becomes a note of its size.
fn flatten(v: &mut Value) {
    let note = match v {
        Value::Object(map) => format!("({} keys left out)", map.len()),
        Value::Array(items) => format!("({} items left out)", items.len()),
        _ => return,
    };
    *v = Value::String(note);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn profile(photo: usize) -> Value {
        json!({
            "status": true, "detail": "VERIFIED", "response_code": "00",
            "data": {
                "firstName": "OLUWASEUN", "lastName": "OKONKWO", "dateOfBirth": "27-Sep-1979",
                "residentialAddress": "12 ALLEN AVENUE, IKEJA", "watchListed": "YES",
                "base64Image": "A".repeat(photo),
            }
        })
    }

    #[test]
    fn a_body_that_fits_is_kept_as_it_is() {
        let text = profile(100).to_string();
        assert_eq!(excerpt(&text), text);
        assert_eq!(excerpt("<html>502</html>"), "<html>502</html>");
    }

    #[test]
    fn a_long_json_body_stays_json_with_its_keys() {
        let text = profile(20_000).to_string();
        let e = excerpt(&text);
        assert!(e.len() <= BODY_EXCERPT_MAX, "{}", e.len());
        let v: Value = serde_json::from_str(&e).expect("still JSON");
        assert_eq!(v["data"]["firstName"], "OLUWASEUN");
        assert_eq!(v["data"]["base64Image"], "(20000 bytes left out)");
        assert_eq!(v["detail"], "VERIFIED");
    }

    #[test]
    fn json_too_large_even_without_long_strings_keeps_its_top_level() {
        let many: Vec<Value> = (0..2_000).map(|i| json!({"n": i, "name": "X"})).collect();
        let text = json!({"status": "error", "message": "flagged", "records": many}).to_string();
        let v: Value = serde_json::from_str(&excerpt(&text)).expect("still JSON");
        assert_eq!(v["message"], "flagged");
        assert_eq!(v["records"], "(2000 items left out)");
        // A top level that is itself too large says only how large it was.
        let wide: serde_json::Map<String, Value> =
            (0..2_000).map(|i| (format!("k{i}"), json!(i))).collect();
        let text = Value::Object(wide).to_string();
        let v: Value = serde_json::from_str(&excerpt(&text)).expect("still JSON");
        assert_eq!(
            v["left_out"],
            format!("a JSON answer of {} bytes", text.len())
        );
    }

    #[test]
    fn other_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(BODY_EXCERPT_MAX);
        let e = excerpt(&text);
        assert!(e.len() <= BODY_EXCERPT_MAX && text.starts_with(&e));
    }
}
