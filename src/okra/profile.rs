//! A success answer is trusted only when its profile has the shape its endpoint documents and,
//! where the profile names the identifier that was asked about, names the same one. A profile
//! about somebody else is never stored as a result: it is the worst answer this product can
//! record.

use serde_json::Value;

use crate::okra::OkraJob;
use crate::okra::kinds::Answer;

/// Why an answer was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// Not the documented shape (retry: a broken answer may be transient).
    Malformed(String),
    /// The profile names a different identifier than the one asked about (terminal).
    Mismatched(&'static str),
}

impl std::fmt::Display for ProfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "Okra's answer is not a profile: {why}"),
            Self::Mismatched(field) => write!(
                f,
                "Okra's profile names a different {field} than the one asked about; not stored"
            ),
        }
    }
}

/// The profile of a verify answer's `data`, checked against the job.
pub fn checked_profile(job: &OkraJob, data: &Value) -> Result<Value, ProfileError> {
    let asked = job.person().1;
    match job.spec().answer {
        Answer::Company { same: fields } => {
            let company = object(data, "data")?;
            same(company, fields, asked, job.spec().subject.field)?;
            Ok(company.clone().into())
        }
        Answer::Person { .. } => {
            let profile = identity(data)?
                .ok_or_else(|| ProfileError::Malformed("`identity` is empty".into()))?;
            check_identity(job, profile)?;
            Ok(profile.clone().into())
        }
    }
}

/// The profile of a free lookup's answer (`getByBvn`, `getByNuban`, `search`, ...), if it has
/// one for the job's identifier; `None` when Okra has none.
pub fn checked_lookup(job: &OkraJob, data: &Value) -> Result<Option<Value>, ProfileError> {
    match identity(data)? {
        None => Ok(None),
        Some(p) => {
            check_identity(job, p)?;
            Ok(Some(p.clone().into()))
        }
    }
}

fn check_identity(job: &OkraJob, p: &serde_json::Map<String, Value>) -> Result<(), ProfileError> {
    let asked = job.person().1;
    let name = job.spec().subject.field;
    match job.spec().answer {
        Answer::Person {
            under: None,
            same: fields,
        } => same(p, fields, asked, name),
        Answer::Person {
            under: Some(inner),
            same: fields,
        } => match p.get(inner) {
            Some(Value::Object(c)) => same(c, fields, asked, name),
            _ => Ok(()),
        },
        Answer::Company { .. } => Ok(()),
    }
}

/// `data.identity`: an object, or a list whose first element is one (`None`: an empty list).
fn identity(data: &Value) -> Result<Option<&serde_json::Map<String, Value>>, ProfileError> {
    let data = object(data, "data")?;
    match data.get("identity") {
        Some(Value::Object(p)) => Ok(Some(p)),
        Some(Value::Array(items)) => match items.first() {
            None => Ok(None),
            Some(Value::Object(p)) => Ok(Some(p)),
            Some(_) => Err(ProfileError::Malformed(
                "`identity` holds something other than profiles".into(),
            )),
        },
        Some(_) => Err(ProfileError::Malformed(
            "`identity` is neither a profile nor a list".into(),
        )),
        None => Err(ProfileError::Malformed("no `identity`".into())),
    }
}

fn object<'a>(
    v: &'a Value,
    what: &str,
) -> Result<&'a serde_json::Map<String, Value>, ProfileError> {
    v.as_object()
        .ok_or_else(|| ProfileError::Malformed(format!("`{what}` is not an object")))
}

/// Where the profile carries one of `fields`, it must equal `asked` (text or number; case and
/// surrounding space ignored). Absent or null fields say nothing.
fn same(
    p: &serde_json::Map<String, Value>,
    fields: &[&str],
    asked: &str,
    name: &'static str,
) -> Result<(), ProfileError> {
    for f in fields {
        let found = match p.get(*f) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                return Err(ProfileError::Malformed(format!(
                    "`{f}` is neither text nor a number"
                )));
            }
        };
        if found != asked.trim().to_ascii_lowercase() {
            return Err(ProfileError::Mismatched(name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bvn(b: &str) -> OkraJob {
        OkraJob::new("bvn_verify", &[("bvn", b)]).unwrap()
    }

    #[test]
    fn a_profile_for_somebody_else_is_refused() {
        let data = json!({"identity": {"bvn": "29999999999", "fullname": "X"}});
        assert_eq!(
            checked_profile(&bvn("22500000000"), &data),
            Err(ProfileError::Mismatched("bvn"))
        );
        let data = json!({"identity": {"bvn": "22500000000"}});
        assert!(checked_profile(&bvn("22500000000"), &data).is_ok());
    }

    #[test]
    fn wrong_types_are_malformed() {
        let data = json!({"identity": [1, "two", null]});
        assert!(matches!(
            checked_profile(&bvn("22500000000"), &data),
            Err(ProfileError::Malformed(_))
        ));
        let data = json!({"identity": {"bvn": ["22500000000"]}});
        assert!(matches!(
            checked_profile(&bvn("22500000000"), &data),
            Err(ProfileError::Malformed(_))
        ));
        assert!(matches!(
            checked_profile(&bvn("22500000000"), &json!("text")),
            Err(ProfileError::Malformed(_))
        ));
    }

    #[test]
    fn lookups_may_be_empty_but_never_about_somebody_else() {
        let empty = json!({"identity": []});
        assert_eq!(checked_lookup(&bvn("22500000000"), &empty), Ok(None));
        let other = json!({"identity": [{"bvn": "29999999999"}]});
        assert_eq!(
            checked_lookup(&bvn("22500000000"), &other),
            Err(ProfileError::Mismatched("bvn"))
        );
    }

    #[test]
    fn companies_are_checked_by_their_number() {
        let job = OkraJob::new(
            "rc_verify",
            &[("rc_number", "RC123"), ("company_name", "Acme")],
        )
        .unwrap();
        assert!(checked_profile(&job, &json!({"rcNo": "rc123"})).is_ok());
        assert_eq!(
            checked_profile(&job, &json!({"rcNo": "RC999"})),
            Err(ProfileError::Mismatched("rc_number"))
        );
    }
}
