//! okra-sandbox: a local stand-in for Okra's identity API (Okra shut down in 2025).
//!
//! Serves the KYC endpoints and `/identity/getByBvn` with the bodies from Okra's documents
//! (legacy `status` and newer `success` envelopes), answers 401 without a Bearer key, enforces
//! its own requests-per-minute limit with 429, adds latency on request, honours the `testing` and
//! `success` body flags, and picks deterministic outcomes from the identifier's last four
//! characters (see `--help` or the README). `GET /__sandbox/stats` reports what it was asked.

mod dojah;
mod prembly;
mod shared;
mod triggers;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use okra_queue::okra::KINDS;
use serde_json::{Value, json};
use shared::{admit, profile};
use triggers::{Trigger, trigger_for};

#[derive(Debug, Parser)]
#[command(
    name = "okra-sandbox",
    version,
    about = "A local stand-in for Okra's identity API",
    after_help = concat!(
        "Example:\n  okra-sandbox --addr 127.0.0.1:8088 --rpm 60 --latency 50ms\n",
        "  OKRA_SECRET_KEY=test okra-worker   # with okra.base_url = \"http://127.0.0.1:8088\"\n\n",
        "Triggers: the last four characters of the bvn / nin / nuban / customer / rc_number /\n",
        "tin_number pick the answer:\n",
        "  0503 503 timeout once, then the profile is in getByBvn   0429 429 once, then success\n",
        "  0501 500 once, then success     0500 500 always       0502 502 with HTML always\n",
        "  0504 504 always                 0400 400              0401 401          0404 404\n",
        "  0422 422                        0601 FLAGGED_USER     0602 SUSPENDED    0603 NO_RECORD_ID\n",
        "  0700 malformed body             0800 slower than the client timeout\n",
        "  0204 204 No Content (nuban-verify)                    0301 301 to /__sandbox/elsewhere\n",
        "  0803 503 once, then the first free lookup hangs for --slow\n",
        "  0804 503 once, and every free lookup answers 500     0900 a profile with a receipt\n",
        "  0302 a profile of somebody else   0413 a --big-body body   0701 identity of wrong types\n",
        "  0505 503 once with nothing done at Okra (the lookups find nothing), then success\n",
        "  0805 slower than the client timeout; Okra finishes it --finish-after the request\n",
        "  0402 wallet empty (Okra: type PLAN)\n",
        "  anything else: a profile\n\n",
        "A 2xx verify (0700, 0413, 0701 too) is charged, and the lookups then have the profile.\n",
        "--lookup-miss 404 answers a lookup for an unknown identity with HTTP 404 and Okra's error\n",
        "envelope instead of an empty list; bare-404 with an empty 404.\n\n",
        "Body flags: \"success\": false forces a 400, \"success\": true forces a profile.\n",
        "GET /__sandbox/stats shows the calls received; POST /__sandbox/reset clears them.\n\n",
        "--provider prembly|dojah answers in that provider's wire format (docs/providers.md has\n",
        "how each trigger maps onto its codes); on any listener the path prefixes /okra, /prembly\n",
        "and /dojah pick one. POST /__sandbox/unavailable makes Prembly and Dojah answer \"try\n",
        "later\" to everything; DELETE /__sandbox/unavailable ends it."
    )
)]
struct Args {
    /// Address to listen on (port 0 picks a free port; the first line printed says which).
    #[arg(long, default_value = "127.0.0.1:8088", env = "OKRA_SANDBOX_ADDR")]
    addr: SocketAddr,
    /// Requests allowed per window before answering 429 (0 = no limit).
    #[arg(long, default_value_t = 0)]
    rpm: u32,
    /// Length of the rate-limit window.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    window: Duration,
    /// Latency added to every answer.
    #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// How long the 0800 trigger takes to answer.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    slow: Duration,
    /// Send `Retry-After: <seconds>` with 429 answers (Okra documents none).
    #[arg(long)]
    retry_after: Option<u64>,
    /// Size of the 0413 trigger's body, streamed (bytes).
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    big_body: usize,
    /// Accept only this Bearer key (default: any non-empty key).
    #[arg(long, env = "OKRA_SANDBOX_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// How a free lookup answers for an identity it does not have: `empty` (200 with an
    /// empty list, as Okra's search documents), `404` (404 with Okra's error envelope, as a
    /// stand-in for the live API did) or `bare-404` (404 with an empty body).
    #[arg(long, value_enum, default_value_t = LookupMiss::Empty)]
    lookup_miss: LookupMiss,
    /// When the 0805 trigger's verify is finished (and charged) at Okra, after the request.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    finish_after: Duration,
    /// The wire format this listener speaks (the path prefixes /okra, /prembly, /dojah pick
    /// one per request).
    #[arg(long, value_enum, default_value_t = Wire::Okra)]
    provider: Wire,
}

/// A provider's wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Wire {
    /// Okra's (the default).
    Okra,
    /// Prembly's (IdentityPass).
    Prembly,
    /// Dojah's.
    Dojah,
}

/// How a lookup answers for an unknown identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LookupMiss {
    /// 200 with an empty identity list.
    Empty,
    /// 404 with Okra's error envelope.
    #[value(name = "404")]
    NotFound,
    /// 404 with an empty body.
    #[value(name = "bare-404")]
    Bare404,
}

#[derive(Default)]
struct Calls {
    /// (ms since epoch, path, identifier) of every request that passed auth and the limit.
    log: Vec<(u64, String, String)>,
    per_call: HashMap<String, u32>,
    window: VecDeque<Instant>,
    rate_limited: u32,
    unauthorized: u32,
    /// Requests that reached `/__sandbox/elsewhere` (a redirect target), and how many of them
    /// carried an `Authorization` header.
    elsewhere: u32,
    elsewhere_with_key: u32,
    /// Identifiers (BVN, NIN, account number, customer id) whose verify Okra accepted and will
    /// finish (even when the caller stops waiting): the free lookups have their profile.
    known: HashSet<String>,
}

struct Sandbox {
    args: Args,
    calls: Mutex<Calls>,
    /// Prembly and Dojah answer "try later" to everything (`/__sandbox/unavailable`).
    unavailable: AtomicBool,
}

type Shared = Arc<Sandbox>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    okra_queue::telemetry::init("pretty", "okra_sandbox=info");
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    println!("okra-sandbox listening on http://{addr}");
    let state = Arc::new(Sandbox {
        args,
        calls: Mutex::new(Calls::default()),
        unavailable: AtomicBool::new(false),
    });
    let app = Router::new()
        .route("/__sandbox/stats", get(stats))
        .route("/__sandbox/reset", post(reset))
        .route("/__sandbox/elsewhere", get(elsewhere).post(elsewhere))
        .route(
            "/__sandbox/unavailable",
            post(|State(s): State<Shared>| async move {
                s.unavailable.store(true, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            })
            .delete(|State(s): State<Shared>| async move {
                s.unavailable.store(false, Ordering::SeqCst);
                StatusCode::NO_CONTENT
            }),
        )
        .fallback(dispatch)
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal handler");
            tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
        })
        .await?;
    Ok(())
}

async fn stats(State(s): State<Shared>) -> Json<Value> {
    let calls = s.calls.lock().unwrap();
    let mut by_path: HashMap<&str, u32> = HashMap::new();
    for (_, path, _) in &calls.log {
        *by_path.entry(path.as_str()).or_default() += 1;
    }
    // Most requests inside any window of `--window` (two-pointer sweep over sorted times).
    let mut times: Vec<u64> = calls.log.iter().map(|(t, _, _)| *t).collect();
    times.sort_unstable();
    let window = s.args.window.as_millis() as u64;
    let (mut max, mut lo) = (0, 0);
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window {
            lo += 1;
        }
        max = max.max(hi - lo + 1);
    }
    Json(json!({
        "total": calls.log.len(),
        "rate_limited": calls.rate_limited,
        "unauthorized": calls.unauthorized,
        "elsewhere": calls.elsewhere,
        "elsewhere_with_key": calls.elsewhere_with_key,
        "max_in_window": max,
        "window_ms": window,
        "by_path": by_path,
        "by_call": calls.per_call,
        "requests": calls.log.iter().map(|(t, p, id)| json!({"at": t, "path": p, "id": id})).collect::<Vec<_>>(),
    }))
}

async fn reset(State(s): State<Shared>) -> StatusCode {
    *s.calls.lock().unwrap() = Calls::default();
    StatusCode::NO_CONTENT
}

/// A route of Okra's API, from the kind table: a kind's verify or its free lookup.
struct Route {
    /// The path's last segment (`bvn-verify`, `getByBvn`).
    name: &'static str,
    /// The body's fields, the identifier first.
    fields: Vec<&'static str>,
    /// A free lookup, not a paid verify.
    lookup: bool,
}

/// Which route `path` is (with or without Okra's `/v2` and `/sandbox` prefixes).
fn endpoint(path: &str) -> Option<Route> {
    let path = path.strip_prefix("/v2").unwrap_or(path);
    let path = path.strip_prefix("/sandbox").unwrap_or(path);
    let last = |p: &'static str| p.rsplit('/').next().unwrap_or(p);
    KINDS.iter().find_map(|k| {
        if k.okra_path == path {
            return Some(Route {
                name: last(k.okra_path),
                fields: k.fields.iter().map(|f| f.name).collect(),
                lookup: false,
            });
        }
        let (lookup, _) = k.lookup.filter(|(l, _)| *l == path)?;
        Some(Route {
            name: last(lookup),
            fields: std::iter::once(k.subject.field)
                .chain(k.subject.also)
                .collect(),
            lookup: true,
        })
    })
}

fn error(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The wire format of a request: its path prefix, else the listener's `--provider`.
async fn dispatch(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let (wire, rest) = [
        ("/okra", Wire::Okra),
        ("/prembly", Wire::Prembly),
        ("/dojah", Wire::Dojah),
    ]
    .into_iter()
    .find_map(|(p, w)| Some((w, path.strip_prefix(p).filter(|r| r.starts_with('/'))?)))
    .unwrap_or((s.args.provider, path));
    match wire {
        Wire::Okra => api(s.clone(), method, rest, headers, body).await,
        Wire::Prembly => prembly::handle(&s, &method, rest, &headers, &body).await,
        Wire::Dojah => dojah::handle(&s, &method, rest, &uri, &headers).await,
    }
}

async fn api(s: Shared, method: Method, path: &str, headers: HeaderMap, body: Bytes) -> Response {
    let Some(Route {
        name,
        fields,
        lookup: is_lookup,
    }) = endpoint(path)
    else {
        return error(
            StatusCode::NOT_FOUND,
            json!({"status": "error", "message": format!("Route {path} not found")}),
        );
    };
    if method != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"status": "error", "message": "Every Okra endpoint is POST"}),
        );
    }
    // Auth: `Authorization: Bearer <secret key>`.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let authorized = match (&s.args.secret, bearer) {
        (_, None) => false,
        (Some(want), Some(got)) => want == got,
        (None, Some(_)) => true,
    };
    if !authorized {
        shared::unauthorized(&s);
        return error(
            StatusCode::UNAUTHORIZED,
            json!({"name": "APIError", "status": "error", "message": "Unauthorized - You don't have access to this resource"}),
        );
    }
    let body: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"status": "error", "message": "Invalid request body: expected a JSON object"}),
            );
        }
    };
    let text = |f: &str| {
        body.get(f)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let identifier = text(fields[0]);
    // The sandbox's own rate limit.
    if admit(&s, name, &identifier).is_none() {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"status": "error", "message": "Too many requests. You can try again in 60 seconds.", "type": "RATE_LIMIT"}),
        );
        if let Some(secs) = s.args.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        return r;
    }
    let forced = body.get("success").and_then(Value::as_bool);
    let trigger = if forced == Some(true) {
        Trigger::Success
    } else {
        trigger_for(&identifier)
    };
    let complete = fields.iter().all(|f| !text(f).trim().is_empty());
    // Okra finishes (and charges for) a verify it accepted, even when the caller stops
    // waiting (it hangs up during the latency below): the free lookups know the profile.
    if complete
        && forced != Some(false)
        && !is_lookup
        && matches!(
            trigger,
            Trigger::Success
                | Trigger::Receipt
                | Trigger::Malformed
                | Trigger::Oversized
                | Trigger::WrongTypes
        )
    {
        s.calls.lock().unwrap().known.insert(identifier.clone());
    }
    if !s.args.latency.is_zero() {
        tokio::time::sleep(s.args.latency).await;
    }
    for f in fields {
        if text(f).trim().is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                json!({"status": "error", "message": format!("{f} is required"), "data": {"message": [format!("{f} is required")]}}),
            );
        }
    }
    if is_lookup {
        return lookup(&s, name, &identifier).await;
    }
    if forced == Some(false) {
        return error(
            StatusCode::BAD_REQUEST,
            json!({"status": "error", "message": "Verification failed (sandbox: success=false)"}),
        );
    }
    let first_call = s.calls.lock().unwrap().per_call[&format!("{name} {identifier}")] == 1;
    answer(&s, name, &body, &identifier, trigger, first_call).await
}

async fn answer(
    s: &Shared,
    name: &str,
    body: &Value,
    identifier: &str,
    trigger: Trigger,
    first: bool,
) -> Response {
    use Trigger::*;
    let status_error = |status: StatusCode, message: &str| {
        error(status, json!({"status": "error", "message": message}))
    };
    match trigger {
        TimeoutOnce | TimeoutThenSlowLookup | TimeoutThenLookupFails if first => {
            // The verification finishes in the background, as Okra's docs warn.
            s.calls.lock().unwrap().known.insert(identifier.to_string());
            status_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Our data source has returned a timeout response. Please retry the request. ",
            )
        }
        RateLimitOnce if first => error(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"status": "error", "message": "Too many requests. You can try again in 60 seconds.", "type": "RATE_LIMIT"}),
        ),
        ServerErrorOnce if first => status_error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side."),
        UnavailableOnce if first => status_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Our data source has returned a timeout response. Please retry the request. ",
        ),
        SlowFinish => {
            // Okra finishes (and charges) later than it answers the caller's timeout.
            let shared = s.clone();
            let (id, after) = (identifier.to_string(), s.args.finish_after);
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                shared.calls.lock().unwrap().known.insert(id);
            });
            tokio::time::sleep(s.args.slow).await;
            success(name, body, identifier, false)
        }
        ServerError => status_error(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side."),
        BadGateway => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n",
        )
            .into_response(),
        GatewayTimeout => status_error(StatusCode::GATEWAY_TIMEOUT, "Gateway timeout"),
        BadRequest => status_error(StatusCode::BAD_REQUEST, "The API call failed. Please check the message payload."),
        Unauthorized => error(
            StatusCode::UNAUTHORIZED,
            json!({"name": "APIError", "status": "error", "message": "Unauthorized - You don't have access to this resource"}),
        ),
        NotFound => status_error(StatusCode::NOT_FOUND, "No record found for this identifier"),
        Unprocessable => status_error(StatusCode::UNPROCESSABLE_ENTITY, "The identifier could not be processed"),
        ErrorType(t) => error(
            StatusCode::OK,
            json!({
                "status": "error",
                "message": match t {
                    "FLAGGED_USER" => "This customer has been flagged",
                    "SUSPENDED" => "This account has been suspended",
                    _ => "No record was found with the id provided",
                },
                "type": t,
                "code": 1000,
                "method": name.to_uppercase().replace('-', "_"),
                "data": {},
            }),
        ),
        WalletEmpty => error(
            StatusCode::OK,
            json!({"status": "error", "message": "Your plan does not cover this call", "type": "PLAN", "data": {}}),
        ),
        Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"success\",\"data\":{\"identity\":",
        )
            .into_response(),
        Slow => {
            // Okra finishes the verification even when the caller stops waiting.
            s.calls.lock().unwrap().known.insert(identifier.to_string());
            tokio::time::sleep(s.args.slow).await;
            success(name, body, identifier, false)
        }
        NoContent if name == "nuban-verify" => StatusCode::NO_CONTENT.into_response(),
        Redirect => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, "/__sandbox/elsewhere?from=okra")],
        )
            .into_response(),
        Mismatched => match ["bvn", "nin", "nuban"]
            .into_iter()
            .find(|f| body.get(*f).is_some())
        {
            // The same endpoint, somebody else's identifier.
            Some(field) => {
                let keep = identifier.len().saturating_sub(4);
                let stranger = format!("{}9999", &identifier[..keep]);
                let mut other = body.clone();
                other[field] = json!(stranger);
                success(name, &other, &stranger, false)
            }
            None => success(name, body, identifier, false),
        },
        Oversized => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = s.args.big_body.div_ceil(chunk.len());
            let stream = futures::stream::iter(
                std::iter::repeat_n(chunk, chunks).map(Ok::<_, std::io::Error>),
            );
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                axum::body::Body::from_stream(stream),
            )
                .into_response()
        }
        WrongTypes => Json(json!({
            "status": "success",
            "message": "Identity succesfully retrieved",
            "data": {"identity": [1, "two", null]},
        }))
        .into_response(),
        Receipt => success(name, body, identifier, true),
        _ => success(name, body, identifier, false),
    }
}

/// What a paid answer costs, in credits (1 credit = 1 USD), as Okra's receipts said.
const RECEIPT: f64 = 0.1;

fn success(name: &str, body: &Value, identifier: &str, receipt: bool) -> Response {
    let testing = body
        .get("testing")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let env = if testing {
        "sandbox-testing"
    } else {
        "sandbox"
    };
    let data = match name {
        "rc-verify" | "tin-verify" => json!({
            "rcNo": body.get("rc_number").cloned().unwrap_or(Value::Null),
            "tin": body.get("tin_number").cloned().unwrap_or(Value::Null),
            "companyName": body.get("company_name").cloned().unwrap_or(Value::Null),
            "address": "4 AKANNI BASHORUN, LEKKI LAGOS",
            "dateReg": "2015-03-12",
            "env": env,
        }),
        "nuban-name-verify" => {
            let p = profile(identifier, env);
            json!({"identity": {"fullname": p["fullname"], "firstname": p["firstname"], "lastname": p["lastname"], "nuban": identifier}})
        }
        _ => {
            let mut p = profile(identifier, env);
            if name == "nin-verify" {
                p["nin"] = p["bvn"].take();
            }
            if let Some(c) = body.get("customer") {
                p["customer"] = json!({"_id": c, "name": p["fullname"]});
            }
            json!({"identity": p, "customer": "5da6358130a943486f33dced", "account": "5da6358130a943486f33dcee"})
        }
    };
    if name == "nin-verify" || receipt {
        // The revamped identity API's envelope, with the receipt its paid answers carry.
        let mut data = data;
        data["receipt"] = json!({"amount": RECEIPT, "currency": "USD"});
        return Json(json!({
            "success": true,
            "message": "Identity retrieved successfully",
            "data": data,
        }))
        .into_response();
    }
    Json(json!({"status": "success", "message": "Identity succesfully retrieved", "data": data}))
        .into_response()
}

/// Where the 0301 trigger points: it answers anybody (a stranger's profile), and counts who
/// came, and whether they brought the secret key.
async fn elsewhere(State(s): State<Shared>, headers: HeaderMap) -> Response {
    {
        let mut calls = s.calls.lock().unwrap();
        calls.elsewhere += 1;
        if headers.contains_key(header::AUTHORIZATION) {
            calls.elsewhere_with_key += 1;
        }
    }
    Json(json!({"status": "success", "message": "ok", "data": {"identity": profile("29999999999", "elsewhere")}}))
        .into_response()
}

/// The free lookups (`getByBvn`, `getByNuban`, `getByCustomer`, the revamped API's `search`
/// by NIN): the profile when a verify for the identifier was accepted, else an empty list.
async fn lookup(s: &Sandbox, name: &str, identifier: &str) -> Response {
    let (known, calls) = {
        let c = s.calls.lock().unwrap();
        (
            c.known.contains(identifier),
            c.per_call
                .get(&format!("{name} {identifier}"))
                .copied()
                .unwrap_or(0),
        )
    };
    match trigger_for(identifier) {
        Trigger::TimeoutThenSlowLookup if calls == 1 => tokio::time::sleep(s.args.slow).await,
        Trigger::TimeoutThenLookupFails => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"status": "error", "message": "Something went wrong on our side."}),
            );
        }
        _ => {}
    }
    let identity: Vec<Value> = if known {
        let mut p = profile(identifier, "sandbox");
        match name {
            "search" => p["nin"] = p["bvn"].take(),
            "getByNuban" => p["nuban"] = json!(identifier),
            "getByCustomer" => p["customer"] = json!({"_id": identifier, "name": p["fullname"]}),
            _ => {}
        }
        vec![p]
    } else {
        vec![]
    };
    if identity.is_empty() {
        match s.args.lookup_miss {
            LookupMiss::Empty => {}
            LookupMiss::NotFound => {
                let what = match name {
                    "search" => "NIN",
                    "getByNuban" => "NUBAN",
                    "getByCustomer" => "customer",
                    _ => "BVN",
                };
                return error(
                    StatusCode::NOT_FOUND,
                    json!({"status": "error", "message": format!("No identity found for this {what}"), "data": null}),
                );
            }
            LookupMiss::Bare404 => return StatusCode::NOT_FOUND.into_response(),
        }
    }
    let total = identity.len();
    Json(json!({
        "status": "success",
        "message": "Identity retrieved successfully",
        "data": {
            "identity": identity,
            "pagination": {"totalDocs": total, "limit": 20, "hasPrevPage": false, "hasNextPage": false,
                           "page": 1, "totalPages": 1, "pagingCounter": 1, "prevPage": null, "nextPage": null},
        },
    }))
    .into_response()
}
