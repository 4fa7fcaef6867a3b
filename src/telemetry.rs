//! Logging for the binaries: human-readable by default, JSON lines with `--log-format json`.
//! Nothing here logs payloads; callers log job ids, kinds and masked identifiers only.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `level` is a `RUST_LOG`-style filter; `RUST_LOG` wins.
pub fn init(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in files or log shippers.
        .with_ansi(std::io::stderr().is_terminal());
    let _ = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Whether a write to a closed pipe ends the process quietly, as it ends `ls` or `grep`
/// (`true`: SIGPIPE's default), or fails as an error the caller sees (`false`: ignored, Rust's
/// default, which makes `println!` panic on a closed stdout). The CLIs turn it on before they
/// print; a long-running server (the dashboard) keeps it off, so a client hanging up on a
/// socket never ends the process.
pub fn quiet_on_closed_pipe(quiet: bool) {
    let disposition = if quiet { libc::SIG_DFL } else { libc::SIG_IGN };
    // SAFETY: setting SIGPIPE's disposition to a default or to "ignore" has no preconditions
    // and installs no handler code.
    unsafe {
        libc::signal(libc::SIGPIPE, disposition);
    }
}
