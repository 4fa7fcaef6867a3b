//! Nigerian phone numbers in local and international form, read into the 10-digit national
//! number: `0803 123 4567`, `+234 803-123-4567`, `2348031234567`, `(0803) 1234567` and
//! `00234...` are all `8031234567`.

/// The national significant number (10 digits, without the trunk `0` or the country code
/// 234), or `None` when the text is not a Nigerian phone number.
pub(crate) fn national(text: &str) -> Option<String> {
    let text = text.trim();
    let mut digits = String::with_capacity(16);
    for (i, c) in text.char_indices() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let rest = if let Some(r) = digits.strip_prefix("00234") {
        r
    } else if let Some(r) = digits.strip_prefix("234").filter(|r| r.len() >= 10) {
        r
    } else if let Some(r) = digits.strip_prefix('0') {
        r
    } else {
        &digits
    };
    // `+234 0803...`: a trunk 0 written after the country code.
    let rest = if rest.len() == 11 {
        rest.strip_prefix('0')?
    } else {
        rest
    };
    (rest.len() == 10 && matches!(rest.as_bytes()[0], b'7'..=b'9')).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_and_international_forms_agree() {
        for text in [
            "08031234567",
            "0803 123 4567",
            "0803-123-4567",
            "+2348031234567",
            "+234 803 123 4567",
            "+234-803-123-4567",
            "2348031234567",
            "002348031234567",
            "(0803) 123 4567",
            "+234 (0) 803 123 4567",
            "8031234567",
        ] {
            assert_eq!(national(text).as_deref(), Some("8031234567"), "{text}");
        }
    }

    #[test]
    fn other_numbers_are_not_nigerian_phones() {
        for text in [
            "0803123456",
            "080312345678",
            "+447911123456",
            "01-2345678",
            "0803l234567",
            "phone",
            "",
            "+",
            "234",
            "1234567890",
        ] {
            assert_eq!(national(text), None, "{text}");
        }
    }
}
