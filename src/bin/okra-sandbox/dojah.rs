//! Dojah's wire format: `GET /api/v1/kyc/<lookup>?<identifier>=...`, headers `AppId` and
//! `Authorization: <secret key>` required (401 without them, and 401 for `Bearer <key>`, the
//! mistake its documents warn about), a record as `{"entity": {...}}`, failures as plain
//! statuses with `{"error": "<text>"}`. The trigger digits map onto them: found 200, not found
//! 404 (0404) or 400 (0603) with "BVN not found", unavailable (0503, 0505, 0803, 0804 once)
//! 424, wallet empty (0402) 402, flagged (0601, 0602) a record with `watch_listed: "YES"`,
//! invalid (0400, 0422) 400; the rest as Okra's sandbox answers them.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::Query;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::Sandbox;
use super::shared::{self, admit, photo, profile};
use super::triggers::{Trigger, trigger_for};

/// The lookup of a path, its identifier's query field, and another field it requires.
fn lookup(path: &str) -> Option<(&'static str, &'static str, Option<&'static str>)> {
    Some(match path.trim_end_matches('/') {
        "/api/v1/kyc/bvn/full" | "/api/v1/kyc/bvn/advance" => ("dojah-bvn", "bvn", None),
        "/api/v1/kyc/nin" => ("dojah-nin", "nin", None),
        "/api/v1/kyc/nuban" => ("dojah-nuban", "account_number", Some("bank_code")),
        "/api/v1/kyc/cac/basic" => ("dojah-cac", "rc_number", Some("company_type")),
        "/api/v1/kyc/tin" => ("dojah-tin", "tin", None),
        _ => return None,
    })
}

fn error(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "error": text }))).into_response()
}

/// Answers one request in Dojah's wire format.
pub(crate) async fn handle(
    s: &Sandbox,
    method: &Method,
    path: &str,
    uri: &Uri,
    headers: &HeaderMap,
) -> Response {
    let Some((name, field, also)) = lookup(path) else {
        return error(StatusCode::NOT_FOUND, "URL not recognized");
    };
    if method != Method::GET {
        return error(StatusCode::METHOD_NOT_ALLOWED, "The request is disabled");
    }
    let header_of = |h: &str| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let refused = match (
        header_of("appid"),
        header_of(header::AUTHORIZATION.as_str()),
    ) {
        (None, _) | (_, None) => {
            Some("You are unauthorized for this request: AppId and Authorization are required")
        }
        (_, Some(k)) if k.starts_with("Bearer ") => {
            Some("Use <key> not Bearer <key> in Authorization")
        }
        (_, Some(k)) if s.args.secret.as_deref().is_some_and(|want| want != k) => {
            Some("Invalid API key")
        }
        _ => None,
    };
    if let Some(why) = refused {
        shared::unauthorized(s);
        return error(StatusCode::UNAUTHORIZED, why);
    }
    let query: HashMap<String, String> = Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
    let text = |f: &str| {
        query
            .get(f)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let identifier = text(field);
    let Some(first) = admit(s, name, &identifier) else {
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
        if let Some(secs) = s.args.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        return r;
    };
    if !s.args.latency.is_zero() {
        tokio::time::sleep(s.args.latency).await;
    }
    for f in std::iter::once(field).chain(also) {
        if text(f).is_empty() {
            return error(StatusCode::BAD_REQUEST, &format!("{f} is required"));
        }
    }
    if s.unavailable.load(Ordering::SeqCst) {
        return unavailable();
    }
    respond(s, name, &identifier, trigger_for(&identifier), first).await
}

fn unavailable() -> Response {
    error(StatusCode::FAILED_DEPENDENCY, "Third party service failure")
}

async fn respond(s: &Sandbox, name: &str, id: &str, t: Trigger, first: bool) -> Response {
    use Trigger::*;
    match t {
        TimeoutOnce | TimeoutThenSlowLookup | TimeoutThenLookupFails | UnavailableOnce if first => {
            unavailable()
        }
        RateLimitOnce if first => error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded"),
        ServerErrorOnce if first => error(StatusCode::INTERNAL_SERVER_ERROR, "Unexpected error"),
        ServerError => error(StatusCode::INTERNAL_SERVER_ERROR, "Unexpected error"),
        BadGateway => shared::bad_gateway(),
        GatewayTimeout => error(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"),
        BadRequest => error(StatusCode::BAD_REQUEST, "Invalid BVN"),
        Unprocessable => error(
            StatusCode::BAD_REQUEST,
            "Most likely an invalid syntax. Check all parameters.",
        ),
        Unauthorized => error(
            StatusCode::UNAUTHORIZED,
            "You are unauthorized for this request",
        ),
        NotFound => error(StatusCode::NOT_FOUND, "BVN not found"),
        ErrorType("NO_RECORD_ID") => error(StatusCode::BAD_REQUEST, "BVN not found"),
        ErrorType(_) => success(name, id, true),
        WalletEmpty => error(
            StatusCode::PAYMENT_REQUIRED,
            "Your balance is low, please visit the dashboard to top up",
        ),
        Malformed => shared::malformed("{\"entity\":"),
        Slow | SlowFinish => {
            tokio::time::sleep(s.args.slow).await;
            success(name, id, false)
        }
        Redirect => shared::redirect("dojah"),
        Mismatched => success(name, &shared::stranger(id), false),
        Oversized => shared::oversized(s),
        WrongTypes => Json(json!({"entity": {"first_name": [1, "two", null]}})).into_response(),
        _ => success(name, id, false),
    }
}

/// A record of `id` in the lookup's shape.
fn success(name: &str, id: &str, watch_listed: bool) -> Response {
    let p = profile(id, "sandbox");
    let gender = if p["gender"] == "M" { "Male" } else { "Female" };
    let entity = match name {
        "dojah-nin" => json!({
            "nin": id, "first_name": p["firstname"], "middle_name": "", "last_name": p["lastname"],
            "gender": p["gender"], "date_of_birth": p["dob"], "phone_number": p["phone"][0],
            "photo": "BASE 64 IMAGE",
        }),
        "dojah-nuban" => json!({
            "account_number": id, "account_name": p["fullname"], "first_name": p["firstname"],
            "last_name": p["lastname"], "other_names": "", "gender": gender, "dob": p["dob"],
            "phone": p["phone"][0], "identity_number": "2*****26256", "identity_type": "BVN",
            "bank": "First Bank", "account_currency": "NGN", "address_1": p["address"][0],
        }),
        "dojah-cac" => json!({
            "rc_number": id, "company_name": "TEST COMPANY LIMITED", "type_of_company": "COMPANY",
            "address": "4 AKANNI BASHORUN, LEKKI LAGOS", "status": "Active",
            "date_of_registration": "2021-03-18T09:53:20.310+00:00",
        }),
        "dojah-tin" => json!({
            "tin": id, "taxpayer_name": "TEST COMPANY LIMITED", "address": "4 AKANNI BASHORUN, LEKKI LAGOS",
        }),
        _ => json!({
            "bvn": id, "first_name": p["firstname"], "middle_name": "", "last_name": p["lastname"],
            "gender": gender, "date_of_birth": p["dob"], "phone_number1": p["phone"][0],
            "phone_number2": "", "image": photo(), "residential_address": p["address"][0],
            "nin": "", "watch_listed": if watch_listed { "YES" } else { "NO" },
        }),
    };
    Json(json!({ "entity": entity })).into_response()
}
