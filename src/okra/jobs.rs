//! The Okra identity jobs, in their wire format: JSON with a `kind` tag, snake_case.
//!
//! `{"kind":"bvn_verify","bvn":"22234567890"}`; a job that verifies a person may also ask
//! whether the record matches what the customer typed:
//! `{"kind":"bvn_verify","bvn":"22234567890","match":{"last_name":"Belson","date_of_birth":"27/09/1979"}}`

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ident::{IdType, digits};
use crate::job::Job;
use crate::okra::mask;
use crate::okra::matching::MatchRequest;

/// One identity-verification call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OkraJob {
    /// `POST /products/kyc/bvn-verify {bvn}`
    BvnVerify {
        /// Bank Verification Number, 11 digits.
        bvn: String,
        /// What the customer typed, to compare with the verified profile: the result then
        /// carries `match` (see [`MatchRequest`]).
        #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
        matching: Option<Box<MatchRequest>>,
    },
    /// `POST /products/kyc/nin-verify {nin}`
    NinVerify {
        /// National Identification Number, 11 digits.
        nin: String,
        /// What the customer typed, to compare with the verified profile: the result then
        /// carries `match` (see [`MatchRequest`]).
        #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
        matching: Option<Box<MatchRequest>>,
    },
    /// `POST /products/kyc/nuban-verify {nuban, bank}`; 204 = valid account with no BVN.
    NubanVerify {
        /// Account number, 10 digits.
        nuban: String,
        /// Okra bank id.
        bank: String,
        /// What the customer typed, to compare with the verified profile: the result then
        /// carries `match` (see [`MatchRequest`]).
        #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
        matching: Option<Box<MatchRequest>>,
    },
    /// `POST /products/kyc/nuban-name-verify {nuban, bank}`
    NubanNameVerify {
        /// Account number, 10 digits.
        nuban: String,
        /// Okra bank id.
        bank: String,
        /// What the customer typed, to compare with the verified profile: the result then
        /// carries `match` (see [`MatchRequest`]).
        #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
        matching: Option<Box<MatchRequest>>,
    },
    /// `POST /products/kyc/customer-verify {customer}`
    CustomerVerify {
        /// Okra customer id.
        customer: String,
        /// What the customer typed, to compare with the verified profile: the result then
        /// carries `match` (see [`MatchRequest`]).
        #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
        matching: Option<Box<MatchRequest>>,
    },
    /// `POST /products/kyc/rc-verify {rc_number, company_name}`
    RcVerify {
        /// CAC registration number.
        rc_number: String,
        /// Registered company name.
        company_name: String,
    },
    /// `POST /products/kyc/tin-verify {tin_number, company_name}`
    TinVerify {
        /// Tax identification number.
        tin_number: String,
        /// Registered company name.
        company_name: String,
    },
}

/// Every kind, as written in the `kind` field.
pub const KINDS: [&str; 7] = [
    "bvn_verify",
    "nin_verify",
    "nuban_verify",
    "nuban_name_verify",
    "customer_verify",
    "rc_verify",
    "tin_verify",
];

fn present(field: &str, value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        Err(format!("{field} is required"))
    } else if value.len() > 256 {
        Err(format!("{field} is longer than 256 characters"))
    } else {
        Ok(())
    }
}

impl OkraJob {
    /// Parses one job in the wire format, with a clear message when it is not one. The
    /// message names the rule, never a value (a file line may hold a BVN anywhere).
    pub fn from_json(value: Value) -> Result<Self, String> {
        let kind = value.get("kind").cloned();
        match kind {
            None => return Err("missing field `kind`".into()),
            Some(Value::String(k)) if !KINDS.contains(&k.as_str()) => {
                return Err(format!(
                    "unknown kind (expected one of {})",
                    KINDS.join(", ")
                ));
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err("`kind` must be a string".into()),
        }
        let job: Self =
            serde_json::from_value(value).map_err(|e| crate::job::json_error_rule(&e))?;
        job.validate()?;
        Ok(job)
    }

    /// The Okra endpoint, relative to the base URL.
    pub fn path(&self) -> &'static str {
        match self {
            Self::BvnVerify { .. } => "/products/kyc/bvn-verify",
            Self::NinVerify { .. } => "/products/kyc/nin-verify",
            Self::NubanVerify { .. } => "/products/kyc/nuban-verify",
            Self::NubanNameVerify { .. } => "/products/kyc/nuban-name-verify",
            Self::CustomerVerify { .. } => "/products/kyc/customer-verify",
            Self::RcVerify { .. } => "/products/kyc/rc-verify",
            Self::TinVerify { .. } => "/products/kyc/tin-verify",
        }
    }

    /// The request body.
    pub fn body(&self) -> Value {
        match self {
            Self::BvnVerify { bvn, .. } => json!({ "bvn": bvn }),
            Self::NinVerify { nin, .. } => json!({ "nin": nin }),
            Self::NubanVerify { nuban, bank, .. } | Self::NubanNameVerify { nuban, bank, .. } => {
                json!({ "nuban": nuban, "bank": bank })
            }
            Self::CustomerVerify { customer, .. } => json!({ "customer": customer }),
            Self::RcVerify {
                rc_number,
                company_name,
            } => json!({ "rc_number": rc_number, "company_name": company_name }),
            Self::TinVerify {
                tin_number,
                company_name,
            } => json!({ "tin_number": tin_number, "company_name": company_name }),
        }
    }

    /// Who the job is about, for the reuse store and the pay lock: a label, the identifier,
    /// and what else must match for a stored answer to be this job's (the bank of an account
    /// number). Hash the identifier before it goes anywhere.
    pub fn person(&self) -> (&'static str, &str, &str) {
        match self {
            Self::BvnVerify { bvn, .. } => ("bvn", bvn, ""),
            Self::NinVerify { nin, .. } => ("nin", nin, ""),
            Self::NubanVerify { nuban, bank, .. } | Self::NubanNameVerify { nuban, bank, .. } => {
                ("nuban", nuban, bank)
            }
            Self::CustomerVerify { customer, .. } => ("customer", customer, ""),
            Self::RcVerify { rc_number, .. } => ("rc", rc_number, ""),
            Self::TinVerify { tin_number, .. } => ("tin", tin_number, ""),
        }
    }

    /// A field of the job by its wire name (`bvn`, `nuban`, `bank`, `rc_number`, ...), for the
    /// providers' request builders.
    // lead: kind table provides this
    pub fn field(&self, name: &str) -> Option<&str> {
        let v = match (self, name) {
            (Self::BvnVerify { bvn, .. }, "bvn") => bvn,
            (Self::NinVerify { nin, .. }, "nin") => nin,
            (Self::NubanVerify { nuban, .. } | Self::NubanNameVerify { nuban, .. }, "nuban") => {
                nuban
            }
            (Self::NubanVerify { bank, .. } | Self::NubanNameVerify { bank, .. }, "bank") => bank,
            (Self::CustomerVerify { customer, .. }, "customer") => customer,
            (Self::RcVerify { rc_number, .. }, "rc_number") => rc_number,
            (Self::TinVerify { tin_number, .. }, "tin_number") => tin_number,
            (
                Self::RcVerify { company_name, .. } | Self::TinVerify { company_name, .. },
                "company_name",
            ) => company_name,
            _ => return None,
        };
        Some(v)
    }

    /// What the customer typed, when the job asks whether the record matches it (only jobs
    /// that verify a person can).
    pub fn match_request(&self) -> Option<&MatchRequest> {
        match self {
            Self::BvnVerify { matching, .. }
            | Self::NinVerify { matching, .. }
            | Self::NubanVerify { matching, .. }
            | Self::NubanNameVerify { matching, .. }
            | Self::CustomerVerify { matching, .. } => matching.as_deref(),
            Self::RcVerify { .. } | Self::TinVerify { .. } => None,
        }
    }

    /// The identifier for logs, masked where it is personal (BVN, NIN, account number).
    pub fn subject(&self, reveal: bool) -> String {
        let m = |v: &str| {
            if reveal {
                v.to_string()
            } else {
                mask::mask_id(v)
            }
        };
        match self {
            Self::BvnVerify { bvn, .. } => format!("bvn {}", m(bvn)),
            Self::NinVerify { nin, .. } => format!("nin {}", m(nin)),
            Self::NubanVerify { nuban, bank, .. } | Self::NubanNameVerify { nuban, bank, .. } => {
                format!("nuban {} bank {bank}", m(nuban))
            }
            Self::CustomerVerify { customer, .. } => format!("customer {}", m(customer)),
            Self::RcVerify { rc_number, .. } => format!("rc {rc_number}"),
            Self::TinVerify { tin_number, .. } => format!("tin {tin_number}"),
        }
    }
}

impl Job for OkraJob {
    fn identity(&self) -> Option<(IdType, &str)> {
        match self {
            Self::BvnVerify { bvn, .. } => Some((IdType::Bvn, bvn)),
            Self::NinVerify { nin, .. } => Some((IdType::Nin, nin)),
            Self::NubanVerify { nuban, .. } | Self::NubanNameVerify { nuban, .. } => {
                Some((IdType::Nuban, nuban))
            }
            _ => None,
        }
    }

    fn kind(&self) -> &str {
        match self {
            Self::BvnVerify { .. } => "bvn_verify",
            Self::NinVerify { .. } => "nin_verify",
            Self::NubanVerify { .. } => "nuban_verify",
            Self::NubanNameVerify { .. } => "nuban_name_verify",
            Self::CustomerVerify { .. } => "customer_verify",
            Self::RcVerify { .. } => "rc_verify",
            Self::TinVerify { .. } => "tin_verify",
        }
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(m) = self.match_request() {
            m.validate()?;
        }
        match self {
            Self::BvnVerify { bvn, .. } => digits("bvn", bvn, 11),
            Self::NinVerify { nin, .. } => digits("nin", nin, 11),
            Self::NubanVerify { nuban, bank, .. } | Self::NubanNameVerify { nuban, bank, .. } => {
                digits("nuban", nuban, 10)?;
                present("bank", bank)
            }
            Self::CustomerVerify { customer, .. } => present("customer", customer),
            Self::RcVerify {
                rc_number,
                company_name,
            } => {
                present("rc_number", rc_number)?;
                present("company_name", company_name)
            }
            Self::TinVerify {
                tin_number,
                company_name,
            } => {
                present("tin_number", tin_number)?;
                present("company_name", company_name)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_round_trips() {
        let j = OkraJob::from_json(json!({"kind":"bvn_verify","bvn":"22234567890"})).unwrap();
        assert_eq!(
            j,
            OkraJob::BvnVerify {
                bvn: "22234567890".into(),
                matching: None,
            }
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
        let j = OkraJob::BvnVerify {
            bvn: "22234567890".into(),
            matching: None,
        };
        assert_eq!(j.subject(false), "bvn *******7890");
        assert_eq!(j.subject(true), "bvn 22234567890");
        let c = OkraJob::CustomerVerify {
            customer: "cus-5f3e9a7712".into(),
            matching: None,
        };
        assert_eq!(c.subject(false), "customer **********7712");
    }
}
