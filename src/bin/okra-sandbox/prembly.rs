//! Prembly's wire format (its newest API reference): `POST /api/v1/verification/api/<product>/`
//! with a JSON body, `X-API-Key` required (401 "Authentication credentials were not
//! provided" without it), every outcome in `response_code`, mostly with HTTP 200. The trigger
//! digits map onto its codes: found `00`, not found (0404, 0603) `01`, unavailable (0503,
//! 0505, 0803, 0804 once) `02`, wallet empty (0402) `04` with 400, flagged (0601) `07`, a
//! watch-listed record (0602) `00` with `watchListed: "YES"`, 0500 `99` with 500, invalid
//! (0400, 0422) `05` with 400; the rest as Okra's sandbox answers them.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Sandbox;
use super::shared::{self, admit, photo, profile};
use super::triggers::{Trigger, trigger_for};

/// The product of a path, and its identifier's body field.
fn product(path: &str) -> Option<(&'static str, &'static str)> {
    let path = path.trim_end_matches('/');
    let path = path
        .strip_prefix("/api/v1/verification/api")
        .unwrap_or(path);
    Some(match path {
        "/bvn" => ("prembly-bvn", "number"),
        "/nin_level_2" => ("prembly-nin", "number"),
        "/bank_account/advance" => ("prembly-bank-advance", "number"),
        "/bank_account" => ("prembly-bank", "number"),
        "/cac" => ("prembly-cac", "rc_number"),
        "/tin" => ("prembly-tin", "number"),
        _ => return None,
    })
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The verification envelope with `code` (and `data` for `00`).
fn envelope(
    status: StatusCode,
    code: &str,
    message: &str,
    data: Option<(&str, Value)>,
) -> Response {
    let found = code == "00";
    let mut body = json!({
        "status": found,
        "response_code": code,
        "message": message,
        "detail": message,
        "verification": {
            "status": if found { "VERIFIED" } else { "NOT-VERIFIED" },
            "reference": "8b0f6a3e-5c3d-4f0e-9a51-2f7d1c9e4b10",
        },
        "billing_info": {"was_charged": found, "amount": if found { "100.00" } else { "0.00" }, "currency": "NGN"},
        "metadata": {},
    });
    if let Some((key, data)) = data {
        body[key] = data;
    }
    answer(status, body)
}

fn invalid(field: &str) -> Response {
    envelope(
        StatusCode::BAD_REQUEST,
        "05",
        "The request is invalid",
        Some(("errors", json!({ field: ["This field is required."] }))),
    )
}

/// Answers one request in Prembly's wire format.
pub(crate) async fn handle(
    s: &Sandbox,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let Some((name, field)) = product(path) else {
        return answer(StatusCode::NOT_FOUND, json!({"detail": "Not found."}));
    };
    if method != Method::POST {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": format!("Method \"{method}\" not allowed.")}),
        );
    }
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let refused = match (key, &s.args.secret) {
        (None, _) => Some("Authentication credentials were not provided"),
        (Some(got), Some(want)) if got != want => Some("Invalid API key or inactive organisation"),
        _ => None,
    };
    if let Some(why) = refused {
        shared::unauthorized(s);
        return answer(
            StatusCode::UNAUTHORIZED,
            json!({"status": false, "detail": why, "message": why}),
        );
    }
    let Ok(body @ Value::Object(_)) = serde_json::from_slice::<Value>(body) else {
        return invalid("body");
    };
    let text = |f: &str| {
        body.get(f)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let identifier = text(field);
    let Some(first) = admit(s, name, &identifier) else {
        let mut r = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"detail": "Request was throttled."}),
        );
        if let Some(secs) = s.args.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        return r;
    };
    if !s.args.latency.is_zero() {
        tokio::time::sleep(s.args.latency).await;
    }
    if identifier.is_empty() {
        return invalid(field);
    }
    if name.starts_with("prembly-bank") && text("bank_code").is_empty() {
        return invalid("bank_code");
    }
    if s.unavailable.load(Ordering::SeqCst) {
        return unavailable();
    }
    respond(s, name, &body, &identifier, trigger_for(&identifier), first).await
}

fn unavailable() -> Response {
    envelope(
        StatusCode::OK,
        "02",
        "Verification can't be completed at this time. Kindly retry later",
        None,
    )
}

async fn respond(
    s: &Sandbox,
    name: &str,
    body: &Value,
    id: &str,
    t: Trigger,
    first: bool,
) -> Response {
    use Trigger::*;
    let code = |status, code, message| envelope(status, code, message, None);
    match t {
        TimeoutOnce | TimeoutThenSlowLookup | TimeoutThenLookupFails | UnavailableOnce if first => {
            unavailable()
        }
        RateLimitOnce if first => answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"detail": "Request was throttled."}),
        ),
        ServerErrorOnce if first => {
            code(StatusCode::INTERNAL_SERVER_ERROR, "99", "Unexpected error")
        }
        ServerError => code(StatusCode::INTERNAL_SERVER_ERROR, "99", "Unexpected error"),
        BadGateway => shared::bad_gateway(),
        GatewayTimeout => answer(
            StatusCode::GATEWAY_TIMEOUT,
            json!({"detail": "Gateway Timeout"}),
        ),
        BadRequest | Unprocessable => invalid("number"),
        Unauthorized => answer(
            StatusCode::UNAUTHORIZED,
            json!({"status": false, "detail": "Invalid API key or inactive organisation"}),
        ),
        NotFound | ErrorType("NO_RECORD_ID") => code(
            StatusCode::OK,
            "01",
            "Record not found.\nThe ID data you entered does not exist or may be incorrect.",
        ),
        ErrorType("FLAGGED_USER") => code(StatusCode::OK, "07", "BVN is blocked/watch-listed"),
        ErrorType(_) => success(name, body, id, true),
        WalletEmpty => code(
            StatusCode::BAD_REQUEST,
            "04",
            "Wallet balance too low for this call",
        ),
        Malformed => shared::malformed("{\"status\":true,\"response_code\":\"00\",\"data\":"),
        Slow | SlowFinish => {
            tokio::time::sleep(s.args.slow).await;
            success(name, body, id, false)
        }
        Redirect => shared::redirect("prembly"),
        Mismatched => success(name, body, &shared::stranger(id), false),
        Oversized => shared::oversized(s),
        WrongTypes => envelope(
            StatusCode::OK,
            "00",
            "Verification successful",
            Some(("data", json!({"firstName": [1, "two", null]}))),
        ),
        _ => success(name, body, id, false),
    }
}

/// A `00` answer with the record of `id` in the product's shape.
fn success(name: &str, body: &Value, id: &str, watch_listed: bool) -> Response {
    let p = profile(id, "sandbox");
    let gender = if p["gender"] == "M" { "Male" } else { "Female" };
    let (key, data) = match name {
        "prembly-nin" => (
            "data",
            json!({
                "nin": id, "firstname": p["firstname"], "middlename": "", "surname": p["lastname"],
                "birthdate": p["dob"], "gender": if p["gender"] == "M" { "m" } else { "f" },
                "telephoneno": p["phone"][0], "photo": "BASE64 IMAGE STRING",
            }),
        ),
        "prembly-bank-advance" => (
            "account_data",
            json!({
                "account_number": id, "account_name": p["fullname"], "first_name": p["firstname"],
                "last_name": p["lastname"], "other_names": "", "dob": p["dob"], "gender": gender,
                "phone": p["phone"][0], "address_1": p["address"][0], "identity_type": "BVN",
                "identity_number": "2*****26256",
            }),
        ),
        "prembly-bank" => (
            "account_data",
            json!({
                "account_number": id, "account_name": p["fullname"], "bank_id": 9,
            }),
        ),
        "prembly-cac" => (
            "data",
            json!({
                "rc_number": id, "company_name": body.get("company_name").and_then(Value::as_str).unwrap_or("TEST COMPANY"),
                "company_address": "4 AKANNI BASHORUN, LEKKI LAGOS", "company_status": "Active",
                "registrationDate": "1986-06-04T00:00:00Z", "company_type": "RC",
            }),
        ),
        "prembly-tin" => (
            "data",
            json!({
                "tin": id, "taxpayer_name": "TEST COMPANY LIMITED", "company_name": "TEST COMPANY LIMITED",
                "address": "4 AKANNI BASHORUN, LEKKI LAGOS",
            }),
        ),
        _ => (
            "data",
            json!({
                "bvn": id, "firstName": p["firstname"], "middleName": "", "lastName": p["lastname"],
                "dateOfBirth": p["dob"], "phoneNumber1": p["phone"][0], "phoneNumber2": "",
                "gender": gender, "residentialAddress": p["address"][0],
                "watchListed": if watch_listed { "YES" } else { "NO" }, "base64Image": photo(),
            }),
        ),
    };
    envelope(
        StatusCode::OK,
        "00",
        "Verification successful",
        Some((key, data)),
    )
}
