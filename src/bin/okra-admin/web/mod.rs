//! `okra-admin web`: the operator's dashboard. Server-rendered pages (maud) over the same
#![allow(clippy::result_large_err)] // axum answers are the natural error of a handler and its helpers
//! library calls the CLI makes; a little JavaScript refreshes the overview and asks before
//! destructive actions. Security is in `guard.rs` (the front door: `Host` and `Origin`; the
//! token or session; CSRF; headers), `login.rs` (rate-limited logins, failed ones summarised),
//! `session.rs` (random session ids kept in Redis with a TTL) and `tokens.rs` (the token file):
//! loopback by default, a token for anything else, `--read-only`.

mod guard;
mod login;
mod pages;
mod session;
mod tokens;
mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use clap::Args;
use okra_queue::Queue;
use okra_queue::http_guard::HostPolicy;

use crate::Usage;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin web\n  okra-admin web --read-only\n  okra-admin web --addr 0.0.0.0:7400 --token-file /etc/okq/web-tokens --public-host okq.example.com\n\nOn any address but loopback a token is required: send it as `Authorization: Bearer TOKEN`,\nor enter it once on the login page (it starts a session: an HttpOnly, SameSite=Strict cookie\nthat ends at --session-ttl or at log-out). The token file (mode 600) holds one `NAME TOKEN`\nper line; the name is who the audit trail records. Requests naming another Host than\nloopback, the bound address or a --public-host are refused (421), and so are changes sent\nfrom another site (403)."
)]
pub struct WebArgs {
    /// Address to serve on; anything but loopback needs --token-file.
    #[arg(long, default_value = "127.0.0.1:7400")]
    addr: SocketAddr,
    /// Show everything, change nothing: every action is hidden and refused.
    #[arg(long)]
    read_only: bool,
    /// File of access tokens: one `NAME TOKEN` per line (the name is what the audit trail
    /// records), or a lone token; each at least 16 characters.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// A name the dashboard is reached by besides loopback and its address (behind a TLS
    /// proxy: the name in the browser's address bar); repeat or separate with commas. Needs
    /// --token-file; makes the session cookie `Secure`.
    #[arg(
        long,
        value_name = "NAME",
        env = "OKQ_WEB_PUBLIC_HOST",
        value_delimiter = ','
    )]
    public_host: Vec<String>,
    /// How long a login lasts (the session cookie's and its Redis key's lifetime).
    #[arg(long, value_name = "DURATION", default_value = "8h", value_parser = humantime::parse_duration)]
    session_ttl: Duration,
    /// Login attempts allowed from one client per --login-window (over it: 429).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    login_limit: u32,
    /// Login attempts allowed from all clients together per --login-window.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    login_limit_total: u32,
    /// The window of the login limits, and of the failed-login summaries in the audit trail.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = humantime::parse_duration)]
    login_window: Duration,
}

/// What every handler shares.
pub struct App {
    /// The queue named by `--queue`: the default, and the handle others are made from.
    pub base: Queue,
    pub guard: guard::Guard,
    pub read_only: bool,
    /// The names the dashboard answers to, and the cross-site check.
    pub hosts: HostPolicy,
    /// Login limits and failed-login counts.
    pub logins: login::Logins,
    pub session_ttl: Duration,
    /// Session cookies carry `Secure` (a public name is configured: it is reached over TLS).
    pub secure_cookie: bool,
}

pub type Shared = Arc<App>;

pub async fn run(base: Queue, args: WebArgs) -> anyhow::Result<ExitCode> {
    let tokens = match &args.token_file {
        Some(path) => tokens::read_token_file(path).map_err(Usage)?,
        None => Vec::new(),
    };
    if tokens.is_empty() && !args.public_host.is_empty() {
        return Err(Usage(
            "--public-host needs --token-file: a dashboard reachable by a public name needs a login".into(),
        )
        .into());
    }
    if args.login_window.is_zero() || args.session_ttl < Duration::from_secs(1) {
        return Err(Usage("--login-window and --session-ttl must be at least 1s".into()).into());
    }
    if tokens.is_empty() && !args.addr.ip().is_loopback() {
        return Err(Usage(format!(
            "refusing to serve on {} without --token-file: anyone who can reach it could requeue, purge and pause",
            args.addr
        ))
        .into());
    }
    let local = base.actor();
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let bound = listener.local_addr()?;
    let app = Arc::new(App {
        base,
        guard: guard::Guard::new(tokens, local),
        read_only: args.read_only,
        hosts: HostPolicy::new(bound, &args.public_host),
        logins: login::Logins::new(args.login_limit, args.login_limit_total, args.login_window),
        session_ttl: args.session_ttl,
        secure_cookie: !args.public_host.is_empty(),
    });
    if app.guard.needs_login() {
        let _ = view::LOGOUT.set(app.guard.csrf().to_string());
    }
    println!(
        "okra-admin web: serving on http://{bound}{}{}",
        if args.read_only { " (read-only)" } else { "" },
        if app.guard.needs_login() {
            " (token required)"
        } else {
            ""
        }
    );
    // Registered before serving, so an early SIGTERM stops the server cleanly.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    login::spawn_flusher(app.clone());
    axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
    .await?;
    login::flush(&app).await;
    Ok(ExitCode::SUCCESS)
}

fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/fragment/overview", get(pages::overview_fragment))
        .route("/q/{queue}/dead", get(pages::dead_list))
        .route("/q/{queue}/dead/summary", get(pages::dead_summary))
        .route("/q/{queue}/dead/confirm", get(pages::dead_confirm))
        .route("/q/{queue}/dead/bulk", post(pages::dead_bulk))
        .route("/q/{queue}/dead/{id}", get(pages::dead_show))
        .route("/q/{queue}/dead/{id}/{action}", post(pages::one_job))
        .route("/q/{queue}/jobs", get(pages::jobs_list))
        .route("/q/{queue}/job/{id}", get(pages::job_show))
        .route("/q/{queue}/job/{id}/{action}", post(pages::one_job))
        .route("/q/{queue}/find", get(pages::find_form).post(pages::find))
        .route(
            "/q/{queue}/erase",
            get(pages::erase_confirm).post(pages::erase),
        )
        .route("/audit", get(pages::audit))
        .route("/q/{queue}/webhooks", get(pages::webhooks))
        .route(
            "/q/{queue}/webhooks/{id}/remove",
            post(pages::webhook_remove),
        )
        .route("/q/{queue}/{control}", post(pages::control))
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
        .route("/static/app.css", get(guard::css))
        .route("/static/app.js", get(guard::js))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::front_door,
        ))
        .layer(axum::middleware::from_fn(guard::headers))
        .with_state(app)
}
