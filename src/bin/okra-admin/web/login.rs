//! Logging in and out. Login attempts are limited per client and overall (fixed windows,
//! [`okra_queue::http_guard::Limiter`]; over the limit: 429 with `Retry-After`). Failed and
//! refused attempts are counted, not recorded one by one: each window that had any leaves ONE
//! summary ("N failed logins from M clients") in the audit trail's unauthenticated stream,
//! which is capped apart from the operators' entries, so no flood of bad logins can push an
//! operator's action out of the trail.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use okra_queue::http_guard::{Limiter, retry_after_secs};

use super::{Shared, session, view};

/// Distinct clients a window's summary counts (memory stays bounded under a flood).
const CLIENTS_COUNTED: usize = 100_000;

/// The login limits and the failed-login counts.
pub struct Logins {
    limiter: Limiter,
    window: Mutex<Tally>,
    /// Since start: failed logins, and attempts refused by the limits (shown on /audit).
    pub failed_total: AtomicU64,
    pub refused_total: AtomicU64,
}

#[derive(Default)]
struct Tally {
    failed: u64,
    refused: u64,
    clients: HashSet<IpAddr>,
}

impl Logins {
    /// At most `per_client` attempts from one client and `total` overall per `window`.
    pub fn new(per_client: u32, total: u32, window: Duration) -> Self {
        Self {
            limiter: Limiter::new(per_client, total, window),
            window: Mutex::new(Tally::default()),
            failed_total: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
        }
    }

    pub fn window(&self) -> Duration {
        self.limiter.window()
    }

    fn count(&self, client: IpAddr, refused: bool) {
        let mut t = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if refused {
            t.refused += 1;
            self.refused_total.fetch_add(1, Ordering::Relaxed);
        } else {
            t.failed += 1;
            self.failed_total.fetch_add(1, Ordering::Relaxed);
        }
        if t.clients.len() < CLIENTS_COUNTED {
            t.clients.insert(client);
        }
    }

    fn take(&self) -> Tally {
        std::mem::take(&mut *self.window.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One client: its IP address, an IPv6 one by its /64 (one host's share of a network).
fn client(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        IpAddr::V6(v6) => IpAddr::V4(v6.to_ipv4_mapped().expect("checked")),
        ip => ip,
    }
}

/// Writes the window's summary, if it had a failed or refused login; a summary that cannot be
/// written is logged and its counts carried to the next window.
pub async fn flush(app: &Shared) {
    let t = app.logins.take();
    if t.failed == 0 && t.refused == 0 {
        return;
    }
    let clients = t.clients.len();
    let mut result = format!(
        "{} failed login{} from {clients} client{}",
        t.failed,
        if t.failed == 1 { "" } else { "s" },
        if clients == 1 { "" } else { "s" }
    );
    if t.refused > 0 {
        result.push_str(&format!(", {} refused by the rate limit", t.refused));
    }
    let counts = serde_json::json!({
        "failed": t.failed,
        "refused": t.refused,
        "clients": clients,
        "window_s": app.logins.window().as_secs(),
    });
    tracing::warn!(
        failed = t.failed,
        refused = t.refused,
        clients,
        "failed dashboard logins"
    );
    if let Err(e) = app
        .base
        .audit_unauthenticated("login-failed", "dashboard", counts, &result)
        .await
    {
        tracing::warn!(error = %e, "the audit trail could not record failed logins; kept for the next window");
        let mut w = app.logins.window.lock().unwrap_or_else(|p| p.into_inner());
        w.failed += t.failed;
        w.refused += t.refused;
        w.clients.extend(t.clients);
    }
}

/// Writes a summary every window until the process ends.
pub fn spawn_flusher(app: Shared) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(app.logins.window());
        tick.tick().await;
        loop {
            tick.tick().await;
            flush(&app).await;
        }
    });
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
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
}

fn set_cookie(res: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
}

pub async fn login(
    State(app): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    axum::Form(f): axum::Form<LoginForm>,
) -> Response {
    if !app.guard.needs_login() {
        return Redirect::to("/").into_response();
    }
    let who = client(peer);
    if let Err(wait) = app.logins.limiter.attempt(who, Instant::now()) {
        app.logins.count(who, true);
        let secs = retry_after_secs(wait);
        let mut res = login_form(
            &app,
            Some(&format!("Too many login attempts. Try again in {secs} s.")),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    if let Err(r) = app.guard.check_csrf(&f.csrf) {
        return r;
    }
    let Some(named) = app.guard.token_named(f.token.trim()) else {
        app.logins.count(who, false);
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
    let id = session::new_id();
    let hash = session::id_hash(&id).expect("a new id is one");
    let holder = session::holder(&named.name, &named.fingerprint);
    if let Err(e) = app
        .base
        .rdb()
        .session_put(&hash, &holder, app.session_ttl)
        .await
    {
        return login_form(
            &app,
            Some(&format!("Cannot store the session in Redis: {e}")),
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    let mut res = Redirect::to("/").into_response();
    set_cookie(
        &mut res,
        &session::set_cookie(&id, app.session_ttl, app.secure_cookie),
    );
    res
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// Ends the session: its Redis key is deleted, so the cookie is dead even if a copy of it
/// survives in the browser.
pub async fn logout(
    State(app): State<Shared>,
    headers: axum::http::HeaderMap,
    axum::Form(f): axum::Form<CsrfForm>,
) -> Response {
    if let Err(r) = app.guard.check_csrf(&f.csrf) {
        return r;
    }
    let cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok());
    if let Some(hash) = session::from_cookies(cookies).and_then(session::id_hash) {
        if let Err(e) = app.base.rdb().session_delete(&hash).await {
            return view::error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("Cannot end the session in Redis: {e}"),
            );
        }
    }
    let mut res = Redirect::to("/login").into_response();
    set_cookie(&mut res, &session::clear_cookie(app.secure_cookie));
    res
}
