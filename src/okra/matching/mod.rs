//! Does the record match what the customer typed? A job may carry a match request (the name,
//! date of birth, phone and gender the customer typed); its result then answers with a
//! decision and a verdict per field, never the values.
//!
//! Okra sells no field-by-field match, so the answer is computed here from the verified
//! profile. A provider that sells one (Dojah's BVN validation: a `status` and a
//! `confidence_value` per field) maps its answer onto the same types with
//! [`FieldResult::from_provider`] and [`MatchAnswer::decide`].
//!
//! Per field: names as [`names`] describes (a score, then `[match]` thresholds); dates of
//! birth as the same calendar day, whatever the format; phones as the same Nigerian number,
//! local or international; gender as M or F. The decision: `no_match` if any field clearly
//! mismatches, else `review` if any is only partial or could not be checked, else `match`.

mod dates;
mod names;
mod phones;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use names::{Part, Typed};

/// The fields of a match request, as written on the wire.
pub const FIELDS: [&str; 6] = [
    "first_name",
    "last_name",
    "middle_name",
    "date_of_birth",
    "phone",
    "gender",
];

/// Longest name, date or phone accepted (characters).
const MAX_NAME: usize = 100;
const MAX_SHORT: usize = 40;

/// What the customer typed, to compare with the verified record. Every field is optional, at
/// least one is given; an empty string counts as not given. Sealed at rest with the job's
/// payload, which it is part of. Its `Debug` names the fields given, never their values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Value")]
pub struct MatchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// `1979-09-27`, `27-Sep-1979`, `27-September-1979` or `27/09/1979` (day first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    /// A Nigerian number: `0803...`, `+234803...` or `234803...`, spaces and dashes allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `M`, `F`, `Male` or `Female` (any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
}

impl std::fmt::Debug for MatchRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given: Vec<&str> = FIELDS
            .iter()
            .zip(self.values())
            .filter(|(_, v)| v.is_some())
            .map(|(n, _)| *n)
            .collect();
        write!(f, "MatchRequest {{ given: {given:?} }}")
    }
}

/// Read from any JSON value, so that a wrong one is refused with a message that names the
/// field and the rule, never the value (serde's own messages quote it). The messages keep
/// serde's shape (`invalid type: …, expected …`, `unknown field …`), which is what
/// `job::json_error_rule` keeps of an error.
impl TryFrom<Value> for MatchRequest {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err("invalid type: not an object, expected an object for `match`".into());
        };
        let mut request = MatchRequest::default();
        for (key, value) in map {
            let slot = match key.as_str() {
                "first_name" => &mut request.first_name,
                "last_name" => &mut request.last_name,
                "middle_name" => &mut request.middle_name,
                "date_of_birth" => &mut request.date_of_birth,
                "phone" => &mut request.phone,
                "gender" => &mut request.gender,
                _ => {
                    return Err(format!(
                        "unknown field `{key}` in `match`, expected one of {}",
                        FIELDS.map(|f| format!("`{f}`")).join(", ")
                    ));
                }
            };
            match value {
                Value::Null => {}
                Value::String(s) if s.trim().is_empty() => {}
                Value::String(s) => *slot = Some(s),
                _ => {
                    return Err(format!(
                        "invalid type: not text, expected text for match.{key}"
                    ));
                }
            }
        }
        Ok(request)
    }
}

impl MatchRequest {
    /// The fields in [`FIELDS`] order.
    fn values(&self) -> [Option<&str>; 6] {
        [
            self.first_name.as_deref(),
            self.last_name.as_deref(),
            self.middle_name.as_deref(),
            self.date_of_birth.as_deref(),
            self.phone.as_deref(),
            self.gender.as_deref(),
        ]
    }

    /// Checks every field as enqueue checks an identifier; the message names the field and
    /// the rule, never the value.
    pub fn validate(&self) -> Result<(), String> {
        if self.values().iter().all(Option::is_none) {
            return Err(format!("match needs at least one of {}", FIELDS.join(", ")));
        }
        for (field, value) in FIELDS.iter().zip(self.values()) {
            let Some(value) = value else { continue };
            let limit = if field.ends_with("name") {
                MAX_NAME
            } else {
                MAX_SHORT
            };
            if value.chars().count() > limit {
                return Err(format!("match.{field} is longer than {limit} characters"));
            }
            let ok = match *field {
                "date_of_birth" => dates::parse(value, false).is_some(),
                "phone" => phones::national(value).is_some(),
                "gender" => gender(value).is_some(),
                _ => value.chars().any(char::is_alphabetic),
            };
            if !ok {
                return Err(format!("match.{field} {}", rule(field)));
            }
        }
        Ok(())
    }
}

/// What a field must be, for the message that refuses it.
fn rule(field: &str) -> &'static str {
    match field {
        "date_of_birth" => {
            "is not a date (write 1979-09-27, 27-Sep-1979, 27-September-1979 or 27/09/1979, day before month)"
        }
        "phone" => "is not a Nigerian phone number (write 0803..., +234803... or 234803...)",
        "gender" => "must be M, F, Male or Female",
        _ => "has no letters",
    }
}

/// `M` or `F` from `M`, `F`, `Male`, `Female` (any case).
fn gender(text: &str) -> Option<char> {
    match text.trim().to_ascii_lowercase().as_str() {
        "m" | "male" => Some('M'),
        "f" | "female" => Some('F'),
        _ => None,
    }
}

/// `[match]`: how scores become verdicts, and whether a job that asked for a match keeps the
/// profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchSettings {
    /// A name scoring at least this is a `match` (1 = only equal after normalising).
    pub match_threshold: f64,
    /// A name scoring at least this (and less than `match_threshold`) is `partial`; less is
    /// `no_match`. A provider's confidence is judged the same way.
    pub partial_threshold: f64,
    /// `false`: a job with a match request keeps the decision and the verdicts, not the
    /// profile: neither in its result nor in the reuse store.
    pub keep_profile: bool,
}

impl Default for MatchSettings {
    fn default() -> Self {
        Self {
            match_threshold: 0.95,
            partial_threshold: 0.8,
            keep_profile: true,
        }
    }
}

impl MatchSettings {
    /// Checks the thresholds make sense: 0 < partial_threshold ≤ match_threshold ≤ 1.
    pub fn validate(&self) -> Result<(), String> {
        let (m, p) = (self.match_threshold, self.partial_threshold);
        if !(p > 0.0 && p <= m && m <= 1.0) {
            return Err(format!(
                "match: the thresholds need 0 < partial_threshold ({p}) <= match_threshold ({m}) <= 1"
            ));
        }
        Ok(())
    }

    /// Whether a job's profile may be kept at rest (its result, the reuse store): always,
    /// unless the job asked for a match and `keep_profile` is off.
    pub fn keeps_profile(&self, request: Option<&MatchRequest>) -> bool {
        self.keep_profile || request.is_none()
    }

    fn verdict(&self, score: f64) -> FieldResult {
        let status = if score >= self.match_threshold {
            Status::Match
        } else if score >= self.partial_threshold {
            Status::Partial
        } else {
            Status::NoMatch
        };
        FieldResult::scored(status, score)
    }
}

/// One field's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The same (after normalising), or similar enough to pass `match_threshold`.
    Match,
    /// Close, not the same: a person should look.
    Partial,
    /// Clearly another value.
    NoMatch,
    /// The record holds nothing to compare it with.
    NotChecked,
}

/// One field's verdict and, where one was measured, its score (0 to 1, two decimals).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FieldResult {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl FieldResult {
    fn scored(status: Status, score: f64) -> Self {
        Self {
            status,
            score: Some((score.clamp(0.0, 1.0) * 100.0).round() / 100.0),
        }
    }

    fn bare(status: Status) -> Self {
        Self {
            status,
            score: None,
        }
    }

    /// A provider's own verdict on a field (Dojah: `status` and `confidence_value` / 100):
    /// `match` when it says so, else `partial` when its confidence passes
    /// `partial_threshold`, else `no_match`.
    pub fn from_provider(matched: bool, confidence: Option<f64>, settings: &MatchSettings) -> Self {
        match (matched, confidence) {
            (true, c) => Self::scored(Status::Match, c.unwrap_or(1.0)),
            (false, Some(c)) if c >= settings.partial_threshold => Self::scored(Status::Partial, c),
            (false, Some(c)) => Self::scored(Status::NoMatch, c),
            (false, None) => Self::bare(Status::NoMatch),
        }
    }
}

/// The verdict of each field the customer typed (absent: not asked about).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MatchFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<FieldResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<FieldResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<FieldResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<FieldResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<FieldResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<FieldResult>,
}

impl MatchFields {
    fn all(&self) -> [Option<FieldResult>; 6] {
        [
            self.first_name,
            self.last_name,
            self.middle_name,
            self.date_of_birth,
            self.phone,
            self.gender,
        ]
    }
}

/// The answer as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Every field given matches.
    Match,
    /// None clearly mismatches, but one is partial or could not be checked.
    Review,
    /// At least one field clearly mismatches.
    NoMatch,
}

/// What a job's result carries under `match`: the decision and the verdict per field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchAnswer {
    pub decision: Decision,
    pub fields: MatchFields,
}

impl MatchAnswer {
    /// The decision from the fields' verdicts (however they were reached).
    pub fn decide(fields: MatchFields) -> Self {
        let statuses: Vec<Status> = fields.all().iter().flatten().map(|f| f.status).collect();
        let decision = if statuses.contains(&Status::NoMatch) {
            Decision::NoMatch
        } else if statuses.iter().any(|s| *s != Status::Match) || statuses.is_empty() {
            Decision::Review
        } else {
            Decision::Match
        };
        Self { decision, fields }
    }
}

/// Compares what the customer typed with a verified profile (`None`: the answer had none,
/// every field is then `not_checked`). Reads the profile's names, date of birth, phones and
/// gender under the keys Okra and the other providers use.
pub fn compare(
    request: &MatchRequest,
    profile: Option<&Value>,
    settings: &MatchSettings,
) -> MatchAnswer {
    let empty = Map::new();
    let p = profile.and_then(Value::as_object).unwrap_or(&empty);
    let [first_name, last_name, middle_name] = compare_names(request, p, settings);
    let date_of_birth = request.date_of_birth.as_deref().map(|typed| {
        let record = text(
            p,
            &[
                "dob",
                "date_of_birth",
                "dateOfBirth",
                "birthdate",
                "birth_date",
            ],
        )
        .and_then(|d| dates::parse(d, true));
        match (dates::parse(typed, false), record) {
            (Some(t), Some(r)) if t == r => FieldResult::scored(Status::Match, 1.0),
            (Some(t), Some(r)) if t.swapped() == Some(r) => {
                FieldResult::scored(Status::Partial, 0.5)
            }
            (_, Some(_)) => FieldResult::scored(Status::NoMatch, 0.0),
            (_, None) => FieldResult::bare(Status::NotChecked),
        }
    });
    let phone = request.phone.as_deref().map(|typed| {
        let record = phones_of(p);
        match phones::national(typed) {
            _ if record.is_empty() => FieldResult::bare(Status::NotChecked),
            Some(t) if record.contains(&t) => FieldResult::scored(Status::Match, 1.0),
            _ => FieldResult::scored(Status::NoMatch, 0.0),
        }
    });
    let gender = request.gender.as_deref().map(|typed| {
        match (gender(typed), text(p, &["gender", "sex"]).and_then(gender)) {
            (_, None) => FieldResult::bare(Status::NotChecked),
            (t, r) if t == r => FieldResult::scored(Status::Match, 1.0),
            _ => FieldResult::scored(Status::NoMatch, 0.0),
        }
    });
    MatchAnswer::decide(MatchFields {
        first_name,
        last_name,
        middle_name,
        date_of_birth,
        phone,
        gender,
    })
}

/// The verdicts of the first, last and middle names typed.
fn compare_names(
    request: &MatchRequest,
    p: &Map<String, Value>,
    settings: &MatchSettings,
) -> [Option<FieldResult>; 3] {
    let words_of = |keys: &[&str]| text(p, keys).map(names::words).unwrap_or_default();
    let mut record = vec![
        (
            Part::First,
            words_of(&["firstname", "first_name", "firstName"]),
        ),
        (
            Part::Middle,
            words_of(&[
                "middlename",
                "middle_name",
                "middleName",
                "other_names",
                "otherNames",
            ]),
        ),
        (
            Part::Last,
            words_of(&["lastname", "last_name", "lastName", "surname"]),
        ),
    ];
    if record.iter().all(|(_, w)| w.is_empty()) {
        record = vec![(
            Part::Any,
            words_of(&["fullname", "full_name", "fullName", "name"]),
        )];
    }
    let typed: Vec<(usize, Part, Vec<String>)> = [
        (Part::First, &request.first_name),
        (Part::Last, &request.last_name),
        (Part::Middle, &request.middle_name),
    ]
    .into_iter()
    .enumerate()
    .filter_map(|(i, (part, v))| v.as_deref().map(|v| (i, part, names::words(v))))
    .collect();
    let fields: Vec<Typed<'_>> = typed
        .iter()
        .map(|(_, part, words)| Typed { part: *part, words })
        .collect();
    let scores = names::compare(&fields, &record, settings.partial_threshold);
    let mut out = [None; 3];
    for ((i, _, _), score) in typed.iter().zip(scores) {
        out[*i] = Some(match score {
            Some(s) => settings.verdict(s),
            None => FieldResult::bare(Status::NotChecked),
        });
    }
    out
}

/// The first non-empty text under one of `keys`.
fn text<'a>(p: &'a Map<String, Value>, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .filter_map(|k| p.get(*k)?.as_str())
        .map(str::trim)
        .find(|s| !s.is_empty())
}

/// Every Nigerian phone number of the profile, as national numbers (a text, a number, or a
/// list of them, under any of the providers' keys).
fn phones_of(p: &Map<String, Value>) -> Vec<String> {
    const KEYS: [&str; 10] = [
        "phone",
        "phones",
        "phone_number",
        "phoneNumber",
        "phoneNumber1",
        "phoneNumber2",
        "phone_number1",
        "phone_number2",
        "mobile",
        "telephoneno",
    ];
    let mut out = Vec::new();
    let mut read = |v: &Value| match v {
        Value::String(s) => out.extend(phones::national(s)),
        Value::Number(n) => out.extend(phones::national(&n.to_string())),
        _ => {}
    };
    for key in KEYS {
        match p.get(key) {
            Some(Value::Array(items)) => items.iter().for_each(&mut read),
            Some(v) => read(v),
            None => {}
        }
    }
    out
}
