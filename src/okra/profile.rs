//! A success answer is trusted only when its profile has the shape its endpoint documents and,
//! where the profile names the identifier that was asked about, names the same one. A profile
//! about somebody else is never stored as a result: it is the worst answer this product can
//! record.

use serde_json::Value;

use crate::okra::OkraJob;

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
    match job {
        OkraJob::RcVerify { rc_number, .. } => {
            let company = object(data, "data")?;
            same(company, &["rcNo", "rc_number"], rc_number, "rc_number")?;
            Ok(company.clone().into())
        }
        OkraJob::TinVerify { tin_number, .. } => {
            let company = object(data, "data")?;
            same(company, &["tin", "tin_number"], tin_number, "tin_number")?;
            Ok(company.clone().into())
        }
        _ => {
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
    match job {
        OkraJob::BvnVerify { bvn, .. } => same(p, &["bvn"], bvn, "bvn"),
        OkraJob::NinVerify { nin, .. } => same(p, &["nin"], nin, "nin"),
        OkraJob::NubanVerify { nuban, .. } | OkraJob::NubanNameVerify { nuban, .. } => same(
            p,
            &["nuban", "account_number", "accountNumber"],
            nuban,
            "nuban",
        ),
        OkraJob::CustomerVerify { customer, .. } => match p.get("customer") {
            Some(Value::Object(c)) => same(c, &["_id", "id"], customer, "customer"),
            _ => Ok(()),
        },
        OkraJob::RcVerify { .. } | OkraJob::TinVerify { .. } => Ok(()),
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
        OkraJob::BvnVerify {
            bvn: b.into(),
            matching: None,
        }
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
        let job = OkraJob::RcVerify {
            rc_number: "RC123".into(),
            company_name: "Acme".into(),
        };
        assert!(checked_profile(&job, &json!({"rcNo": "rc123"})).is_ok());
        assert_eq!(
            checked_profile(&job, &json!({"rcNo": "RC999"})),
            Err(ProfileError::Mismatched("rc_number"))
        );
    }
}
