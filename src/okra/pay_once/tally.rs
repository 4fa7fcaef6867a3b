//! The tally: the spend ledger's counts and the drain guard's "a success came", gathered in
//! memory and written in one pipeline at most every [`EVERY`], instead of two round trips per
//! job (at a few thousand Okra jobs a second those were most of Redis's work). A count reaches
//! the ledger and the metrics within [`EVERY`] of its job; a write that fails keeps its counts
//! for the next one, and shutdown writes what is left. The daily budget is not counted here:
//! it is taken atomically before every paid call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::queue::Queue;
use crate::rdb::{Account, SpendCount, Spent, utc_day};
use tokio::sync::Notify;
use tracing::warn;

/// The longest a count waits for its write (and the shortest gap between two writes).
pub const EVERY: Duration = Duration::from_millis(20);

/// Counts waiting for their write.
#[derive(Default)]
struct Pending {
    /// (day, kind, what) → (how many, credits).
    counts: HashMap<(String, String, Spent), (u64, f64)>,
    /// A success came since the last write: the drain guard's streak ends.
    found: bool,
}

/// A worker process's tally, shared by its jobs.
pub struct Tally {
    account: Option<Arc<Account>>,
    queue: Queue,
    pending: Mutex<Pending>,
    wake: Notify,
}

impl Tally {
    pub fn new(queue: &Queue) -> Arc<Self> {
        Arc::new(Self {
            account: queue.account_handle(),
            queue: queue.clone(),
            pending: Mutex::new(Pending::default()),
            wake: Notify::new(),
        })
    }

    /// Counts one call (or saving) on the UTC day of `now` (Redis time), when the queue has an
    /// account.
    pub fn count(&self, now: u64, kind: &str, what: Spent, credits: f64) {
        if self.account.is_none() {
            return;
        }
        let key = (utc_day(now), kind.to_string(), what);
        let mut p = self.lock();
        let c = p.counts.entry(key).or_default();
        c.0 += 1;
        c.1 += credits;
        drop(p);
        self.wake.notify_one();
    }

    /// A success: the drain guard's run of `not_found` ends (for the whole fleet).
    pub fn found(&self) {
        let mut p = self.lock();
        if p.found {
            return;
        }
        p.found = true;
        drop(p);
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes what is pending: one pipeline for the ledger, one `DEL` for the guard. Counts
    /// whose write failed go back for the next try.
    pub async fn flush(&self) -> bool {
        let Pending { counts, found } = std::mem::take(&mut *self.lock());
        let mut ok = true;
        if found && let Err(e) = self.queue.rdb().found().await {
            warn!(error = %e, "could not end the drain guard's run of not_found; trying again");
            self.lock().found = true;
            ok = false;
        }
        let Some(account) = &self.account else {
            return ok;
        };
        if counts.is_empty() {
            return ok;
        }
        let rows: Vec<SpendCount> = counts
            .iter()
            .map(|((day, kind, what), (n, credits))| SpendCount {
                day: day.clone(),
                kind: kind.clone(),
                what: *what,
                n: *n,
                credits: *credits,
            })
            .collect();
        if let Err(e) = account.spend_add_many(&rows).await {
            warn!(error = %e, "could not write the spend ledger; keeping the counts for the next try");
            let mut p = self.lock();
            for (key, (n, credits)) in counts {
                let c = p.counts.entry(key).or_default();
                c.0 += n;
                c.1 += credits;
            }
            return false;
        }
        let name = account.name().to_string();
        for row in &rows {
            count_metrics(&name, row);
        }
        ok
    }

    /// The loop: a write as soon as something is pending, then at least [`EVERY`] before the
    /// next, so a busy worker writes one batch per interval.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.wake.notified().await;
            if !self.flush().await {
                // Redis is away: the counts wait (their jobs' outcomes wait the same way).
                self.wake.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            tokio::time::sleep(EVERY).await;
        }
    }
}

/// Prometheus counters for what the ledger now holds.
fn count_metrics(account: &str, row: &SpendCount) {
    let account = account.to_string();
    let kind = row.kind.clone();
    match row.what {
        Spent::Paid => {
            metrics::counter!("okra_paid_calls_total", "account" => account.clone(), "kind" => kind).increment(row.n);
        }
        Spent::Uncertain => {
            metrics::counter!("okra_uncertain_calls_total", "account" => account.clone(), "kind" => kind).increment(row.n);
        }
        Spent::SavedLookup => {
            metrics::counter!("okra_saved_calls_total", "account" => account.clone(), "how" => "lookup").increment(row.n);
        }
        Spent::SavedReuse => {
            metrics::counter!("okra_saved_calls_total", "account" => account.clone(), "how" => "reuse").increment(row.n);
        }
    }
    if row.credits > 0.0 {
        metrics::gauge!("okra_credits_total", "account" => account).increment(row.credits);
    }
}
