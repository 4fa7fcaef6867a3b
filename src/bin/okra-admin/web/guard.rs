//! Who may see the dashboard and what every answer carries: the token check (bearer header or
//! session cookie), the login form, the CSRF token every POST must carry, and the security
//! headers (CSP without inline script, frame denial, no caching, no referrer).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac};
use maud::html;
use sha2::Sha256;

use super::Shared;
use super::view;

const COOKIE: &str = "okq_session";

/// The access tokens (each with the name the audit trail records), what a session cookie holds
/// (a keyed hash of a token, never the token itself), and the CSRF token forms carry.
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
    session: String,
}

/// Who made a request: the name of the token it carried. Set by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// Reads a token file: one `NAME TOKEN` per line (`#` comments), or a lone token (named
/// `token`). Tokens are at least 16 characters; names are unique. Errors are one line and
/// never show a token.
pub fn parse_tokens(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (name, token) = match fields.as_slice() {
            [token] => ("token", *token),
            [name, token] => (*name, *token),
            _ => return Err(format!("line {}: expected `NAME TOKEN`", n + 1)),
        };
        if token.len() < 16 {
            return Err(format!(
                "line {}: the token of {name} is shorter than 16 characters",
                n + 1
            ));
        }
        if out.iter().any(|(m, _)| m == name) {
            return Err(format!("line {}: the name {name} is listed twice", n + 1));
        }
        out.push((name.to_string(), token.to_string()));
    }
    if out.is_empty() {
        return Err("no token in it (one `NAME TOKEN` per line)".into());
    }
    Ok(out)
}

fn keyed(key: &str, what: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
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
        let secret: String = if tokens.is_empty() {
            (0..4)
                .map(|_| format!("{:016x}", fastrand::u64(..)))
                .collect()
        } else {
            tokens.iter().map(|(_, t)| t.as_str()).collect()
        };
        Self {
            tokens: tokens
                .into_iter()
                .map(|(name, token)| Named {
                    session: keyed(&token, "okq session"),
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
    fn token_named(&self, typed: &str) -> Option<&Named> {
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

    /// Who the request is from: the name of the token (bearer header or session cookie) it
    /// carries, or the local actor when no token is configured; `None`: let it not in.
    fn actor(&self, req: &Request) -> Option<String> {
        if self.tokens.is_empty() {
            return Some(self.local.clone());
        }
        let headers = req.headers();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| self.token_named(t.trim()));
        let cookie = || {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .filter(|(k, _)| *k == COOKIE)
                .find_map(|(_, v)| self.tokens.iter().find(|n| same(v, &n.session)))
        };
        bearer.or_else(cookie).map(|n| n.name.clone())
    }
}

/// Lets a request through when no token is configured, or it carries the token or the session
/// cookie; the login page and the static files are open. Pages send people to the login form;
/// anything else gets 401.
pub async fn authenticate(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let open = matches!(
        req.uri().path(),
        "/login" | "/static/app.css" | "/static/app.js"
    );
    if let Some(name) = app.guard.actor(&req) {
        req.extensions_mut().insert(Actor(name));
        return next.run(req).await;
    }
    if open {
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
    set(h, "referrer-policy", "no-referrer");
    set(h, "cache-control", "no-store");
    if let Ok(v) = HeaderValue::from_str(&format!(
        "app;dur={:.2}",
        started.elapsed().as_secs_f64() * 1000.0
    )) {
        h.insert("server-timing", v);
    }
    res
}

pub async fn login_page(State(app): State<Shared>) -> Response {
    login_form(&app, None, StatusCode::OK)
}

fn login_form(app: &Shared, message: Option<&str>, status: StatusCode) -> Response {
    let body = html! {
        h1 { "Log in" }
        @if let Some(m) = message { p.flash.bad { (m) } }
        form.login method="post" action="/login" {
            input type="hidden" name="csrf" value=(app.guard.csrf());
            label { "Access token" input type="password" name="token" autocomplete="current-password" autofocus; }
            button type="submit" { "Log in" }
        }
    };
    (status, view::page("Log in", None, body)).into_response()
}

#[derive(serde::Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(State(app): State<Shared>, axum::Form(f): axum::Form<LoginForm>) -> Response {
    if let Err(r) = app.guard.check_csrf(&f.csrf) {
        return r;
    }
    if !app.guard.needs_login() {
        return Redirect::to("/").into_response();
    }
    let Some(named) = app.guard.token_named(f.token.trim()) else {
        // Failed logins are recorded too (no name: the token typed matched none).
        let _ = app
            .base
            .acting_as("unknown")
            .audit(
                "login",
                "dashboard",
                serde_json::json!({}),
                "error: not a token",
            )
            .await;
        return login_form(
            &app,
            Some("That is not the token."),
            StatusCode::UNAUTHORIZED,
        );
    };
    if let Err(e) = app
        .base
        .acting_as(&named.name)
        .audit("login", "dashboard", serde_json::json!({}), "ok")
        .await
    {
        // Accountability first: no session without its record.
        return login_form(
            &app,
            Some(&format!(
                "Logins are recorded in the audit trail, and recording failed: {e}"
            )),
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
        named.session
    );
    let mut res = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(State(app): State<Shared>, axum::Form(f): axum::Form<CsrfForm>) -> Response {
    if let Err(r) = app.guard.check_csrf(&f.csrf) {
        return r;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("okq_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
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
