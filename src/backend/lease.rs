//! The leases this process holds, keyed by [`Lease`] (id and fencing token), never by job id:
//! when a job is claimed again while an earlier run of it is still going, the two runs have two
//! entries, and the outcome of one can never settle, extend or release the other's claim.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::job::Lease;

#[derive(Debug)]
struct Held {
    /// The outcome is queued for the acker; the run is over.
    finishing: bool,
    /// Set when Redis says this claim is no longer ours; the run sees it in its `JobContext`.
    lost: Arc<AtomicBool>,
}

/// This process's claims.
#[derive(Debug, Default)]
pub(crate) struct HeldLeases {
    held: Mutex<HashMap<Lease, Held>>,
}

impl HeldLeases {
    /// Starts holding a claim; returns the flag that tells its run when the lease is lost.
    pub(crate) fn hold(&self, lease: Lease, finishing: bool) -> Arc<AtomicBool> {
        let lost = Arc::new(AtomicBool::new(false));
        self.map().insert(
            lease,
            Held {
                finishing,
                lost: lost.clone(),
            },
        );
        lost
    }

    /// The run is over; its outcome is on its way.
    pub(crate) fn finishing(&self, lease: &Lease) {
        if let Some(h) = self.map().get_mut(lease) {
            h.finishing = true;
        }
    }

    /// The outcome was recorded (or rejected): the claim is no longer held.
    pub(crate) fn settle<'a>(&self, leases: impl IntoIterator<Item = &'a Lease>) {
        let mut map = self.map();
        for l in leases {
            map.remove(l);
        }
    }

    /// Whether this process holds exactly this claim.
    pub(crate) fn holds(&self, lease: &Lease) -> bool {
        self.map().contains_key(lease)
    }

    /// Every held claim (running or with its outcome queued): the lease keeper extends them all.
    pub(crate) fn all(&self) -> Vec<Lease> {
        self.map().keys().cloned().collect()
    }

    /// Claims whose run has not finished (given back at shutdown).
    pub(crate) fn unfinished(&self) -> Vec<Lease> {
        self.select(|h| !h.finishing)
    }

    /// Claims whose outcome is queued but not recorded.
    pub(crate) fn finishing_count(&self) -> usize {
        self.map().values().filter(|h| h.finishing).count()
    }

    /// Redis says these claims are gone: tell their runs. Returns how many were still running.
    pub(crate) fn lose(&self, leases: &[Lease]) -> usize {
        let map = self.map();
        leases
            .iter()
            .filter_map(|l| map.get(l))
            .filter(|h| {
                h.lost.store(true, Ordering::Relaxed);
                !h.finishing
            })
            .count()
    }

    pub(crate) fn len(&self) -> usize {
        self.map().len()
    }

    fn select(&self, keep: impl Fn(&Held) -> bool) -> Vec<Lease> {
        self.map()
            .iter()
            .filter(|(_, h)| keep(h))
            .map(|(l, _)| l.clone())
            .collect()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Lease, Held>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(id: &str, token: u64) -> Lease {
        Lease::claimed(id.into(), token, false)
    }

    #[test]
    fn two_runs_of_one_job_are_two_claims() {
        let r = HeldLeases::default();
        let first = r.hold(lease("j", 1), false);
        let _second = r.hold(lease("j", 7), false);
        // The first run's outcome settles only its own claim.
        r.finishing(&lease("j", 1));
        r.settle([&lease("j", 1)]);
        assert!(r.holds(&lease("j", 7)));
        assert!(!r.holds(&lease("j", 1)));
        assert_eq!(r.all(), vec![lease("j", 7)]);
        assert!(!first.load(Ordering::Relaxed));
    }

    #[test]
    fn losing_a_claim_tells_its_run_only() {
        let r = HeldLeases::default();
        let a = r.hold(lease("j", 1), false);
        let b = r.hold(lease("j", 2), false);
        assert_eq!(r.lose(&[lease("j", 1)]), 1);
        assert!(a.load(Ordering::Relaxed));
        assert!(!b.load(Ordering::Relaxed));
    }
}
