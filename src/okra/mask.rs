//! Masking of personal data in logs, CLI output and the dashboard. Operators see the last four
//! digits of an identifier and the initials of a name unless they ask to reveal.
//!
//! Two nets, because a key can be missed and a value can be anywhere: by **key** (an
//! identifier's key keeps its last four characters; a profile's name, birth date, gender,
//! address, e-mail, photo keys are hidden), and by **shape**, in every string and number under
//! any key and in free text: runs of ten or more digits (BVN, NIN, NUBAN, phone), phone numbers
//! written with spaces or dashes (`0803 123 4567`, `+234 803-123-4567`), and e-mail addresses.

use serde_json::Value;

/// What a key says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// An identifier: keeps its last four characters.
    Identifier,
    /// A person's name: keeps initials.
    Name,
    /// Other personal data (birth date, gender, address, e-mail, photo): hidden whole.
    Personal,
    /// Nothing known: masked by shape.
    Other,
}

/// Words that make a key an identifier's (`bvn`, `customer_bvn`, `phoneNumber`, ...).
const IDENTIFIER_WORDS: [&str; 10] = [
    "bvn",
    "nin",
    "nuban",
    "phone",
    "phones",
    "mobile",
    "msisdn",
    "telephone",
    "customer",
    "idempotency",
];

/// Keys (lowercase, without `_` and `-`) that are identifiers as a whole.
const IDENTIFIER_KEYS: [&str; 4] = ["accountnumber", "accountno", "acctno", "idempotencykey"];

/// Words that make a key a person's name. `name` alone counts (a customer's `name`), but
/// `companyname` does not split into it.
const NAME_WORDS: [&str; 10] = [
    "name",
    "fullname",
    "firstname",
    "middlename",
    "lastname",
    "surname",
    "othernames",
    "maidenname",
    "aliases",
    "alias",
];

/// Words that make a key other personal data.
const PERSONAL_WORDS: [&str; 18] = [
    "dob",
    "birth",
    "birthdate",
    "birthday",
    "dateofbirth",
    "gender",
    "sex",
    "address",
    "addresses",
    "email",
    "emails",
    "photo",
    "photoid",
    "image",
    "selfie",
    "signature",
    "nextofkins",
    "kin",
];

/// Splits a key into lowercase words at `_`, `-`, spaces and camelCase humps.
fn words(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if matches!(c, '_' | '-' | ' ' | '.') {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            out.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn classify(key: &str) -> Key {
    let ws = words(key);
    let joined: String = ws.concat();
    let has = |set: &[&str]| {
        ws.iter().any(|w| set.contains(&w.as_str())) || set.contains(&joined.as_str())
    };
    if IDENTIFIER_KEYS.contains(&joined.as_str()) || has(&IDENTIFIER_WORDS) {
        Key::Identifier
    } else if has(&PERSONAL_WORDS) {
        Key::Personal
    } else if has(&NAME_WORDS) && !joined.contains("company") && !joined.contains("bank") {
        Key::Name
    } else {
        Key::Other
    }
}

/// `22234567890` → `*******7890`.
pub fn mask_id(value: &str) -> String {
    let n = value.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep: String = value.chars().skip(n - 4).collect();
    format!("{}{keep}", "*".repeat(n - 4))
}

/// `GAVIN BELSON` → `G*** B***`: initials, and no word's length.
pub fn mask_name(value: &str) -> String {
    value
        .split_whitespace()
        .map(|w| match w.chars().next() {
            Some(c) => format!("{c}***"),
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Masks a JSON value in place: by key (see [`Key`]) and, everywhere else, by shape (object
/// keys included: a map keyed by BVN is masked too).
pub fn mask_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let taken = std::mem::take(map);
            for (k, mut v) in taken {
                if is_verdict(&v) {
                    map.insert(mask_text(&k), v);
                    continue;
                }
                match classify(&k) {
                    Key::Identifier => mask_as(&mut v, mask_id),
                    Key::Name => mask_as(&mut v, mask_name),
                    Key::Personal => mask_as(&mut v, |_| "***".to_string()),
                    Key::Other => mask_json(&mut v),
                }
                map.insert(mask_text(&k), v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_json),
        Value::String(s) => *s = mask_text(s),
        Value::Number(n) => {
            let text = n.to_string();
            if number_is_identifier(&text) {
                *value = Value::String(mask_id(&text));
            }
        }
        _ => {}
    }
}

/// A match verdict (`"last_name": {"status": "partial", "score": 0.83}`, the result's `match`)
/// says how a field fared, never what it holds: a fixed word and a score from 0 to 1, shown
/// as they are.
fn is_verdict(v: &Value) -> bool {
    let Value::Object(m) = v else {
        return false;
    };
    matches!(
        m.get("status").and_then(Value::as_str),
        Some("match" | "partial" | "no_match" | "not_checked")
    ) && m.keys().all(|k| k == "status" || k == "score")
        && m.get("score")
            .is_none_or(|s| s.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)))
}

/// Masks every leaf under a sensitive key with `how`; nested keys that say more (a customer's
/// `name` inside `customer`) are masked by what they say.
fn mask_as(value: &mut Value, how: fn(&str) -> String) {
    match value {
        Value::String(s) => *s = how(s),
        Value::Number(n) => *value = Value::String(how(&n.to_string())),
        Value::Array(items) => items.iter_mut().for_each(|v| mask_as(v, how)),
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match classify(k) {
                    Key::Name => mask_as(v, mask_name),
                    Key::Personal => mask_as(v, |_| "***".to_string()),
                    _ => mask_as(v, how),
                }
            }
        }
        _ => {}
    }
}

/// A bare JSON number that is an identifier: 10 or 11 digits (NUBAN, BVN, NIN) or a phone
/// in international form (`234` and 10 more). A 13-digit millisecond time is left alone.
fn number_is_identifier(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
        && (matches!(text.len(), 10 | 11) || (text.len() == 13 && text.starts_with("234")))
}

/// Digits that make a run an identifier on their own (NUBAN 10, BVN and NIN 11, phones 11-13).
const MIN_DIGITS: usize = 10;

/// Masks identifiers in free text by their shape: digit runs of ten or more, phone numbers
/// with spaces or dashes, and e-mail addresses. Keeps the last four digits of a number.
pub fn mask_text(text: &str) -> String {
    mask_numbers(&mask_emails(text))
}

fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn domain_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// `gavin.belson@example.com` → `g***@***.com`.
fn mask_emails(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > copied && local_char(b[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < b.len() && domain_char(b[end]) {
            end += 1;
        }
        while end > i + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1; // a sentence's full stop is not the domain's
        }
        let domain = &text[i + 1..end];
        let tld = domain.rsplit_once('.').map(|(_, t)| t);
        let valid = start < i
            && tld.is_some_and(|t| t.len() >= 2 && t.bytes().all(|c| c.is_ascii_alphabetic()))
            && !domain.starts_with('.');
        if !valid {
            i += 1;
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(&text[start..start + 1]);
        out.push_str("***@***.");
        out.push_str(tld.unwrap_or_default());
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Digit runs of ten or more, and phone-shaped groups (`+234 803 123 4567`, `0803-123-4567`:
/// digit groups joined by single spaces or dashes, ten digits or more, a leading `+` or every
/// group after the first at least three digits long, which leaves dates and times alone).
fn mask_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let plus = chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if !(plus || chars[i].is_ascii_digit()) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Read the groups: [start, end) of each digit run, and where the token ends.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        let mut j = if plus { i + 1 } else { i };
        loop {
            let s = j;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            groups.push((s, j));
            let joined = j + 1 < chars.len()
                && matches!(chars[j], ' ' | '-')
                && chars[j + 1].is_ascii_digit();
            if !joined {
                break;
            }
            j += 1;
        }
        let digits: usize = groups.iter().map(|(s, e)| e - s).sum();
        let phone = groups.len() > 1
            && digits >= MIN_DIGITS
            && (plus || groups[1..].iter().all(|(s, e)| e - s >= 3));
        let token = &chars[i..j];
        if phone {
            let mut left = digits;
            for c in token {
                if c.is_ascii_digit() {
                    out.push(if left > 4 { '*' } else { *c });
                    left -= 1;
                } else {
                    out.push(*c);
                }
            }
        } else {
            let mut at = i;
            for (s, e) in groups {
                out.extend(&chars[at..s]);
                let run: String = chars[s..e].iter().collect();
                if e - s >= MIN_DIGITS {
                    out.push_str(&mask_id(&run));
                } else {
                    out.push_str(&run);
                }
                at = e;
            }
        }
        i = j;
    }
    out
}

/// Masks a JSON text; text that is not JSON is masked as free text. JSON cut short (an
/// excerpt kept before excerpts stayed whole JSON) is withheld instead: its keys cannot be
/// read, and masking it by shape alone would leave names and addresses readable.
pub fn mask_json_text(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(mut v) => {
            mask_json(&mut v);
            v.to_string()
        }
        Err(e) if e.is_eof() && text.trim_start().starts_with(['{', '[']) => format!(
            "({} bytes of JSON cut short: withheld, its keys cannot be masked; reveal to see them)",
            text.len()
        ),
        Err(_) => mask_text(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_cut_short_is_withheld_not_masked_by_shape() {
        let whole =
            json!({"data": {"firstName": "OLUWASEUN", "residentialAddress": "12 ALLEN AVENUE"}})
                .to_string();
        let cut = &whole[..whole.len() - 5];
        let shown = mask_json_text(cut);
        assert!(
            !shown.contains("OLUWASEUN") && !shown.contains("ALLEN"),
            "{shown}"
        );
        assert!(shown.contains("cut short"), "{shown}");
        // Whole JSON is masked by key; text that is no JSON at all, by shape.
        assert!(!mask_json_text(&whole).contains("OLUWASEUN"));
        assert_eq!(
            mask_json_text("<html>502 Bad Gateway</html>"),
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(mask_json_text("{not json"), "{not json");
    }

    #[test]
    fn match_verdicts_show_while_what_was_typed_is_masked() {
        let mut v = json!({
            "match": {"last_name": "Belson", "date_of_birth": "1979-09-27", "phone": "08031234567"},
            "result": {"match": {"decision": "review", "fields": {
                "last_name": {"status": "partial", "score": 0.83},
                "date_of_birth": {"status": "match", "score": 1.0},
                "phone": {"status": "not_checked"}}}},
        });
        mask_json(&mut v);
        let fields = &v["result"]["match"]["fields"];
        assert_eq!(
            fields["last_name"],
            json!({"status": "partial", "score": 0.83})
        );
        assert_eq!(fields["phone"], json!({"status": "not_checked"}));
        assert_eq!(v["result"]["match"]["decision"], "review");
        let typed = v["match"].to_string();
        for secret in ["Belson", "1979", "08031234567"] {
            assert!(!typed.contains(secret), "{typed}");
        }
        // Anything else under a personal key is masked as before.
        let mut v = json!({"last_name": {"status": "Belson"}, "dob": {"status": "match", "x": 1}});
        mask_json(&mut v);
        assert!(!v.to_string().contains("Belson"), "{v}");
        assert!(!v.to_string().contains("match"), "{v}");
    }

    #[test]
    fn identifiers_keep_their_last_four_digits() {
        assert_eq!(mask_id("22234567890"), "*******7890");
        assert_eq!(mask_id("123"), "***");
        assert_eq!(mask_name("GAVIN  BELSON"), "G*** B***");
    }

    #[test]
    fn a_profile_is_masked_by_key() {
        let mut v = json!({
            "kind": "bvn_verify",
            "bvn": "22234567890",
            "identity": {
                "fullname": "GAVIN BELSON", "firstname": "GAVIN", "middlename": "HOOLI",
                "lastname": "BELSON", "dob": "1979-09-27", "gender": "M",
                "phone": ["2347088793567"], "email": ["gavin@hooli.xyz"],
                "address": ["4 AKANNI BASHORUN, LEKKI LAGOS"], "dateOfBirth": "27-09-1979",
                "customer": {"_id": "cus_5da6a1b2", "name": "GAVIN BELSON"},
                "photo_id": [{"url": "https://x/y.png"}], "verified": true, "env": "production"
            },
            "companyName": "HOOLI LTD",
            "message": "BVN 22234567890 not found"
        });
        mask_json(&mut v);
        let id = &v["identity"];
        assert_eq!(v["bvn"], "*******7890");
        assert_eq!(id["phone"][0], "*********3567");
        assert_eq!(id["fullname"], "G*** B***");
        assert_eq!(id["firstname"], "G***");
        assert_eq!(id["middlename"], "H***");
        for k in ["dob", "gender", "dateOfBirth"] {
            assert_eq!(id[k], "***", "{k}");
        }
        assert_eq!(id["address"][0], "***");
        assert_eq!(id["email"][0], "***");
        assert_eq!(id["photo_id"][0]["url"], "***");
        assert_eq!(id["customer"]["_id"], "********a1b2");
        assert_eq!(id["customer"]["name"], "G*** B***");
        assert_eq!(id["verified"], true);
        assert_eq!(id["env"], "production");
        assert_eq!(v["companyName"], "HOOLI LTD", "a company is not a person");
        assert_eq!(v["message"], "BVN *******7890 not found");
        let text = v.to_string();
        for secret in [
            "GAVIN",
            "BELSON",
            "1979",
            "AKANNI",
            "hooli.xyz",
            "22234567890",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn identifiers_under_other_keys_and_as_numbers_are_masked_by_shape() {
        let mut v = json!({
            "customer_bvn": 22234567890u64,
            "bvnNumber": "22234567890",
            "accountNumber": "0123456789",
            "idempotency_key": "bvn-22234567890",
            "ref": "kyc 22234567890 ok",
            "by_person": {"22234567890": 1},
            "data": {"x": 22234567890u64, "contact": "+234 708 879 3567"},
            "created_ms": 1733400000000u64,
            "count": 12345
        });
        mask_json(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("2223456") && !text.contains("708 879"),
            "{text}"
        );
        assert_eq!(v["customer_bvn"], "*******7890");
        assert_eq!(v["accountNumber"], "******6789");
        assert_eq!(v["idempotency_key"], "***********7890");
        assert_eq!(v["data"]["contact"], "+*** *** *** 3567");
        assert_eq!(
            v["created_ms"], 1733400000000u64,
            "a time is not an identifier"
        );
        assert_eq!(v["count"], 12345);
    }

    #[test]
    fn free_text_masks_phones_emails_and_long_numbers_but_not_dates() {
        for (text, want) in [
            ("http 503 after 60 s", "http 503 after 60 s"),
            ("nuban 0123456789.", "nuban ******6789."),
            ("call 0803 123 4567 now", "call **** *** 4567 now"),
            ("call 0803-123-4567", "call ****-***-4567"),
            ("intl +234 803 123 4567;", "intl +*** *** *** 4567;"),
            ("+2348031234567", "+*********4567"),
            ("bvn 222 3456 7890", "bvn *** **** 7890"),
            ("mail Gavin.Belson@hooli.xyz.", "mail G***@***.xyz."),
            ("a@b", "a@b"),
            ("at 2026-12-05 11:03:53", "at 2026-12-05 11:03:53"),
            ("born 1979-09-27", "born 1979-09-27"),
            ("2026-12-05 22234567890", "2026-12-05 *******7890"),
            ("3 of 5 attempts", "3 of 5 attempts"),
        ] {
            assert_eq!(mask_text(text), want, "{text}");
        }
    }

    #[test]
    fn keys_are_classified_by_their_words() {
        assert_eq!(classify("phoneNumber"), Key::Identifier);
        assert_eq!(classify("customer_bvn"), Key::Identifier);
        assert_eq!(classify("account_number"), Key::Identifier);
        assert_eq!(classify("date_of_birth"), Key::Personal);
        assert_eq!(classify("nextOfKins"), Key::Personal);
        assert_eq!(classify("last_name"), Key::Name);
        assert_eq!(classify("bank_name"), Key::Other);
        assert_eq!(classify("company_name"), Key::Other);
        assert_eq!(classify("running"), Key::Other);
        assert_eq!(classify("kind"), Key::Other);
    }
}
