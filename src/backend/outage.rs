//! How every background loop lives through Redis trouble: short exponential backoff, one log
//! line per streak of failures (then every 30 s) and one on recovery, and a shared note of when
//! this process last failed to reach Redis (the reaper waits for the fleet to recover after it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// Longest pause between tries: short, so outcomes queued during an outage are recorded (and
/// leases re-extended) within a second of Redis answering again.
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// Exponential backoff from 25 ms to [`BACKOFF_MAX`].
pub(crate) struct Backoff(Duration);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(Duration::ZERO)
    }

    pub(crate) fn next(&mut self) -> Duration {
        self.0 = (self.0 * 2).clamp(Duration::from_millis(25), BACKOFF_MAX);
        self.0
    }

    pub(crate) fn reset(&mut self) {
        self.0 = Duration::ZERO;
    }
}

/// When this process last failed to reach Redis.
#[derive(Debug)]
pub(crate) struct Health {
    origin: Instant,
    /// Milliseconds after `origin` of the last failure, plus one (0 = never).
    last_failure: AtomicU64,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_failure: AtomicU64::new(0),
        }
    }

    fn failed(&self) {
        let ms = self.origin.elapsed().as_millis() as u64 + 1;
        self.last_failure.fetch_max(ms, Ordering::Relaxed);
    }

    /// True if any loop of this process failed to reach Redis within `window`.
    pub(crate) fn failed_within(&self, window: Duration) -> bool {
        match self.last_failure.load(Ordering::Relaxed) {
            0 => false,
            at => {
                let now = self.origin.elapsed().as_millis() as u64 + 1;
                now.saturating_sub(at) < window.as_millis() as u64
            }
        }
    }
}

/// Logs the first failure of a streak, then at most every 30 s, and the recovery.
pub(crate) struct OutageLog {
    what: &'static str,
    failures: u32,
    last_log: Option<Instant>,
    health: std::sync::Arc<Health>,
}

impl OutageLog {
    pub(crate) fn new(what: &'static str, health: std::sync::Arc<Health>) -> Self {
        Self {
            what,
            failures: 0,
            last_log: None,
            health,
        }
    }

    pub(crate) fn fail(&mut self, e: &dyn std::fmt::Display, retry_in: Duration) {
        self.failures += 1;
        self.health.failed();
        metrics::counter!("okq_redis_errors_total", "during" => self.what).increment(1);
        if self
            .last_log
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(30))
        {
            warn!(
                during = self.what,
                failures = self.failures,
                retry_in = %humantime::format_duration(retry_in),
                error = %e,
                "Redis unavailable; retrying"
            );
            self.last_log = Some(Instant::now());
        }
    }

    pub(crate) fn ok(&mut self) {
        if self.failures > 0 {
            info!(
                during = self.what,
                failures = self.failures,
                "Redis reachable again"
            );
        }
        self.failures = 0;
        self.last_log = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_short_and_bounded() {
        let mut b = Backoff::new();
        assert_eq!(b.next(), Duration::from_millis(25));
        for _ in 0..20 {
            assert!(b.next() <= BACKOFF_MAX);
        }
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(25));
    }

    #[test]
    fn health_remembers_recent_failures() {
        let h = std::sync::Arc::new(Health::new());
        assert!(!h.failed_within(Duration::from_secs(60)));
        OutageLog::new("test", h.clone()).fail(&"down", Duration::ZERO);
        assert!(h.failed_within(Duration::from_secs(60)));
        assert!(!h.failed_within(Duration::ZERO));
    }
}
