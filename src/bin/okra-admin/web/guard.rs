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

/// The access token, what the session cookie holds (a keyed hash of the token, never the token
/// itself), and the CSRF token forms carry.
pub struct Guard {
    token: Option<String>,
    session: Option<String>,
    csrf: String,
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
    pub fn new(token: Option<String>) -> Self {
        // Without a token the CSRF key is random per process: a forged form cannot know it.
        let secret = token.clone().unwrap_or_else(|| {
            (0..4)
                .map(|_| format!("{:016x}", fastrand::u64(..)))
                .collect()
        });
        Self {
            session: token.as_deref().map(|t| keyed(t, "okq session")),
            csrf: keyed(&secret, "okq csrf"),
            token,
        }
    }

    pub fn needs_login(&self) -> bool {
        self.token.is_some()
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

    fn allows(&self, req: &Request) -> bool {
        let (Some(token), Some(session)) = (&self.token, &self.session) else {
            return true;
        };
        let headers = req.headers();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| same(t.trim(), token));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && same(v, session));
        bearer || cookie
    }
}

/// Lets a request through when no token is configured, or it carries the token or the session
/// cookie; the login page and the static files are open. Pages send people to the login form;
/// anything else gets 401.
pub async fn authenticate(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let open = matches!(
        req.uri().path(),
        "/login" | "/static/app.css" | "/static/app.js"
    );
    if open || app.guard.allows(&req) {
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
    match (&app.guard.token, &app.guard.session) {
        (Some(token), Some(session)) if same(f.token.trim(), token) => {
            let cookie = format!("{COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
            let mut res = Redirect::to("/").into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                res.headers_mut().insert(header::SET_COOKIE, v);
            }
            res
        }
        (None, _) => Redirect::to("/").into_response(),
        _ => login_form(
            &app,
            Some("That is not the token."),
            StatusCode::UNAUTHORIZED,
        ),
    }
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
