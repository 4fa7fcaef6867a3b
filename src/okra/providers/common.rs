//! The common profile every provider's record is read into, in Okra's shape (the shape
//! `okra::profile` checks and `okra::matching` reads): `{"identity": {fullname, firstname,
//! middlename, lastname, dob, gender, phone: [..], email: [..], address: [..], and the
//! identifier the record names (bvn, nin, nuban)}}`, the photo only when asked; a company's
//! record as `{rc_number | tin, companyName, address, dateReg, status, type}`. A field of the
//! wrong type is a changed shape, refused like any unreadable answer; an identifier the
//! record names is kept as it came, so `checked_profile` refuses somebody else's.

use serde_json::{Map, Value, json};

use crate::okra::client::OkraError;
use crate::okra::jobs::OkraJob;

/// Where each provider keeps each field (every key any of them uses).
const FIRST: &[&str] = &["firstname", "first_name", "firstName"];
const MIDDLE: &[&str] = &["middlename", "middle_name", "middleName", "other_names"];
const LAST: &[&str] = &["lastname", "last_name", "lastName", "surname"];
const FULL: &[&str] = &["account_name", "full_name", "fullName", "name"];
const DOB: &[&str] = &[
    "formatted_dob",
    "dateOfBirth",
    "date_of_birth",
    "birthdate",
    "birth_date",
    "dob",
];
const GENDER: &[&str] = &["gender", "sex"];
const PHONES: &[&str] = &[
    "phoneNumber",
    "phoneNumber1",
    "phoneNumber2",
    "phone_number",
    "phone_number1",
    "phone_number2",
    "phone",
    "mobile",
    "telephoneno",
    "telephone",
];
const EMAIL: &[&str] = &["email"];
const ADDRESS: &[&str] = &[
    "residentialAddress",
    "residential_address",
    "residence_AdressLine1",
    "residence_address",
    "address_1",
    "address",
];
const PHOTO: &[&str] = &["base64Image", "image", "photo", "picture"];

/// Reading a record failed: why (the reader turns it into `BadBody`).
pub type Shape = Result<Value, String>;

/// A 2xx answer that is not the documented shape, classified as today's unreadable answers.
pub fn bad_body(status: u16, reason: impl Into<String>, body: &[u8]) -> OkraError {
    let text = String::from_utf8_lossy(body);
    OkraError::BadBody {
        status,
        reason: reason.into(),
        excerpt: crate::job::excerpt(&text),
    }
}

/// The text under the first of `keys` that has some (numbers as text); a key holding
/// anything else is a changed shape.
fn text(r: &Map<String, Value>, keys: &[&str]) -> Result<Option<String>, String> {
    for k in keys {
        match r.get(*k) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.trim().is_empty() => {}
            Some(Value::String(s)) => return Ok(Some(s.trim().to_string())),
            Some(Value::Number(n)) => return Ok(Some(n.to_string())),
            Some(_) => return Err(format!("`{k}` is neither text nor a number")),
        }
    }
    Ok(None)
}

/// Every text under `keys` (a key may hold a list of them), without repeats.
fn texts(r: &Map<String, Value>, keys: &[&str]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        let items = match r.get(*k) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(v) => vec![v],
            None => vec![],
        };
        for v in items {
            let t = match v {
                Value::Null => continue,
                Value::String(s) => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => return Err(format!("`{k}` is neither text nor a number")),
            };
            if !t.is_empty() && !out.contains(&t) {
                out.push(t);
            }
        }
    }
    Ok(out)
}

/// `M` or `F` from the ways providers write it; anything else as it came.
fn gender(g: &str) -> String {
    match g.trim().to_ascii_lowercase().as_str() {
        "m" | "male" => "M".into(),
        "f" | "female" => "F".into(),
        _ => g.trim().to_string(),
    }
}

/// A person's record as the common profile, inside `{"identity": ...}`. `echo`: the
/// identifier the answer names (the record's own, or the request the answer repeats).
pub fn person(
    job: &OkraJob,
    record: &Map<String, Value>,
    echo: Option<&Value>,
    photo: bool,
) -> Shape {
    let first = text(record, FIRST)?;
    let middle = text(record, MIDDLE)?;
    let last = text(record, LAST)?;
    let parts: Vec<&str> = [&first, &middle, &last]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect();
    let fullname = if parts.is_empty() {
        text(record, FULL)?
    } else {
        Some(parts.join(" "))
    };
    let mut p = Map::new();
    p.insert("fullname".into(), json!(fullname));
    p.insert("firstname".into(), json!(first));
    p.insert("middlename".into(), json!(middle.unwrap_or_default()));
    p.insert("lastname".into(), json!(last));
    p.insert("dob".into(), json!(text(record, DOB)?));
    p.insert(
        "gender".into(),
        json!(text(record, GENDER)?.map(|g| gender(&g))),
    );
    p.insert("phone".into(), json!(texts(record, PHONES)?));
    p.insert("email".into(), json!(texts(record, EMAIL)?));
    p.insert("address".into(), json!(texts(record, ADDRESS)?));
    if photo && let Some(img) = text(record, PHOTO)? {
        p.insert("photo".into(), json!(img));
    }
    let (label, _, _) = job.person();
    // An empty echo names nobody (Dojah sends `"nin": ""` on a BVN record).
    if let Some(v) =
        echo.filter(|v| !v.is_null() && v.as_str().is_none_or(|s| !s.trim().is_empty()))
    {
        p.insert(label.into(), v.clone());
    }
    if fullname.is_none() {
        return Err("the record names nobody".into());
    }
    Ok(json!({ "identity": p }))
}

/// A company's record, with the number it names under the key `checked_profile` compares.
pub fn company(job: &OkraJob, record: &Map<String, Value>) -> Shape {
    let number_keys: &[&str] = match job.spec().name {
        "tin_verify" => &["tin", "TIN", "tin_number", "taxpayer_tin"],
        _ => &["rc_number", "RC_Number", "rcNo", "rc"],
    };
    let key = if matches!(job.spec().name, "tin_verify") {
        "tin"
    } else {
        "rc_number"
    };
    let mut c = Map::new();
    // Kept as it came (a number stays a number), so a wrong type is refused by the check.
    if let Some(v) = number_keys.iter().find_map(|k| record.get(*k)) {
        c.insert(key.into(), v.clone());
    }
    let name = text(
        record,
        &["company_name", "Name_of_Company", "taxpayer_name", "name"],
    )?;
    c.insert("companyName".into(), json!(name));
    c.insert(
        "address".into(),
        json!(text(
            record,
            &[
                "company_address",
                "address",
                "Head_Office_Address",
                "branchAddress"
            ]
        )?),
    );
    c.insert(
        "dateReg".into(),
        json!(text(
            record,
            &[
                "registrationDate",
                "date_of_registration",
                "Date_of_Registration"
            ]
        )?),
    );
    c.insert(
        "status".into(),
        json!(text(record, &["company_status", "status"])?),
    );
    c.insert(
        "type".into(),
        json!(text(
            record,
            &["company_type", "type_of_company", "entity_type"]
        )?),
    );
    if name.is_none() {
        return Err("the record names no company".into());
    }
    Ok(Value::Object(c))
}

/// Whether a record says its person is on a watch list (`watchListed`, `watch_listed`).
pub fn watch_listed(record: &Map<String, Value>) -> bool {
    ["watchListed", "watch_listed"].iter().any(|k| {
        record
            .get(*k)
            .and_then(Value::as_str)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("yes"))
    })
}

/// Whether the job is about a company (its record is not a person's).
pub fn is_company(job: &OkraJob) -> bool {
    matches!(job.spec().name, "rc_verify" | "tin_verify")
}

/// An error answer from the provider's own envelope: its message and code, and the class its
/// table names (`None`: Okra's table decides by the HTTP status).
pub fn api_error(
    status: u16,
    body: &[u8],
    retry_after: Option<std::time::Duration>,
    message: Option<String>,
    code: Option<String>,
    named: Option<crate::okra::client::Named>,
) -> OkraError {
    let text = String::from_utf8_lossy(body);
    let message = message.or_else(|| {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .map(str::to_string)
    });
    OkraError::Api {
        status,
        body: Box::new(crate::okra::client::ErrorBody {
            message,
            code,
            enveloped: true,
            named,
            ..Default::default()
        }),
        excerpt: crate::job::excerpt(&text),
        retry_after,
    }
}

/// The named class of a table row.
pub fn named(
    provider: &'static str,
    row: &super::Row,
    charged: Option<bool>,
) -> crate::okra::client::Named {
    crate::okra::client::Named {
        provider,
        rule: crate::okra::rule::Rule {
            class: row.class.to_string(),
            action: row.action,
        },
        charged: charged.unwrap_or(row.charged),
    }
}

/// A message field as text (a list of texts joined), if it has one.
pub fn message_of(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Array(items)) => {
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    }
}
