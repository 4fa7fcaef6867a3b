//! `okra-admin api-key`: the gateway's API keys. A token is printed once, when its key is
//! made; Redis keeps only its SHA-256. Making and revoking keys go to the audit trail.

use std::process::ExitCode;

use clap::Subcommand;
use okra_queue::Queue;
use okra_queue::api_keys::{DEFAULT_RATE, Scope};
use serde_json::json;

use crate::Usage;
use crate::output::{Out, table, when};

#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Make a key for the queue named by --queue; prints its token once.
    #[command(
        after_help = "Examples:\n  okra-admin api-key create shop-backend --queue identity\n  okra-admin api-key create reporting --queue identity --scope read --rate 20\n  okra-admin --json api-key create shop-backend --queue identity\n\nWithout --scope the key may enqueue, read and cancel on its queue; `admin` (webhook\nendpoints) is given only by name. The token is shown once: store it in the app's secrets.\nApps send it as `Authorization: Bearer <token>` to okra-gateway."
    )]
    Create {
        /// The key's name (what the audit trail and the reads stream record): letters,
        /// digits, `-`, `_`, `.`.
        name: String,
        /// What it may do: enqueue, read, cancel, admin (comma-separated) [default:
        /// enqueue,read,cancel]
        #[arg(long, value_delimiter = ',', value_parser = Scope::parse)]
        scope: Vec<Scope>,
        /// Requests per second it may make on each gateway (over it: 429).
        #[arg(long, default_value_t = DEFAULT_RATE, value_parser = clap::value_parser!(u32).range(1..))]
        rate: u32,
    },
    /// Every key: name, queue, scopes, rate, when made (never a token).
    #[command(
        after_help = "Examples:\n  okra-admin api-key list\n  okra-admin --json api-key list"
    )]
    List,
    /// Revoke a key: every gateway refuses its token within a second.
    #[command(after_help = "Example:\n  okra-admin api-key revoke shop-backend")]
    Revoke {
        /// The key's name.
        name: String,
    },
}

pub async fn run(queue: &Queue, cmd: ApiKeyCmd, out: Out) -> anyhow::Result<ExitCode> {
    match cmd {
        ApiKeyCmd::Create { name, scope, rate } => {
            okra_queue::keys::validate_name("API key", &name).map_err(Usage)?;
            let scopes = if scope.is_empty() {
                Scope::DEFAULT.to_vec()
            } else {
                scope
            };
            let (key, token) = queue.api_key_create(&name, &scopes, rate).await?;
            if out.json {
                out.json(&json!({ "name": key.name, "token": token }));
            } else {
                println!("{token}");
                eprintln!(
                    "API key {} for queue {} ({}, {} requests/s per gateway): the token above is shown once",
                    key.name,
                    key.queue,
                    key.scopes.join(","),
                    key.rate
                );
            }
        }
        ApiKeyCmd::List => {
            let keys = queue.api_keys().await?;
            if out.json {
                let shown: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        json!({ "name": k.name, "queue": k.queue, "scopes": k.scopes,
                                "rate": k.rate, "created_at": k.created_at })
                    })
                    .collect();
                out.json(&shown);
            } else if keys.is_empty() {
                println!("no API keys");
            } else {
                let mut t = table(&["name", "queue", "scopes", "rate/s", "created"]);
                for k in &keys {
                    t.add_row(vec![
                        k.name.clone(),
                        k.queue.clone(),
                        k.scopes.join(","),
                        k.rate.to_string(),
                        when(k.created_at),
                    ]);
                }
                println!("{t}");
            }
        }
        ApiKeyCmd::Revoke { name } => {
            let key = queue.api_key_revoke(&name).await?;
            if out.json {
                out.json(&json!({ "revoked": key.name, "queue": key.queue }));
            } else {
                println!("revoked API key {} (queue {})", key.name, key.queue);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
