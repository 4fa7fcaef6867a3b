//! Prembly (IdentityPass), from its newest API reference (docs.prembly.com/api-reference,
//! which supersedes the older "docs" and developer.myidentitypass.com pages where they
//! disagree): `POST {base}/<product>/` with a JSON body, the secret key in `X-API-Key` (and
//! `app-id` when `PREMBLY_APP_ID` is set, as the older pages require). Every answer names its
//! outcome in `response_code`, mostly with HTTP 200: the code decides, the status only when
//! the body names none. Its answers say whether they were charged (`billing_info`).
//! The status check (`GET .../status/{reference}/`) is free but needs the reference the lost
//! answer carried, and the log search's parameters are not documented: no free lookup, so
//! `uncertain` decides after an uncertain attempt.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::common::{self, api_error, bad_body, message_of, named};
use super::{Billing, Matched, Method, Provider, ProviderConf, Request, Row, Secrets, Sells, Spec};
use crate::okra::client::{OkraError, Raw, Reply, read_answer};
use crate::okra::jobs::OkraJob;
use crate::okra::rule::Action::{Pause, Retry, Terminal};

/// Prembly.
pub const SPEC: Spec = Spec {
    name: "prembly",
    base_url: "https://api.prembly.com/api/v1/verification/api",
    secrets: &[("PREMBLY_API_KEY", true), ("PREMBLY_APP_ID", false)],
    kinds: Sells::Only(&[
        "bvn_verify",
        "nin_verify",
        "nuban_verify",
        "nuban_name_verify",
        "rc_verify",
        "tin_verify",
    ]),
    billing: Billing::SuccessOnly,
    table: TABLE,
    auth: "`X-API-Key: $PREMBLY_API_KEY` (a `live_sk_` or `test_sk_` secret key), and `app-id: $PREMBLY_APP_ID` when set (older accounts)",
    free_lookup: false,
    build,
};

/// Prembly's answers that are not a record, and what they mean here.
pub const TABLE: &[Row] = &[
    row(
        Matched::Code("01"),
        "record not found, or the ID is invalid",
        "not_found",
        Terminal,
        false,
    ),
    row(
        Matched::Code("02"),
        "the source is unavailable; retry later",
        "unavailable",
        Retry,
        false,
    ),
    row(
        Matched::Code("03"),
        "the organisation has no wallet; older pages: insufficient balance",
        "wallet_empty",
        Pause,
        false,
    ),
    row(
        Matched::Code("04"),
        "wallet balance too low, HTTP 400",
        "wallet_empty",
        Pause,
        false,
    ),
    row(
        Matched::Code("05"),
        "the request is invalid, HTTP 400",
        "bad_request",
        Terminal,
        false,
    ),
    row(
        Matched::Code("06"),
        "some checks failed, combined KYC only",
        "provider_error",
        Terminal,
        false,
    ),
    row(
        Matched::Code("07"),
        "the BVN is blocked or watch-listed",
        "flagged_user",
        Terminal,
        false,
    ),
    row(
        Matched::Code("08"),
        "already verified recently, duplicate prevention on",
        "already_verified",
        Terminal,
        false,
    ),
    row(
        Matched::Code("99"),
        "unexpected error at Prembly, HTTP 500",
        "server_error",
        Retry,
        false,
    ),
    row(
        Matched::WatchListed,
        "`00` with `watchListed: \"YES\"`",
        "flagged_user",
        Terminal,
        true,
    ),
    row(
        Matched::Status(402),
        "balance too low on some endpoints, no code",
        "wallet_empty",
        Pause,
        false,
    ),
    row(
        Matched::Status(404),
        "no such path, no code (a record not found is `01`)",
        "wrong_path",
        Pause,
        false,
    ),
];

const fn row(
    matched: Matched,
    says: &'static str,
    class: &'static str,
    action: crate::okra::rule::Action,
    charged: bool,
) -> Row {
    Row {
        matched,
        says,
        class,
        action,
        charged,
    }
}

/// Prembly with its secrets.
#[derive(Debug)]
pub struct Prembly {
    key: super::Secret,
    app_id: Option<super::Secret>,
    photo: bool,
}

fn build(conf: &ProviderConf, secrets: &Secrets) -> Arc<dyn Provider> {
    Arc::new(Prembly {
        key: secrets
            .get("PREMBLY_API_KEY")
            .cloned()
            .unwrap_or_else(|| super::Secret::new("")),
        app_id: secrets.get("PREMBLY_APP_ID").cloned(),
        photo: conf.photo,
    })
}

impl Prembly {
    /// Prembly with these secrets.
    pub fn new(key: super::Secret, app_id: Option<super::Secret>, photo: bool) -> Self {
        Self { key, app_id, photo }
    }
}

/// The product path and body of a job (the field names of Prembly's documents).
fn product(job: &OkraJob) -> Option<(&'static str, Value)> {
    let f = |n| job.field(n).unwrap_or_default();
    Some(match job.spec().name {
        "bvn_verify" => ("/bvn/", json!({ "number": f("bvn") })),
        "nin_verify" => ("/nin_level_2/", json!({ "number": f("nin") })),
        "nuban_verify" => (
            "/bank_account/advance/",
            json!({ "number": f("nuban"), "bank_code": f("bank") }),
        ),
        "nuban_name_verify" => (
            "/bank_account/",
            json!({ "number": f("nuban"), "bank_code": f("bank") }),
        ),
        "rc_verify" => (
            "/cac/",
            json!({ "rc_number": f("rc_number"), "company_type": "RC", "company_name": f("company_name") }),
        ),
        "tin_verify" => (
            "/tin/",
            json!({ "number": f("tin_number"), "channel": "TIN" }),
        ),
        _ => return None,
    })
}

/// `response_code` as text (`"00"`; a number is padded to two digits).
fn code_of(map: &Map<String, Value>) -> Option<String> {
    match map.get("response_code") {
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(format!("{:02}", n.as_u64()?)),
        _ => None,
    }
}

impl Provider for Prembly {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn request(&self, job: &OkraJob) -> Result<Request, String> {
        use crate::job::Job as _;
        let (path, body) =
            product(job).ok_or_else(|| format!("prembly does not sell {}", job.kind()))?;
        let mut headers = vec![("X-API-Key", self.key.clone())];
        if let Some(id) = &self.app_id {
            headers.push(("app-id", id.clone()));
        }
        Ok(Request {
            method: Method::Post,
            path: path.into(),
            query: vec![],
            body: Some(body),
            headers,
        })
    }

    fn read(&self, job: &OkraJob, raw: &Raw) -> Result<Reply, OkraError> {
        let (status, bytes) = (raw.status, raw.body.as_slice());
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
            // Not JSON, or not an object: as Okra's unreadable answers.
            return read_answer(status, bytes, raw.retry_after);
        };
        let ok = (200..300).contains(&status);
        let code = code_of(&map);
        if ok && code.as_deref() == Some("00") {
            return record(job, &map, self.photo).map_err(|why| match why {
                Outcome::Bad(why) => bad_body(status, why, bytes),
                Outcome::Flagged => {
                    let row = TABLE.iter().find(|r| r.matched == Matched::WatchListed);
                    api_error(
                        status,
                        bytes,
                        None,
                        Some("the record is watch-listed".into()),
                        Some("00".into()),
                        row.map(|r| named("prembly", r, Some(true))),
                    )
                }
            });
        }
        let message = message_of(map.get("message")).or_else(|| message_of(map.get("detail")));
        let charged = map
            .get("billing_info")
            .and_then(|b| b.get("was_charged"))
            .and_then(Value::as_bool);
        if code.is_none() && ok {
            return Err(bad_body(status, "no response_code", bytes));
        }
        let row = Row::find(TABLE, code.as_deref(), status, "");
        Err(api_error(
            status,
            bytes,
            raw.retry_after,
            message,
            code,
            row.map(|r| named("prembly", r, charged)),
        ))
    }
}

/// Why a `00` answer is not taken as a record.
enum Outcome {
    Bad(String),
    Flagged,
}

/// The record of a `00` answer as the common profile (or a company's record).
fn record(job: &OkraJob, map: &Map<String, Value>, photo: bool) -> Result<Reply, Outcome> {
    let rc = job.field("rc_number");
    let found = ["data", "bvn_data", "nin_data", "account_data"]
        .iter()
        .find_map(|k| match map.get(*k) {
            Some(Value::Object(r)) => Some(r),
            // CAC advance answers a list: the company asked about, else the first.
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_object)
                .find(|c| c.get("rc_number").and_then(Value::as_str) == rc)
                .or_else(|| items.iter().find_map(Value::as_object)),
            _ => None,
        })
        .ok_or_else(|| Outcome::Bad("`00` without a record".into()))?;
    if common::watch_listed(found) {
        return Err(Outcome::Flagged);
    }
    let shaped = if common::is_company(job) {
        common::company(job, found)
    } else {
        let own = match job.spec().name {
            "nuban_verify" | "nuban_name_verify" => "account_number",
            "nin_verify" => "nin",
            _ => "bvn",
        };
        let echo = found
            .get(own)
            .filter(|v| !v.is_null())
            .or_else(|| map.get("request_data").and_then(|r| r.get("number")));
        common::person(job, found, echo, photo)
    };
    shaped.map(Reply::Data).map_err(Outcome::Bad)
}
