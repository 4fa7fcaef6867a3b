//! Who may see the dashboard and what every answer carries: the front door (the `Host` must
//! name this server, a change must not come from another site: [`okra_queue::http_guard`]),
//! the token check (bearer header or session cookie), the CSRF token every POST must carry,
//! and the security headers (CSP without inline script, frame denial, no caching, referrers
//! only to itself).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use okra_queue::http_guard::changes_state;
use sha2::Sha256;

use super::Shared;
use super::{session, view};

/// The access tokens (each with the name the audit trail records), and the CSRF token forms
/// carry.
pub struct Guard {
    tokens: Vec<Named>,
    /// Who acts when no token is configured (loopback): the CLI's actor.
    local: String,
    csrf: String,
}

/// One access token and its name.
pub struct Named {
    pub name: String,
    token: String,
    /// A keyed hash of the token, stored with each of its sessions: a changed token ends them.
    pub fingerprint: String,
}

/// Who made a request: the name of the token it carried. Set by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Actor(pub String);

fn keyed(key: &[u8], what: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(what.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Guard {
    /// `tokens`: `(name, token)` pairs; none = loopback only, everyone acts as `local`.
    pub fn new(tokens: Vec<(String, String)>, local: String) -> Self {
        // Without a token the CSRF key is random per process: a forged form cannot know it.
        let secret: Vec<u8> = if tokens.is_empty() {
            session::new_id().into_bytes()
        } else {
            tokens.iter().flat_map(|(_, t)| t.bytes()).collect()
        };
        Self {
            tokens: tokens
                .into_iter()
                .map(|(name, token)| Named {
                    fingerprint: keyed(token.as_bytes(), "okq session"),
                    name,
                    token,
                })
                .collect(),
            local,
            csrf: keyed(&secret, "okq csrf"),
        }
    }

    pub fn needs_login(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The token a login form typed, if it is one.
    pub fn token_named(&self, typed: &str) -> Option<&Named> {
        self.tokens.iter().find(|n| same(typed, &n.token))
    }

    /// The token forms carry in their `csrf` field.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Refuses a POST whose form does not carry the CSRF token.
    pub fn check_csrf(&self, sent: &str) -> Result<(), Response> {
        if same(sent, &self.csrf) {
            Ok(())
        } else {
            Err(view::error(
                StatusCode::FORBIDDEN,
                "This form is stale or did not come from this dashboard (CSRF check failed). Reload the page and try again.",
            ))
        }
    }

    /// The token a bearer header carries.
    fn bearer(&self, req: &Request) -> Option<&Named> {
        req.headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.token_named(t.trim()))
    }

    /// The token a session's stored `NAME FINGERPRINT` is for, if it is still in the file.
    fn holder(&self, stored: &str) -> Option<&Named> {
        let (name, fingerprint) = stored.split_once(' ')?;
        self.tokens
            .iter()
            .find(|n| n.name == name && same(fingerprint, &n.fingerprint))
    }
}

/// The `Host` a request names (the header, or HTTP/2's `:authority`).
pub fn host_of(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
}

/// The front door, before anything else: a `Host` that does not name this server gets 421
/// (a DNS-rebinding page never sees a page or a CSRF token), and a change whose `Origin` or
/// `Sec-Fetch-Site` says another site sent it gets 403. Plain text answers, no page.
pub async fn front_door(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let Some(host) = host_of(&req).filter(|h| app.hosts.allows(h)) else {
        return (
            StatusCode::MISDIRECTED_REQUEST,
            "okra-admin web answers only to its own names (loopback, its address, --public-host)\n",
        )
            .into_response();
    };
    if changes_state(req.method().as_str()) {
        let h = req.headers();
        let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
        if app
            .hosts
            .cross_site(host, get("origin"), get("sec-fetch-site"))
        {
            return (
                StatusCode::FORBIDDEN,
                "okra-admin web refuses changes sent from another site\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Lets a request through when no token is configured, or it carries the token or a live
/// session's cookie; the login page and the static files are open. Pages send people to the
/// login form; anything else gets 401.
pub async fn authenticate(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let actor = if !app.guard.needs_login() {
        Some(app.guard.local.clone())
    } else if let Some(n) = app.guard.bearer(&req) {
        Some(n.name.clone())
    } else {
        let cookies = req
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok());
        match session::from_cookies(cookies).and_then(session::id_hash) {
            None => None,
            Some(hash) => match app.base.rdb().session_get(&hash).await {
                Ok(stored) => stored
                    .as_deref()
                    .and_then(|s| app.guard.holder(s))
                    .map(|n| n.name.clone()),
                Err(e) => {
                    return view::error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("Cannot check the session in Redis: {e}"),
                    );
                }
            },
        }
    };
    if let Some(name) = actor {
        req.extensions_mut().insert(Actor(name));
        return next.run(req).await;
    }
    if matches!(
        req.uri().path(),
        "/login" | "/static/app.css" | "/static/app.js"
    ) {
        return next.run(req).await;
    }
    if req.method() == Method::GET {
        Redirect::to("/login").into_response()
    } else {
        view::error(StatusCode::UNAUTHORIZED, "Log in first.")
    }
}

/// Security headers and the server time (`Server-Timing`, read by `make bench`) on every answer.
pub async fn headers(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    // `same-origin`, not `no-referrer`: the pages' own forms then carry their real `Origin`
    // (the front door checks it), and no URL of this dashboard leaves it as a referrer.
    set(h, "referrer-policy", "same-origin");
    set(h, "cache-control", "no-store");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "app;dur={:.2}",
        started.elapsed().as_secs_f64() * 1000.0
    )) {
        h.insert("server-timing", v);
    }
    res
}

pub async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("static/app.css"),
    )
}

pub async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("static/app.js"),
    )
}
