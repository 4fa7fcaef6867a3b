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
