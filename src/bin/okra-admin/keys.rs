//! `okra-admin keys`: what is sealed with which key, and re-sealing everything at rest with
//! the sealing key (the key file's last) after a key was added.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use okra_queue::Queue;
use serde_json::json;

use crate::output::{Out, table};

#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// Values at rest per key id (and plaintext ones), per queue and column.
    #[command(
        after_help = "Examples:\n  okra-admin keys status\n  okra-admin --json keys status\n\nWorks without the keys: it reads only which key sealed each value."
    )]
    Status,
    /// Re-seals every value at rest with the sealing key (the key file's last), plaintext ones
    /// included, in batches; resumable.
    #[command(
        after_help = "Examples:\n  okra-admin keys rekey\n  okra-admin keys rekey --restart\n\nTo rotate: append a new `ID BASE64` line to seal.keys_file, restart the fleet (every\nprocess then seals with the new key and still opens the old), run `okra-admin keys rekey`,\ncheck `okra-admin keys status` shows only the new key, then drop the old line.\nSafe while workers run: a value a job changed meanwhile is left to that write. An\ninterrupted rekey resumes where it stopped; --restart walks everything again."
    )]
    Rekey {
        /// Walk everything again instead of resuming an interrupted rekey.
        #[arg(long)]
        restart: bool,
    },
}

pub async fn run(queue: &Queue, cmd: KeysCmd, out: Out) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCmd::Status => status(queue, out).await,
        KeysCmd::Rekey { restart } => rekey(queue, restart, out).await,
    }
}

async fn status(queue: &Queue, out: Out) -> anyhow::Result<ExitCode> {
    let rows = queue.seal_status().await?;
    let sealing = queue.sealer().map(|s| s.sealing_id().to_string());
    if out.json {
        out.json(&json!({ "sealing_key": sealing, "columns": rows }));
        return Ok(ExitCode::SUCCESS);
    }
    match &sealing {
        Some(id) => println!("sealing with key {id}"),
        None => println!("sealing is off here (no seal.keys_file)"),
    }
    if rows.is_empty() {
        println!("nothing stored");
        return Ok(ExitCode::SUCCESS);
    }
    let mut ids: Vec<&String> = rows.iter().flat_map(|r| r.sealed.keys()).collect();
    ids.sort();
    ids.dedup();
    let mut header = vec!["queue", "column", "plaintext"];
    header.extend(ids.iter().map(|s| s.as_str()));
    let mut t = table(&header);
    for r in &rows {
        let mut row = vec![r.scope.clone(), r.column.clone(), r.plaintext.to_string()];
        row.extend(
            ids.iter()
                .map(|id| r.sealed.get(*id).copied().unwrap_or(0).to_string()),
        );
        t.add_row(row);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

async fn rekey(queue: &Queue, restart: bool, out: Out) -> anyhow::Result<ExitCode> {
    let Some(sealer) = queue.sealer() else {
        bail!("rekey needs the keys: set seal.keys_file (OKQ_SEAL__KEYS_FILE)");
    };
    let bar = out.progress(0, &format!("re-sealing with key {}", sealer.sealing_id()));
    let r = queue
        .rekey(restart, |p| {
            bar.set_length(p.scanned);
            bar.set_position(p.scanned);
        })
        .await;
    bar.finish_and_clear();
    let r = r?;
    if out.json {
        out.json(&json!({
            "sealing_key": sealer.sealing_id(),
            "scanned": r.scanned,
            "resealed": r.resealed,
            "newer": r.newer,
            "unreadable": r.unreadable,
        }));
    } else {
        println!(
            "re-sealed {} of {} with key {} ({} changed meanwhile by their jobs, {} that no listed key opens)",
            r.resealed,
            crate::output::count(r.scanned as usize, "stored value", "stored values"),
            sealer.sealing_id(),
            r.newer,
            r.unreadable
        );
    }
    Ok(if r.unreadable > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
