//! Dojah, from its documents (docs.dojah.io, the newer mintlify pages, over api-docs.dojah.io
//! where they disagree) and the OpenAPI spec in its SDK repository: every KYC lookup is a
//! `GET` with the identifier in the query, headers `AppId` and `Authorization: <secret key>`
//! (no `Bearer`). A record comes as `{"entity": {...}}` with HTTP 200; failures are plain HTTP
//! statuses with `{"error": "<text>"}`, and "not found" is told only by that text (400 on the
//! validate page, 404 in the status table): only those two statuses with a text containing
//! "not found" are taken as it. The only flag it documents is a record's `watch_listed`.
//! No free lookup: `uncertain` decides after an uncertain attempt.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::common::{self, api_error, bad_body, message_of, named};
use super::{Billing, Matched, Method, Provider, ProviderConf, Request, Row, Secrets, Sells, Spec};
use crate::okra::client::{OkraError, Raw, Reply, read_answer};
use crate::okra::jobs::OkraJob;
use crate::okra::rule::Action::{self, Pause, Retry, Terminal};

/// Dojah.
pub const SPEC: Spec = Spec {
    name: "dojah",
    base_url: "https://api.dojah.io",
    secrets: &[("DOJAH_APP_ID", true), ("DOJAH_SECRET_KEY", true)],
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
    auth: "`AppId: $DOJAH_APP_ID` and `Authorization: $DOJAH_SECRET_KEY` (the key alone, no `Bearer`)",
    free_lookup: false,
    build,
};

/// Dojah's answers that are not a record, and what they mean here.
pub const TABLE: &[Row] = &[
    row(
        Matched::Text(400, "not found"),
        "`{\"error\": \"BVN not found\"}`",
        "not_found",
        Terminal,
        false,
    ),
    row(
        Matched::Text(404, "not found"),
        "records not found",
        "not_found",
        Terminal,
        false,
    ),
    row(
        Matched::WatchListed,
        "200 with `watch_listed: \"YES\"`",
        "flagged_user",
        Terminal,
        true,
    ),
    row(
        Matched::Status(402),
        "balance low, top up",
        "wallet_empty",
        Pause,
        false,
    ),
    row(
        Matched::Status(424),
        "third-party (NIMC, NIBSS) failure",
        "unavailable",
        Retry,
        false,
    ),
    row(
        Matched::Status(404),
        "URL not recognised, other text",
        "wrong_path",
        Pause,
        false,
    ),
    row(
        Matched::Status(405),
        "method disabled",
        "wrong_path",
        Pause,
        false,
    ),
];

const fn row(
    matched: Matched,
    says: &'static str,
    class: &'static str,
    action: Action,
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

/// Dojah with its secrets.
#[derive(Debug)]
pub struct Dojah {
    app_id: super::Secret,
    key: super::Secret,
    photo: bool,
}

fn build(conf: &ProviderConf, secrets: &Secrets) -> Arc<dyn Provider> {
    let get = |n| {
        secrets
            .get(n)
            .cloned()
            .unwrap_or_else(|| super::Secret::new(""))
    };
    Arc::new(Dojah::new(
        get("DOJAH_APP_ID"),
        get("DOJAH_SECRET_KEY"),
        conf.photo,
    ))
}

impl Dojah {
    /// Dojah with these secrets.
    pub fn new(app_id: super::Secret, key: super::Secret, photo: bool) -> Self {
        Self { app_id, key, photo }
    }
}

/// The path and query of a job.
fn lookup_of(job: &OkraJob) -> Option<(&'static str, Vec<(&'static str, String)>)> {
    let f = |n| job.field(n).unwrap_or_default().to_string();
    Some(match job.spec().name {
        "bvn_verify" => ("/api/v1/kyc/bvn/full", vec![("bvn", f("bvn"))]),
        "nin_verify" => ("/api/v1/kyc/nin", vec![("nin", f("nin"))]),
        "nuban_verify" | "nuban_name_verify" => (
            "/api/v1/kyc/nuban",
            vec![("account_number", f("nuban")), ("bank_code", f("bank"))],
        ),
        "rc_verify" => (
            "/api/v1/kyc/cac/basic",
            vec![
                ("rc_number", f("rc_number")),
                ("company_type", "COMPANY".into()),
            ],
        ),
        "tin_verify" => ("/api/v1/kyc/tin", vec![("tin", f("tin_number"))]),
        _ => return None,
    })
}

impl Provider for Dojah {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn request(&self, job: &OkraJob) -> Result<Request, String> {
        use crate::job::Job as _;
        let (path, query) =
            lookup_of(job).ok_or_else(|| format!("dojah does not sell {}", job.kind()))?;
        Ok(Request {
            method: Method::Get,
            path: path.into(),
            query,
            body: None,
            headers: vec![
                ("AppId", self.app_id.clone()),
                ("Authorization", self.key.clone()),
            ],
        })
    }

    fn read(&self, job: &OkraJob, raw: &Raw) -> Result<Reply, OkraError> {
        let (status, bytes) = (raw.status, raw.body.as_slice());
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
            return read_answer(status, bytes, raw.retry_after);
        };
        let message = message_of(map.get("error")).or_else(|| message_of(map.get("message")));
        if (200..300).contains(&status) {
            return match (map.get("entity"), message) {
                (Some(Value::Object(entity)), _) => record(job, entity, self.photo, status, bytes),
                (_, Some(m)) => Err(api_error(status, bytes, None, Some(m), None, None)),
                _ => Err(bad_body(status, "no `entity`", bytes)),
            };
        }
        let row = Row::find(TABLE, None, status, message.as_deref().unwrap_or(""));
        Err(api_error(
            status,
            bytes,
            raw.retry_after,
            message,
            None,
            row.map(|r| named("dojah", r, None)),
        ))
    }
}

/// An entity as the common profile (or a company's record).
fn record(
    job: &OkraJob,
    entity: &Map<String, Value>,
    photo: bool,
    status: u16,
    bytes: &[u8],
) -> Result<Reply, OkraError> {
    if common::watch_listed(entity) {
        let row = TABLE.iter().find(|r| r.matched == Matched::WatchListed);
        return Err(api_error(
            status,
            bytes,
            None,
            Some("the record is watch-listed".into()),
            None,
            row.map(|r| named("dojah", r, None)),
        ));
    }
    let shaped = if common::is_company(job) {
        common::company(job, entity)
    } else {
        let own = match job.spec().name {
            "nuban_verify" | "nuban_name_verify" => "account_number",
            "nin_verify" => "nin",
            _ => "bvn",
        };
        common::person(job, entity, entity.get(own), photo)
    };
    shaped
        .map(Reply::Data)
        .map_err(|why| bad_body(status, why, bytes))
}
