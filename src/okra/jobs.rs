//! The Okra identity jobs, in their wire format: JSON with a `kind` tag, snake_case.
//!
//! `{"kind":"bvn_verify","bvn":"22234567890"}`; a job that verifies a person may also ask
//! whether the record matches what the customer typed:
//! `{"kind":"bvn_verify","bvn":"22234567890","match":{"last_name":"Belson","date_of_birth":"27/09/1979"}}`
//!
//! What each kind holds and how it is checked is the kind table's ([`crate::okra::kinds`]): a
//! job is its kind's entry and the values of its fields, so no code here names a kind.

use serde::de::Error as _;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::ident::IdType;
use crate::job::{Job, RULE_PREFIX};
use crate::okra::kinds::{self, Kind};
use crate::okra::mask;
use crate::okra::matching::MatchRequest;

/// One identity-verification call: a kind and its fields' values, checked against the kind
/// table when made, so a job that exists is valid.
#[derive(Clone)]
pub struct OkraJob {
    kind: &'static Kind,
    /// One value per field of the kind, in the table's order.
    values: Box<[String]>,
    /// What the customer typed (kinds that verify a person only).
    matching: Option<Box<MatchRequest>>,
}

/// Whether a JSON key may be quoted in a message: a schema-like name, never a number that
/// could be an identifier.
fn nameable(key: &str) -> bool {
    !key.is_empty() && key.len() <= 32 && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

impl OkraJob {
    /// Parses one job in the wire format, with a clear message when it is not one. The
    /// message names the rule, never a value (a file line may hold a BVN anywhere).
    pub fn from_json(value: Value) -> Result<Self, String> {
        let Value::Object(mut map) = value else {
            return Err("a job is a JSON object".into());
        };
        let kind = match map.remove("kind") {
            None => return Err("missing field `kind`".into()),
            Some(Value::String(k)) => kinds::find(&k).ok_or_else(|| {
                format!(
                    "unknown kind (expected one of {})",
                    kinds::names().collect::<Vec<_>>().join(", ")
                )
            })?,
            Some(_) => return Err("`kind` must be a string".into()),
        };
        let matching = match map.remove("match") {
            None | Some(Value::Null) => None,
            Some(_) if !kind.matching => {
                return Err(format!(
                    "unknown field `match` ({} does not verify a person)",
                    kind.name
                ));
            }
            Some(m) => {
                let m: MatchRequest =
                    serde_json::from_value(m).map_err(|e| crate::job::json_error_rule(&e))?;
                m.validate()?;
                Some(Box::new(m))
            }
        };
        let mut values = Vec::with_capacity(kind.fields.len());
        for f in kind.fields {
            match map.remove(f.name) {
                None => return Err(format!("missing field `{}`", f.name)),
                Some(Value::String(v)) => {
                    f.check(&v)?;
                    values.push(v);
                }
                Some(_) => return Err(format!("`{}` must be a string", f.name)),
            }
        }
        if let Some(extra) = map.keys().next() {
            let expected: Vec<&str> = std::iter::once("kind")
                .chain(kind.fields.iter().map(|f| f.name))
                .chain(kind.matching.then_some("match"))
                .collect();
            let named = if nameable(extra) {
                format!(" `{extra}`")
            } else {
                String::new()
            };
            return Err(format!(
                "unknown field{named} (expected {})",
                expected.join(", ")
            ));
        }
        Ok(Self {
            kind,
            values: values.into(),
            matching,
        })
    }

    /// A job of `kind` with these field values, checked as a parsed one is.
    pub fn new(kind: &str, fields: &[(&str, &str)]) -> Result<Self, String> {
        let mut map = Map::new();
        map.insert("kind".into(), kind.into());
        for (name, value) in fields {
            map.insert((*name).into(), (*value).into());
        }
        Self::from_json(Value::Object(map))
    }

    /// The job, asking whether the verified record matches what the customer typed.
    pub fn with_match(mut self, request: MatchRequest) -> Result<Self, String> {
        if !self.kind.matching {
            return Err(format!("{} does not verify a person", self.kind.name));
        }
        request.validate()?;
        self.matching = Some(Box::new(request));
        Ok(self)
    }

    /// The kind's entry in the kind table.
    pub fn spec(&self) -> &'static Kind {
        self.kind
    }

    /// A field's value by its wire name (`bvn`, `bank`, `rc_number`).
    pub fn field(&self, name: &str) -> Option<&str> {
        let i = self.kind.fields.iter().position(|f| f.name == name)?;
        Some(&self.values[i])
    }

    fn value(&self, name: &str) -> &str {
        // The table's own names: the field exists (the kind table's tests check it).
        self.field(name).unwrap_or("")
    }

    /// The Okra endpoint, relative to the base URL.
    pub fn path(&self) -> &'static str {
        self.kind.okra_path
    }

    /// The request body: the fields, without `match` (what the customer typed stays here).
    pub fn body(&self) -> Value {
        let mut map = Map::new();
        for (f, v) in self.kind.fields.iter().zip(self.values.iter()) {
            map.insert(f.name.into(), v.as_str().into());
        }
        Value::Object(map)
    }

    /// Who the job is about, for the reuse store and the pay lock: a label, the identifier,
    /// and what else must match for a stored answer to be this job's (the bank of an account
    /// number). Hash the identifier before it goes anywhere.
    pub fn person(&self) -> (&'static str, &str, &str) {
        let s = &self.kind.subject;
        (
            s.label,
            self.value(s.field),
            s.also.map_or("", |f| self.value(f)),
        )
    }

    /// What the customer typed, when the job asks whether the record matches it (only jobs
    /// that verify a person can).
    pub fn match_request(&self) -> Option<&MatchRequest> {
        self.matching.as_deref()
    }

    /// The identifier for logs, masked where it is personal (BVN, NIN, account number).
    pub fn subject(&self, reveal: bool) -> String {
        let s = &self.kind.subject;
        let shown = |name: &str| {
            let v = self.value(name);
            let personal = self.kind.field(name).is_some_and(|f| f.personal);
            if personal && !reveal {
                mask::mask_id(v)
            } else {
                v.to_string()
            }
        };
        match s.also {
            Some(also) => format!("{} {} {also} {}", s.label, shown(s.field), shown(also)),
            None => format!("{} {}", s.label, shown(s.field)),
        }
    }
}

impl PartialEq for OkraJob {
    fn eq(&self, other: &Self) -> bool {
        self.kind.name == other.kind.name
            && self.values == other.values
            && self.matching == other.matching
    }
}

impl Eq for OkraJob {}

/// Masked: a job in a panic message or a `{:?}` is not a way out for an identifier.
impl std::fmt::Debug for OkraJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OkraJob")
            .field("kind", &self.kind.name)
            .field("subject", &self.subject(false))
            .field("match", &self.matching.is_some())
            .finish()
    }
}

impl Serialize for OkraJob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let extra = usize::from(self.matching.is_some());
        let mut map = s.serialize_map(Some(1 + self.values.len() + extra))?;
        map.serialize_entry("kind", self.kind.name)?;
        for (f, v) in self.kind.fields.iter().zip(self.values.iter()) {
            map.serialize_entry(f.name, v)?;
        }
        if let Some(m) = &self.matching {
            map.serialize_entry("match", m)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for OkraJob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(d)?;
        Self::from_json(Value::Object(map))
            .map_err(|e| D::Error::custom(format!("{RULE_PREFIX}{e}")))
    }
}

impl Job for OkraJob {
    fn identity(&self) -> Option<(IdType, &str)> {
        let s = &self.kind.subject;
        s.index.map(|ty| (ty, self.value(s.field)))
    }

    fn kind(&self) -> &str {
        self.kind.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_format_round_trips() {
        let j = OkraJob::from_json(json!({"kind":"bvn_verify","bvn":"22234567890"})).unwrap();
        assert_eq!(
            j,
            OkraJob::new("bvn_verify", &[("bvn", "22234567890")]).unwrap()
        );
        assert_eq!(serde_json::to_value(&j).unwrap()["kind"], "bvn_verify");
        assert_eq!(j.path(), "/products/kyc/bvn-verify");
        let j = OkraJob::from_json(
            json!({"kind":"rc_verify","rc_number":"RC123","company_name":"Acme"}),
        )
        .unwrap();
        assert_eq!(j.body()["rc_number"], "RC123");
    }

    #[test]
    fn decoding_errors_keep_the_rule_and_drop_the_value() {
        let e = serde_json::from_str::<OkraJob>(r#"{"kind":"bvn_verify","bvn":"22234567x90"}"#)
            .unwrap_err();
        let shown = crate::job::json_error_rule(&e);
        assert!(
            shown.starts_with("bvn must be exactly 11 digits"),
            "{shown}"
        );
        assert!(!shown.contains("22234567"), "{shown}");
        let e = serde_json::from_str::<OkraJob>(
            r#"{"kind":"bvn_verify","bvn":"22234567890","22234567891":1}"#,
        )
        .unwrap_err();
        let shown = crate::job::json_error_rule(&e);
        assert!(
            shown.starts_with("unknown field (expected kind, bvn, match)"),
            "{shown}"
        );
        let e = OkraJob::from_json(
            json!({"kind":"rc_verify","rc_number":"RC1","company_name":"A","match":{}}),
        )
        .unwrap_err();
        assert!(e.contains("does not verify a person"), "{e}");
    }

    #[test]
    fn invalid_jobs_say_why() {
        let e = |v| OkraJob::from_json(v).unwrap_err();
        assert!(e(json!({"kind":"bvn_verify","bvn":"123"})).contains("11 digits"));
        assert!(e(json!({"kind":"nin_verify","nin":"1234567890a"})).contains("11 digits"));
        assert!(e(json!({"kind":"nuban_verify","nuban":"0123456789"})).contains("bank"));
        assert!(
            e(json!({"kind":"nuban_verify","nuban":"012345678","bank":"b"})).contains("10 digits")
        );
        assert!(
            e(json!({"kind":"bvn_check","bvn":"22234567890"}))
                .contains("unknown kind (expected one of bvn_verify")
        );
        assert!(e(json!({"bvn":"22234567890"})).contains("missing field `kind`"));
        assert!(
            e(json!({"kind":"bvn_verify","bvn":"22234567890","extra":1})).contains("unknown field")
        );
        assert!(
            e(json!({"kind":"tin_verify","tin_number":"1","company_name":" "}))
                .contains("company_name is required")
        );
    }

    #[test]
    fn subjects_are_masked_unless_revealed() {
        let j = OkraJob::new("bvn_verify", &[("bvn", "22234567890")]).unwrap();
        assert_eq!(j.subject(false), "bvn *******7890");
        assert_eq!(j.subject(true), "bvn 22234567890");
        let c = OkraJob::new("customer_verify", &[("customer", "cus-5f3e9a7712")]).unwrap();
        assert_eq!(c.subject(false), "customer **********7712");
        let n = OkraJob::new("nuban_verify", &[("nuban", "0123456789"), ("bank", "b1")]).unwrap();
        assert_eq!(n.subject(false), "nuban ******6789 bank b1");
        assert_eq!(n.person(), ("nuban", "0123456789", "b1"));
        // Debug is masked too: a job in a panic message is not a way out.
        assert!(!format!("{j:?}").contains("22234567890"));
    }
}
