//! `okra-admin web`: the operator's dashboard. Server-rendered pages (maud) over the same
#![allow(clippy::result_large_err)] // axum answers are the natural error of a handler and its helpers
//! library calls the CLI makes; a little JavaScript refreshes the overview and asks before
//! destructive actions. Security is in `guard.rs`: loopback by default, a token for anything
//! else, an HttpOnly SameSite=Strict session cookie, a CSRF token on every POST, a
//! Content-Security-Policy without inline script, frame denial, and `--read-only`.

mod guard;
mod pages;
mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::{get, post};
use clap::Args;
use okra_queue::Queue;

use crate::Usage;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  okra-admin web\n  okra-admin web --read-only\n  okra-admin web --addr 0.0.0.0:7400 --token-file /etc/okq/web-tokens\n\nOn any address but loopback a token is required: send it as `Authorization: Bearer TOKEN`,\nor enter it once on the login page (it sets an HttpOnly, SameSite=Strict cookie). The token\nfile holds one `NAME TOKEN` per line; the name is who the audit trail records."
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
}

/// What every handler shares.
pub struct App {
    /// The queue named by `--queue`: the default, and the handle others are made from.
    pub base: Queue,
    pub guard: guard::Guard,
    pub read_only: bool,
}

pub type Shared = Arc<App>;

pub async fn run(base: Queue, args: WebArgs) -> anyhow::Result<ExitCode> {
    let tokens = match &args.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?;
            guard::parse_tokens(&text)
                .map_err(|e| Usage(format!("token file {}: {e}", path.display())))?
        }
        None => Vec::new(),
    };
    if tokens.is_empty() && !args.addr.ip().is_loopback() {
        return Err(Usage(format!(
            "refusing to serve on {} without --token-file: anyone who can reach it could requeue, purge and pause",
            args.addr
        ))
        .into());
    }
    let local = base.actor();
    let app = Arc::new(App {
        base,
        guard: guard::Guard::new(tokens, local),
        read_only: args.read_only,
    });
    if app.guard.needs_login() {
        let _ = view::LOGOUT.set(app.guard.csrf().to_string());
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    println!(
        "okra-admin web: serving on http://{local}{}{}",
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
    axum::serve(listener, router(app))
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await?;
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
        .route("/q/{queue}/find", get(pages::find))
        .route(
            "/q/{queue}/erase",
            get(pages::erase_confirm).post(pages::erase),
        )
        .route("/audit", get(pages::audit))
        .route("/q/{queue}/{control}", post(pages::control))
        .route("/login", get(guard::login_page).post(guard::login))
        .route("/logout", post(guard::logout))
        .route("/static/app.css", get(guard::css))
        .route("/static/app.js", get(guard::js))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::authenticate,
        ))
        .layer(axum::middleware::from_fn(guard::headers))
        .with_state(app)
}
