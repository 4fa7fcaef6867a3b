//! The Okra HTTP client: one pooled `reqwest` client, JSON over POST, bearer auth.
//!
//! Reads both success envelopes (legacy `{"status":"success"}` and newer `{"success":true}`),
//! the error body (`status`, `message`, `data`, `method`, `code`, `type`), an error body sent
//! with HTTP 200, and bodies that are not JSON at all.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::rule::Rule;
use super::settings::OkraSettings;
use crate::job::excerpt;

/// The Okra secret key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Arc<str>);

impl SecretKey {
    /// Environment variable the key is read from.
    pub const ENV: &'static str = "OKRA_SECRET_KEY";

    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Arc::from(key.into()))
    }

    /// Reads `OKRA_SECRET_KEY`.
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(Self::ENV) {
            Ok(k) if !k.trim().is_empty() => Ok(Self::new(k.trim())),
            _ => Err(format!(
                "{} is not set: export the Okra secret key (any non-empty value works with okra-sandbox)",
                Self::ENV
            )),
        }
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The envelope's `data`.
    Data(Value),
    /// 204 No Content (nuban-verify: a valid account with no BVN attached).
    NoContent,
}

/// Okra's error body fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// `message` (or `data.message`).
    pub message: Option<String>,
    /// `method`.
    pub method: Option<String>,
    /// `code`.
    pub code: Option<String>,
    /// `type`, upper-cased.
    pub error_type: Option<String>,
    /// The body was the provider's JSON error envelope (`"status": "error"`, `"success":
    /// false` or `"error": true`), not HTML, an empty body or some other shape: a 404 that
    /// carries it comes from the API, not from a path that does not exist.
    pub enveloped: bool,
    /// The class another provider's own table gave this answer (its `response_code`, its
    /// error text): it decides over the HTTP status. `None` for Okra's answers.
    pub named: Option<Named>,
}

/// What a provider's table says about one of its error answers (see `okra::providers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The provider (`prembly`, `dojah`).
    pub provider: &'static str,
    /// The class and what it does.
    pub rule: Rule,
    /// Whether the provider charges for this answer (its billing rule, or the answer's own
    /// word where it gives one).
    pub charged: bool,
}

/// An answer as it came: status, `Retry-After`, and the body (read up to the limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, if sent.
    pub retry_after: Option<Duration>,
    /// The body.
    pub body: Vec<u8>,
}

/// A failed call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OkraError {
    /// Okra answered with an error (any status, including an error body sent with 200).
    #[error("{} answered HTTP {status}{}: {}", .body.named.as_ref().map_or("Okra", |n| n.provider), .body.error_type.as_deref().map(|t| format!(" ({t})")).unwrap_or_default(), .body.message.as_deref().unwrap_or("no message"))]
    Api {
        /// HTTP status.
        status: u16,
        /// Parsed error fields (boxed: keeps `Result<Reply, OkraError>` small).
        body: Box<ErrorBody>,
        /// The start of the body.
        excerpt: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// A 2xx answer whose body cannot be read.
    #[error("Okra answered HTTP {status} with a body that cannot be read: {reason}")]
    BadBody {
        /// HTTP status.
        status: u16,
        /// What was wrong.
        reason: String,
        /// The start of the body.
        excerpt: String,
    },
    /// A redirect, never followed: it would send the key and the identifier elsewhere, and a
    /// followed POST comes back as a GET answered by someone else.
    #[error("Okra answered HTTP {status} (a redirect{}); redirects are never followed", .location.as_deref().map(|l| format!(" to {l}")).unwrap_or_default())]
    Redirect {
        /// HTTP status (3xx).
        status: u16,
        /// `Location`, scheme, host and path only.
        location: Option<String>,
    },
    /// A 2xx whose body was larger than `okra.max_body`; reading stopped and the connection was
    /// dropped. (A refusal that large is read as its status with an empty body.)
    #[error("Okra answered HTTP {status} with a body over {limit} bytes; it was not read")]
    Oversized {
        /// HTTP status.
        status: u16,
        /// The limit.
        limit: usize,
    },
    /// No answer: connect, reset, TLS or timeout.
    #[error("request to Okra failed: {message}")]
    Transport {
        /// The client timeout fired.
        timeout: bool,
        /// The connection was never made, so the request never reached Okra.
        connect: bool,
        /// What happened.
        message: String,
    },
}

impl OkraError {
    /// Whether Okra may have done (and charged for) the work without its answer reaching us:
    /// no answer at all once the request could have left (a timeout or a reset, not a refused
    /// connection), Okra's own 503 timeout, a gateway's 502 or 504 in front of it, or a 2xx
    /// whose body cannot be read (oversized or not JSON): Okra charges for a 2xx, and the
    /// profile it paid for may still be had from the free lookup.
    pub fn uncertain(&self) -> bool {
        match self {
            Self::Transport { connect, .. } => !connect,
            Self::Api { status, .. } => matches!(status, 502..=504),
            Self::BadBody { status, .. } | Self::Oversized { status, .. } => {
                (200..300).contains(status)
            }
            Self::Redirect { .. } => false,
        }
    }

    /// The HTTP status, when Okra answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. }
            | Self::BadBody { status, .. }
            | Self::Redirect { status, .. }
            | Self::Oversized { status, .. } => Some(*status),
            Self::Transport { .. } => None,
        }
    }
}

/// Client for one Okra base URL.
#[derive(Debug, Clone)]
pub struct OkraClient {
    http: reqwest::Client,
    base: String,
    secret: SecretKey,
    testing: bool,
    max_body: usize,
}

impl OkraClient {
    /// A pooled client with the configured timeout.
    pub fn new(settings: &OkraSettings, secret: SecretKey) -> Result<Self, String> {
        Ok(Self {
            http: http_client(settings.timeout)?,
            base: settings.base_url.trim_end_matches('/').to_string(),
            secret,
            testing: settings.testing,
            max_body: settings.max_body,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// POSTs `body` to `path` and reads the answer.
    pub async fn post(&self, path: &str, mut body: Value) -> Result<Reply, OkraError> {
        if self.testing
            && let Some(map) = body.as_object_mut()
        {
            map.insert("testing".into(), Value::Bool(true));
        }
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&*self.secret.0)
            .header(reqwest::header::ACCEPT, "application/json; charset=utf-8")
            .json(&body);
        let raw = exchange(request, self.max_body).await?;
        if raw.status == 204 {
            return Ok(Reply::NoContent);
        }
        read_answer(raw.status, &raw.body, raw.retry_after)
    }

    /// The pooled HTTP client (redirects never followed), for the other providers' requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `okra.max_body`.
    pub fn max_body(&self) -> usize {
        self.max_body
    }
}

/// A pooled client with this timeout that never follows a redirect (it would send the key
/// and the identifier elsewhere).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(256)
        .user_agent(concat!("okra-queue/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Sends a request and reads its answer up to `max_body` bytes, the same for every provider:
/// a redirect is an error (never followed), a larger body is dropped unread.
pub async fn exchange(request: reqwest::RequestBuilder, max_body: usize) -> Result<Raw, OkraError> {
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    if (300..400).contains(&status) {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(strip_query);
        return Err(OkraError::Redirect { status, location });
    }
    if status == 204 {
        return Ok(Raw {
            status,
            retry_after,
            body: Vec::new(),
        });
    }
    // Over the limit, a 2xx is an answer that cannot be read (and may have been paid for);
    // a refusal is classified by its status alone, its body dropped: a proxy's large 503
    // page must leave the charge as uncertain as a small one does, a 429 wait as a 429.
    let over = |status: u16| {
        if (200..300).contains(&status) {
            Err(OkraError::Oversized {
                status,
                limit: max_body,
            })
        } else {
            Ok(Raw {
                status,
                retry_after,
                body: Vec::new(),
            })
        }
    };
    if response
        .content_length()
        .is_some_and(|n| n > max_body as u64)
    {
        return over(status);
    }
    // Read chunk by chunk up to the limit; dropping the response drops the connection.
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if bytes.len() + chunk.len() > max_body {
            return over(status);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Raw {
        status,
        retry_after,
        body: bytes,
    })
}

/// A redirect target without its query (which could carry anything).
fn strip_query(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or("").to_string()
}

fn transport(mut e: reqwest::Error) -> OkraError {
    // A provider that takes the identifier in the query (Dojah) must not see it in a message.
    if let Some(url) = e.url_mut() {
        url.set_query(None);
    }
    // reqwest's own text is vague ("error sending request"); the cause is in its sources.
    OkraError::Transport {
        timeout: e.is_timeout(),
        connect: e.is_connect(),
        message: crate::policy::chain_message(&e),
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v.trim()).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Reads an answer's status and body into a reply or an error.
pub fn read_answer(
    status: u16,
    bytes: &[u8],
    retry_after: Option<Duration>,
) -> Result<Reply, OkraError> {
    let text = String::from_utf8_lossy(bytes);
    let excerpt = excerpt(&text);
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    let ok_status = (200..300).contains(&status);
    let Some(Value::Object(map)) = json else {
        if ok_status {
            let reason = if text.trim().is_empty() {
                "empty body".to_string()
            } else {
                "not a JSON object".to_string()
            };
            return Err(OkraError::BadBody {
                status,
                reason,
                excerpt,
            });
        }
        return Err(OkraError::Api {
            status,
            body: Box::new(ErrorBody {
                message: Some(format!("{} (body is not JSON)", reason_phrase(status))),
                ..ErrorBody::default()
            }),
            excerpt,
            retry_after,
        });
    };
    let says_success = map.get("success") == Some(&Value::Bool(true))
        || map.get("status").and_then(Value::as_str) == Some("success");
    let says_error = map.get("success") == Some(&Value::Bool(false))
        || map.get("status").and_then(Value::as_str) == Some("error")
        || map.get("error") == Some(&Value::Bool(true));
    if ok_status && says_success && !says_error {
        return Ok(Reply::Data(map.get("data").cloned().unwrap_or(Value::Null)));
    }
    if ok_status && !says_error {
        return Err(OkraError::BadBody {
            status,
            reason: "neither a success nor an error envelope".into(),
            excerpt,
        });
    }
    let text_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Array(items)) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        _ => None,
    };
    let data = map.get("data");
    let body = ErrorBody {
        message: text_of(map.get("message"))
            .or_else(|| text_of(data.and_then(|d| d.get("message"))))
            .or_else(|| Some(reason_phrase(status))),
        method: text_of(map.get("method")).or_else(|| text_of(data.and_then(|d| d.get("method")))),
        code: text_of(map.get("code")),
        error_type: text_of(map.get("type")).map(|t| t.to_ascii_uppercase()),
        enveloped: says_error,
        named: None,
    };
    Err(OkraError::Api {
        status,
        body: Box::new(body),
        excerpt,
        retry_after,
    })
}

fn reason_phrase(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map_or_else(|| format!("HTTP {status}"), str::to_string)
}

/// The identity profile inside a success envelope's `data`: `data.identity` (an object, or the
/// first of an array, as `getByBvn` answers), else `data` itself.
pub fn profile_of(data: &Value) -> Option<Value> {
    match data.get("identity") {
        Some(Value::Array(items)) => items.first().cloned(),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => None,
        None if data.is_object() => Some(data.clone()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(r: Result<Reply, OkraError>) -> (u16, ErrorBody) {
        match r {
            Err(OkraError::Api { status, body, .. }) => (status, *body),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn both_success_envelopes() {
        let legacy = br#"{"status":"success","message":"Identity succesfully retrieved","data":{"identity":{"bvn":"1"}}}"#;
        assert!(
            matches!(read_answer(200, legacy, None), Ok(Reply::Data(d)) if d["identity"]["bvn"] == "1")
        );
        let newer =
            br#"{"success":true,"message":"ok","data":{"identity":{"nin":"2"},"receipt":{}}}"#;
        assert!(
            matches!(read_answer(200, newer, None), Ok(Reply::Data(d)) if d["identity"]["nin"] == "2")
        );
    }

    #[test]
    fn error_bodies_with_any_status() {
        let (status, body) = api(read_answer(
            200,
            br#"{"status":"error","message":"Customer is flagged","type":"flagged_user","method":"VERIFY","code":1013}"#,
            None,
        ));
        assert_eq!(status, 200);
        assert_eq!(body.error_type.as_deref(), Some("FLAGGED_USER"));
        assert_eq!(body.code.as_deref(), Some("1013"));
        assert_eq!(body.method.as_deref(), Some("VERIFY"));
        let (status, body) = api(read_answer(
            503,
            br#"{"status":"error","message":"Our data source has returned a timeout response. Please retry the request. "}"#,
            None,
        ));
        assert_eq!(status, 503);
        assert!(body.message.unwrap().starts_with("Our data source"));
        let (_, body) = api(read_answer(400, br#"{"status":"error"}"#, None));
        assert_eq!(body.message.as_deref(), Some("Bad Request"));
        let (_, body) = api(read_answer(
            400,
            br#"{"status":"error","data":{"message":["bvn is required"]}}"#,
            None,
        ));
        assert_eq!(body.message.as_deref(), Some("bvn is required"));
    }

    #[test]
    fn garbage_bodies() {
        assert!(matches!(
            read_answer(200, b"<html>oops</html>", None),
            Err(OkraError::BadBody { .. })
        ));
        assert!(matches!(
            read_answer(200, b"", None),
            Err(OkraError::BadBody { .. })
        ));
        assert!(matches!(
            read_answer(200, br#"{"hello":1}"#, None),
            Err(OkraError::BadBody { .. })
        ));
        let (status, body) = api(read_answer(
            502,
            b"<html>\n<h1>Bad Gateway</h1></html>",
            None,
        ));
        assert_eq!(status, 502);
        assert_eq!(
            body.message.as_deref(),
            Some("Bad Gateway (body is not JSON)")
        );
    }

    #[test]
    fn only_the_error_envelope_counts_as_one() {
        let (_, body) = api(read_answer(
            404,
            br#"{"status":"error","message":"No identity found for this BVN","data":null}"#,
            None,
        ));
        assert!(body.enveloped);
        for bare in [
            &b"<html>Not Found</html>"[..],
            b"",
            br#"{"detail":"Not Found"}"#,
        ] {
            let (_, body) = api(read_answer(404, bare, None));
            assert!(!body.enveloped, "{}", String::from_utf8_lossy(bare));
        }
    }

    #[test]
    fn an_unreadable_2xx_may_have_been_charged() {
        assert!(read_answer(200, b"<html>", None).unwrap_err().uncertain());
        let big = OkraError::Oversized {
            status: 200,
            limit: 10,
        };
        assert!(big.uncertain());
    }

    /// One answer from a loopback server: `status`, `extra` headers, and `len` bytes of body,
    /// declared by `Content-Length` or not (then the connection's end ends it).
    async fn answered(
        status: u16,
        extra: &str,
        len: usize,
        declared: bool,
    ) -> Result<Raw, OkraError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/v2/products/kyc/bvn-verify",
            listener.local_addr().unwrap()
        );
        let head = match declared {
            true => format!("HTTP/1.1 {status} X\r\n{extra}Content-Length: {len}\r\n\r\n"),
            false => format!("HTTP/1.1 {status} X\r\n{extra}Connection: close\r\n\r\n"),
        };
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&vec![b'x'; len]).await;
        });
        let client = http_client(Duration::from_secs(5)).unwrap();
        let r = exchange(client.post(url), 1024).await;
        server.abort();
        r
    }

    /// A proxy's 503 page over `okra.max_body` leaves the charge as uncertain as a small one,
    /// a 429 that large still waits; only a 2xx that large is an unreadable answer.
    #[tokio::test]
    async fn a_refusal_over_the_limit_is_read_as_its_status() {
        for declared in [true, false] {
            let raw = answered(503, "", 4096, declared).await.unwrap();
            let e = read_answer(raw.status, &raw.body, raw.retry_after).unwrap_err();
            assert!(e.uncertain() && e.status() == Some(503), "{e:?}");
            let raw = answered(429, "Retry-After: 7\r\n", 4096, declared)
                .await
                .unwrap();
            let e = read_answer(raw.status, &raw.body, raw.retry_after).unwrap_err();
            assert!(
                matches!(e, OkraError::Api { status: 429, retry_after: Some(d), .. } if d == Duration::from_secs(7)),
                "{e:?}"
            );
            let e = answered(200, "", 4096, declared).await.unwrap_err();
            assert!(matches!(e, OkraError::Oversized { status: 200, .. }) && e.uncertain());
        }
    }

    #[test]
    fn retry_after_reads_seconds() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn profiles_come_from_identity_objects_or_arrays() {
        let d = serde_json::json!({"identity": [{"bvn": "1"}], "pagination": {}});
        assert_eq!(profile_of(&d).unwrap()["bvn"], "1");
        assert!(profile_of(&serde_json::json!({"identity": []})).is_none());
        let company = serde_json::json!({"rcNo": "RC1"});
        assert_eq!(profile_of(&company).unwrap()["rcNo"], "RC1");
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(
            format!("{:?}", SecretKey::new("sk_live_123")),
            "SecretKey(***)"
        );
    }
}
