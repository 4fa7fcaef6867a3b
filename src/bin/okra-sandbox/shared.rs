//! What every wire format of the sandbox shares: the log and rate limit every request passes,
//! the made-up person an identifier stands for, and the answers that are the same whoever the
//! provider is (a gateway's HTML, a redirect, a body too large to read).

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::Sandbox;

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Logs a request that passed auth (for `/__sandbox/stats`), unless the sandbox's own rate
/// limit refuses it: `false` then (the caller answers 429 in its wire format). Returns
/// whether this is the first call of `name` for `identifier` too.
pub(crate) fn admit(s: &Sandbox, name: &str, identifier: &str) -> Option<bool> {
    let mut calls = s.calls.lock().unwrap();
    if s.args.rpm > 0 {
        let now = Instant::now();
        while calls
            .window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= s.args.window)
        {
            calls.window.pop_front();
        }
        if calls.window.len() >= s.args.rpm as usize {
            calls.rate_limited += 1;
            return None;
        }
        calls.window.push_back(now);
    }
    calls
        .log
        .push((now_ms(), name.to_string(), identifier.to_string()));
    let n = calls
        .per_call
        .entry(format!("{name} {identifier}"))
        .or_default();
    *n += 1;
    Some(*n == 1)
}

/// Counts a request refused for its credentials.
pub(crate) fn unauthorized(s: &Sandbox) {
    s.calls.lock().unwrap().unauthorized += 1;
}

/// A gateway's 502 in HTML.
pub(crate) fn bad_gateway() -> Response {
    (
        StatusCode::BAD_GATEWAY,
        [(header::CONTENT_TYPE, "text/html")],
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n",
    )
        .into_response()
}

/// A 301 to `/__sandbox/elsewhere`, which answers anybody a stranger's profile.
pub(crate) fn redirect(from: &str) -> Response {
    (
        StatusCode::MOVED_PERMANENTLY,
        [(
            header::LOCATION,
            format!("/__sandbox/elsewhere?from={from}"),
        )],
    )
        .into_response()
}

/// A 200 JSON body that never ends in time: `--big-body` bytes, streamed.
pub(crate) fn oversized(s: &Sandbox) -> Response {
    let chunk = Bytes::from(vec![b' '; 64 * 1024]);
    let chunks = s.args.big_body.div_ceil(chunk.len());
    let stream =
        futures::stream::iter(std::iter::repeat_n(chunk, chunks).map(Ok::<_, std::io::Error>));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// A 200 whose body is cut short (not JSON).
pub(crate) fn malformed(start: &'static str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        start,
    )
        .into_response()
}

/// Somebody else's identifier: the same, its last four digits `9999`.
pub(crate) fn stranger(identifier: &str) -> String {
    let keep = identifier.len().saturating_sub(4);
    format!("{}9999", &identifier[..keep])
}

/// A passport photo as Prembly and Dojah send it (base64 of a JPEG): made up, but of a real
/// one's size (about 6 KB), so an answer carrying it is larger than the 4 KiB a failure keeps
/// of a body, as real answers are.
pub(crate) fn photo() -> String {
    format!("/9j/4AAQSkZJRgABAQAAAQABAAD{}", "A".repeat(6_000))
}

/// A made-up profile, the same every time for the same identifier.
pub(crate) fn profile(identifier: &str, env: &str) -> Value {
    const FIRST: [&str; 8] = [
        "GAVIN", "ADAEZE", "TUNDE", "NGOZI", "EMEKA", "FUNMI", "BAYO", "CHIOMA",
    ];
    const LAST: [&str; 8] = [
        "BELSON", "OKAFOR", "ADEYEMI", "EZE", "BALOGUN", "NWOSU", "BELLO", "ADEBAYO",
    ];
    let seed: usize = identifier.bytes().map(usize::from).sum();
    let (first, last) = (FIRST[seed % 8], LAST[(seed / 8) % 8]);
    let digits: String = identifier.chars().filter(char::is_ascii_digit).collect();
    json!({
        "id": format!("5da6{:020}", seed),
        "fullname": format!("{first} {last}"),
        "firstname": first,
        "middlename": "",
        "lastname": last,
        "bvn": if digits.len() == 11 { Value::String(digits.clone()) } else { Value::Null },
        "dob": format!("19{:02}-0{}-1{}", 60 + seed % 40, 1 + seed % 9, seed % 10),
        "gender": if seed % 2 == 0 { "M" } else { "F" },
        "phone": [format!("23470{:08}", seed * 7919 % 100_000_000)],
        "email": [],
        "address": ["4 AKANNI BASHORUN, LEKKI LAGOS"],
        "verified": true,
        "aliases": [],
        "env": env,
        "created_at": "2019-12-14T13:46:53.415Z",
        "last_updated": "2021-01-26T10:14:56.300Z",
    })
}
