//! How okra-admin prints: aligned tables for people, JSON for scripts, identifiers masked
//! unless `--reveal`, progress bars only on a terminal.

use std::io::IsTerminal;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use okra_queue::okra::mask;
use serde::Serialize;
use serde_json::Value;

/// Output settings from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
    pub reveal: bool,
}

impl Out {
    /// Prints one record of a stream (`--watch`, `--follow`, exports) as a JSON Lines line.
    pub fn json_line<T: Serialize>(&self, v: &T) {
        println!(
            "{}",
            serde_json::to_string(v).unwrap_or_else(|_| "null".into())
        );
    }

    /// Prints a value as pretty JSON: every command's one document with `--json`.
    pub fn json<T: Serialize>(&self, v: &T) {
        println!(
            "{}",
            serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
        );
    }

    /// Masks identifiers in free text unless revealing.
    pub fn text(&self, s: &str) -> String {
        if self.reveal {
            s.to_string()
        } else {
            mask::mask_text(s)
        }
    }

    /// Masks identifiers in a JSON value unless revealing.
    pub fn value(&self, mut v: Value) -> Value {
        if !self.reveal {
            mask::mask_json(&mut v);
        }
        v
    }

    /// Masks identifiers in JSON text unless revealing.
    pub fn json_text(&self, s: &str) -> String {
        if self.reveal {
            s.to_string()
        } else {
            mask::mask_json_text(s)
        }
    }

    /// With `--reveal`, records in the audit trail that identifiers are about to be shown
    /// (`action`: `show-reveal`, `export-reveal`). Done before revealing: if it cannot be
    /// recorded, nothing is revealed.
    pub async fn audit_reveal(
        &self,
        queue: &okra_queue::Queue,
        action: &str,
        filter: &str,
    ) -> anyhow::Result<()> {
        if self.reveal {
            queue
                .audit(action, filter, serde_json::json!({}), "ok")
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "--reveal is recorded in the audit trail, and recording failed: {e}"
                    )
                })?;
        }
        Ok(())
    }

    /// A progress bar on stderr when it is a terminal and the output is for people.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
                .expect("template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }
}

/// A table with our look.
pub fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    if !std::io::stdout().is_terminal() {
        t.set_width(200);
    }
    t
}

/// `2026-11-25T08:05:07Z`
pub fn when(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// `3m 12s ago` / `in 40s`
pub fn ago(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    let now = okra_queue::job::now_ms();
    let (d, future) = if ms > now {
        (ms - now, true)
    } else {
        (now - ms, false)
    };
    let d = Duration::from_secs(d / 1000);
    let text = if d.is_zero() {
        "now".to_string()
    } else {
        short(d)
    };
    match (future, d.is_zero()) {
        (_, true) => text,
        (true, _) => format!("in {text}"),
        (false, _) => format!("{text} ago"),
    }
}

/// The two largest units of a duration: `1h 5m`, `3d 2h`, `12s`.
pub fn short(d: Duration) -> String {
    let full = humantime::format_duration(Duration::from_secs(d.as_secs())).to_string();
    full.split(' ').take(2).collect::<Vec<_>>().join(" ")
}

/// What a listed job's time means in its state: `due in 5m`, `lease ends in 20s`,
/// `finished 3m ago` (empty when the listing has no time for it).
pub fn brief_when(b: &okra_queue::rdb::JobBrief) -> String {
    use okra_queue::JobState;
    b.at.map_or_else(String::new, |t| {
        let prefix = match b.state {
            JobState::Scheduled => "due ",
            JobState::Running => "lease ends ",
            JobState::Completed | JobState::Cancelled => "finished ",
            _ => "",
        };
        format!("{prefix}{}", ago(t))
    })
}

/// `850ms` under a second, else the two largest units (`1m 30s`).
pub fn millis(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        short(Duration::from_millis(ms))
    }
}

/// `1 entry`, `2 entries`: a count with its noun in the right number.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Cuts text for a table cell.
pub fn cell(s: &str, max: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Parses `--since`/`--until`: a duration back from now (`1h`, `10m`) or an RFC 3339 time.
pub fn parse_time_ago(s: &str) -> Result<u64, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(okra_queue::job::now_ms().saturating_sub(d.as_millis() as u64));
    }
    parse_rfc3339(s).map(okra_queue::job::epoch_ms)
}

/// Parses an RFC 3339 time with `Z` or a `+hh:mm` / `-hh:mm` offset.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let bad =
        || format!("`{s}` is not a duration (30s, 1h) or an RFC 3339 time (2026-11-25T08:00:00Z)");
    let s = s.trim();
    if let Some(base) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return humantime::parse_rfc3339_weak(base).map_err(|_| bad());
    }
    // An explicit offset: parse the local part, then shift it to UTC.
    if s.len() > 6 {
        let (local, offset) = s.split_at(s.len() - 6);
        let sign = match offset.as_bytes()[0] {
            b'+' => 1i64,
            b'-' => -1,
            _ => return Err(bad()),
        };
        let (h, m) = offset[1..].split_once(':').ok_or_else(bad)?;
        let minutes =
            h.parse::<i64>().map_err(|_| bad())? * 60 + m.parse::<i64>().map_err(|_| bad())?;
        let t = humantime::parse_rfc3339_weak(local).map_err(|_| bad())?;
        let shift = Duration::from_secs((minutes * 60).unsigned_abs());
        return Ok(if sign > 0 { t - shift } else { t + shift });
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offsets() {
        let z = parse_rfc3339("2026-11-25T08:00:00Z").unwrap();
        assert_eq!(parse_rfc3339("2026-11-25T09:00:00+01:00").unwrap(), z);
        assert_eq!(parse_rfc3339("2026-11-25T07:30:00-00:30").unwrap(), z);
        assert!(parse_rfc3339("tomorrow").is_err());
    }

    #[test]
    fn cells_are_cut() {
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(cell("ab\ncd", 10), "ab cd");
    }
}
