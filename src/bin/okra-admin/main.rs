//! okra-admin: the operator's CLI for okra-queue (enqueue, stats, jobs, dead letters, queue).

mod api_key;
mod audit;
mod check;
mod dlq;
mod enqueue;
mod erase;
mod flags;
mod jobs;
mod keys;
mod output;
mod queue;
mod spend;
mod tail;
mod web;
mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use okra_queue::config::Settings;
use okra_queue::{DeadFilter, Queue};
use output::Out;

#[derive(Debug, Parser)]
#[command(
    name = "okra-admin",
    version,
    about = "Operate okra-queue: enqueue jobs, watch stats and events, inspect and steer jobs, requeue or purge dead letters, serve the dashboard",
    after_help = "Examples:\n  okra-admin stats --watch\n  okra-admin enqueue bvn_verify --bvn 22234567890\n  okra-admin dlq list --class server_error --since 1h\n  okra-admin dlq requeue --all --class okra_timeout --dry-run\n  okra-admin tail --follow\n  okra-admin check lookups\n  okra-admin web\n\nExit status: 0 on success, 1 on any failure (with a one-line reason), 2 on bad usage."
)]
struct Cli {
    /// Redis URL [default: redis.url from the config, else redis://127.0.0.1:6379]
    #[arg(long, global = true, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Queue name: 1-64 ASCII letters, digits, `-`, `_`, `.` [default: queue.name from the
    /// config, else identity]
    #[arg(long, global = true, env = "OKQ_QUEUE")]
    queue: Option<String>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// Show BVN, NIN, account and phone numbers unmasked.
    #[arg(long, global = true)]
    reveal: bool,
    /// Who makes the changes, for the audit trail [default: user@host]
    #[arg(long, global = true, env = "OKQ_ACTOR")]
    actor: Option<String>,
    /// Settings file [default: config/default.toml when present]
    #[arg(long, global = true, env = "OKQ_CONFIG")]
    config: Option<PathBuf>,
    /// Check the configuration (file, OKQ_CONFIG, environment, flags and the files it names),
    /// print the effective settings with secrets masked, and exit: 0 when sound, 1 listing
    /// every problem. Redis is not contacted unless --connect is given.
    #[arg(long)]
    check_config: bool,
    /// With --check-config: also connect to Redis and check the server.
    #[arg(long, requires = "check_config")]
    connect: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Enqueue one job from flags, or many from a JSON Lines file.
    Enqueue(enqueue::EnqueueArgs),
    /// Jobs per state, lifetime totals, workers and flags.
    #[command(
        after_help = "Examples:\n  okra-admin stats\n  okra-admin stats --json\n  okra-admin stats --watch 1s"
    )]
    Stats {
        /// Refresh in place every interval (default 2s) until Ctrl-C.
        #[arg(long, num_args = 0..=1, default_missing_value = "2s", value_name = "INTERVAL", value_parser = humantime::parse_duration)]
        watch: Option<Duration>,
    },
    /// One job: show, cancel, run now, find by idempotency key or identity.
    Job {
        #[command(subcommand)]
        cmd: jobs::JobCmd,
    },
    /// Jobs by state, a page at a time.
    Jobs {
        #[command(subcommand)]
        cmd: jobs::JobsCmd,
    },
    /// Every queue with its jobs per state.
    #[command(after_help = "Examples:\n  okra-admin queues\n  okra-admin queues --json")]
    Queues,
    /// The queue's events (enqueued, retry, completed, dead, cancelled, requeued), then live
    /// with --follow.
    Tail(tail::TailArgs),
    /// Dead letters: list, show, requeue, purge, export, summary.
    Dlq {
        #[command(subcommand)]
        cmd: dlq::DlqCmd,
    },
    /// Pause, resume, unthrottle, set the Okra rate limit, or delete the queue.
    Queue {
        #[command(subcommand)]
        cmd: queue::QueueCmd,
    },
    /// The dashboard in a browser: queues, dead letters with filters and bulk actions, jobs,
    /// controls.
    Web(web::WebArgs),
    /// Worker processes and their last heartbeat.
    #[command(after_help = "Example:\n  okra-admin workers --json")]
    Workers,
    /// What the Okra account paid for per UTC day and kind, and what the fleet saved.
    Spend(spend::SpendArgs),
    /// Erase one person (BVN, NIN or account number) everywhere: every queue, every state.
    Erase(erase::EraseArgs),
    /// Sealing keys: what is sealed with which key; re-seal with the newest.
    Keys {
        #[command(subcommand)]
        cmd: keys::KeysCmd,
    },
    /// The audit trail of operator changes (every queue), newest first.
    Audit(audit::AuditArgs),
    /// API keys for okra-gateway: create (token shown once), list, revoke.
    ApiKey {
        #[command(subcommand)]
        cmd: api_key::ApiKeyCmd,
    },
    /// Check what the fleet depends on: `lookups` calls each free lookup once.
    Check {
        #[command(subcommand)]
        cmd: check::CheckCmd,
    },
    /// Webhook endpoints (Standard Webhooks): add, list, remove, rotate-secret.
    Webhook {
        #[command(subcommand)]
        cmd: webhook::WebhookCmd,
    },
    /// Shell completions for okra-admin, generated from its command tree.
    #[command(
        after_help = "Examples:\n  okra-admin completions bash > /etc/bash_completion.d/okra-admin\n  okra-admin completions zsh > \"${fpath[1]}/_okra-admin\"\n  okra-admin completions fish > ~/.config/fish/completions/okra-admin.fish"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

/// Dead-letter filters (all optional; they combine with AND).
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Failure class (server_error, okra_timeout, flagged_user, lease_expired, ...).
    #[arg(long)]
    class: Option<String>,
    /// Job kind (bvn_verify, nin_verify, ...).
    #[arg(long)]
    kind: Option<String>,
    /// Okra's HTTP status.
    #[arg(long)]
    status: Option<u16>,
    /// Okra's error type (FLAGGED_USER, SUSPENDED, ...).
    #[arg(long)]
    okra_type: Option<String>,
    /// Died in the last DURATION (1h, 30m) or since an RFC 3339 time.
    #[arg(long, value_parser = output::parse_time_ago)]
    since: Option<u64>,
    /// Died more than DURATION ago (10m) or before an RFC 3339 time.
    #[arg(long, value_parser = output::parse_time_ago)]
    until: Option<u64>,
}

impl FilterArgs {
    fn filter(&self) -> DeadFilter {
        DeadFilter {
            class: self.class.clone(),
            kind: self.kind.clone(),
            http_status: self.status,
            error_type: self.okra_type.clone(),
            since: self.since,
            until: self.until,
        }
    }
}

pub use flags::PersonArgs;

/// A bad flag or combination of flags found after parsing: exit status 2, like clap's own.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // `okra-admin stats | head -1` ends quietly, as `ls | head -1` does; the dashboard, a
    // server, keeps SIGPIPE ignored.
    okra_queue::telemetry::quiet_on_closed_pipe(true);
    let cli = Cli::parse();
    if matches!(cli.cmd, Some(Cmd::Web(_))) {
        okra_queue::telemetry::quiet_on_closed_pipe(false);
    }
    if cli.check_config {
        return check_config(&cli).await;
    }
    if let Some(Cmd::Completions { shell }) = &cli.cmd {
        use clap::CommandFactory as _;
        clap_complete::generate(
            *shell,
            &mut Cli::command(),
            "okra-admin",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let out = Out {
        json: cli.json,
        reveal: cli.reveal,
    };
    match run(cli, out).await {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            if out.json {
                println!("{}", serde_json::json!({ "error": msg }));
            }
            eprintln!("okra-admin: {msg}");
            if e.downcast_ref::<Usage>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The settings the flags make of the configuration.
fn load(cli: &Cli) -> Result<Settings, okra_queue::QueueError> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Some(url) = &cli.redis_url {
        settings.redis.url = url.clone();
    }
    if let Some(q) = &cli.queue {
        settings.queue.name = q.clone();
    }
    Ok(settings)
}

/// `--check-config [--connect]`.
async fn check_config(cli: &Cli) -> ExitCode {
    // `check_report` already checks what `Settings::check` does: nothing more for the CLI.
    if okra_queue::config::run_check(load(cli), |_| Vec::new(), cli.connect).await {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run(mut cli: Cli, out: Out) -> anyhow::Result<ExitCode> {
    let Some(cmd) = cli.cmd.take() else {
        use clap::CommandFactory as _;
        eprintln!("{}", Cli::command().render_help());
        return Err(Usage("a command is needed (or --check-config)".into()).into());
    };
    // A bad --queue / OKQ_QUEUE is bad usage (exit 2), refused before anything is read.
    if let Some(q) = &cli.queue {
        okra_queue::keys::validate_queue_name(q).map_err(Usage)?;
    }
    let settings = load(&cli)?;
    let mut config = settings.queue_config();
    config.actor = cli.actor.clone().filter(|a| !a.trim().is_empty());
    let queue = Queue::connect(&settings.redis, config).await?;
    // A typo in --queue must not look like success: only enqueue creates a queue.
    if !matches!(
        cmd,
        Cmd::Enqueue(_)
            | Cmd::Queues
            | Cmd::Web(_)
            | Cmd::Spend(_)
            | Cmd::Erase(_)
            | Cmd::Keys { .. }
            | Cmd::Audit(_)
            | Cmd::Check { .. }
            | Cmd::ApiKey { .. }
    ) {
        queue.ensure_known().await?;
    }
    match cmd {
        Cmd::Enqueue(args) => enqueue::run(&queue, &settings.provider, args, out).await,
        Cmd::Stats { watch } => queue::stats(&queue, watch, out).await,
        Cmd::Job { cmd } => jobs::run(&queue, cmd, out).await,
        Cmd::Jobs { cmd } => jobs::list(&queue, cmd, out).await,
        Cmd::Queues => queue::queues(&queue, out).await,
        Cmd::Tail(args) => tail::run(&queue, args, out).await,
        Cmd::Web(args) => web::run(queue, args).await,
        Cmd::Dlq { cmd } => dlq::run(&queue, cmd, out).await,
        Cmd::Queue { cmd } => queue::run(&queue, cmd, out).await,
        Cmd::Workers => queue::workers(&queue, out).await,
        Cmd::Spend(args) => spend::run(&queue, &settings.provider, args, out).await,
        Cmd::Erase(args) => erase::run(&queue, args, out).await,
        Cmd::Keys { cmd } => keys::run(&queue, cmd, out).await,
        Cmd::Audit(args) => audit::run(&queue, args, out).await,
        Cmd::ApiKey { cmd } => api_key::run(&queue, cmd, out).await,
        Cmd::Check { cmd } => check::run(&queue, &settings.okra, cmd, out).await,
        Cmd::Webhook { cmd } => webhook::run(&queue, &settings, cmd, out).await,
        Cmd::Completions { .. } => unreachable!("answered before connecting"),
    }
}
