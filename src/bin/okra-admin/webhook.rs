//! `okra-admin webhook`: add, list, remove an endpoint, rotate its secret. The secret is
//! printed once, by `add` and `rotate-secret`; nothing shows it again.

use std::process::ExitCode;

use clap::Subcommand;
use okra_queue::Queue;
use okra_queue::config::Settings;
use okra_queue::webhooks::{EventType, NewEndpoint};
use serde_json::json;

use crate::Usage;
use crate::output::{Out, table, when};

#[derive(Debug, Subcommand)]
pub enum WebhookCmd {
    /// Add an endpoint for the queue's outcomes; prints its id and secret (once).
    #[command(
        after_help = "Examples:\n  okra-admin webhook add https://app.example.com/hooks/kyc --queue identity\n  okra-admin webhook add https://app.example.com/hooks/kyc --queue identity --event job.completed --event job.dead --full\n  okra-admin --json webhook add https://app.example.com/hooks/kyc   # {\"id\", \"secret\"}\n\nOnly https URLs whose addresses are public are accepted (webhooks.allow_insecure_hosts lets\na local test receiver use http). Thin events (the default) carry no result: the app fetches\nit; --full sends the result and failure messages in the event."
    )]
    Add {
        /// The receiver's URL (https).
        url: String,
        /// An event to send: job.completed, job.dead, job.retrying (repeat the flag)
        /// [default: job.completed and job.dead]
        #[arg(long = "event", value_name = "EVENT")]
        events: Vec<String>,
        /// Full events: the result (and failure messages) in the body.
        #[arg(long)]
        full: bool,
    },
    /// The queue's endpoints (never their secrets).
    #[command(
        after_help = "Examples:\n  okra-admin webhook list --queue identity\n  okra-admin --json webhook list"
    )]
    List,
    /// Remove an endpoint (of any queue); its pending deliveries send nothing.
    #[command(after_help = "Example:\n  okra-admin webhook remove ep_01jf3v9q2k8m7x4c5n6b7a8d9e")]
    Remove {
        /// The endpoint's id.
        id: String,
    },
    /// A new secret for an endpoint (of any queue), printed once; both sign for 24 h.
    #[command(
        after_help = "Example:\n  okra-admin webhook rotate-secret ep_01jf3v9q2k8m7x4c5n6b7a8d9e"
    )]
    RotateSecret {
        /// The endpoint's id.
        id: String,
    },
}

pub async fn run(
    queue: &Queue,
    settings: &Settings,
    cmd: WebhookCmd,
    out: Out,
) -> anyhow::Result<ExitCode> {
    match cmd {
        WebhookCmd::Add { url, events, full } => {
            let events = events
                .iter()
                .map(|e| EventType::parse(e))
                .collect::<Result<Vec<_>, _>>()
                .map_err(Usage)?;
            let allow = &settings.webhooks.allow_insecure_hosts;
            let e = queue
                .webhook_add(NewEndpoint { url, events, full }, allow)
                .await?;
            if out.json {
                out.json(&json!({"id": e.id, "secret": e.secret}));
            } else {
                println!("id:     {}", e.id);
                println!("secret: {}", e.secret);
                println!(
                    "(the secret is shown only now: keep it where the receiver verifies signatures)"
                );
            }
        }
        WebhookCmd::List => {
            let list = queue.webhooks().await?;
            if out.json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|e| {
                        json!({"id": e.id, "queue": e.queue, "url": e.url, "events": e.events,
                            "full": e.full, "disabled": e.disabled, "created_at": e.created_at,
                            "previous_secret_until": (e.previous.is_some()).then_some(e.previous_until)})
                    })
                    .collect();
                out.json(&rows);
            } else if list.is_empty() {
                println!("no webhook endpoints on queue {}", queue.name());
            } else {
                let mut t = table(&["id", "url", "events", "body", "state", "added"]);
                for e in &list {
                    let events: Vec<&str> = e.events.iter().map(|v| v.as_str()).collect();
                    t.add_row(vec![
                        e.id.clone(),
                        e.url.clone(),
                        events.join(" "),
                        if e.full { "full" } else { "thin" }.into(),
                        e.disabled
                            .clone()
                            .map_or("enabled".into(), |w| format!("disabled: {w}")),
                        when(e.created_at),
                    ]);
                }
                println!("{t}");
            }
        }
        WebhookCmd::Remove { id } => {
            if !queue.webhook_remove(&id).await? {
                anyhow::bail!("no webhook endpoint {id}");
            }
            if out.json {
                out.json(&json!({"id": id, "removed": true}));
            } else {
                println!("removed {id}");
            }
        }
        WebhookCmd::RotateSecret { id } => {
            let Some(e) = queue.webhook_rotate(&id).await? else {
                anyhow::bail!("no webhook endpoint {id}");
            };
            if out.json {
                out.json(&json!({"id": e.id, "secret": e.secret}));
            } else {
                println!("id:     {}", e.id);
                println!("secret: {}", e.secret);
                println!("(both the old and the new secret sign for the next 24 hours)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
